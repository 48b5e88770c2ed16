/**
 * B0: bare node:http. Reads the whole body, then answers 202 with a small JSON receipt.
 *   node dist/bench/servers/b0-node.js PORT
 */
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);
const server = http.createServer((req, res) => {
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  req.on('end', () => {
    const body = `{"id":"b0","bytes":${bytes}}`;
    res.writeHead(202, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 5_000;
server.listen(port, '127.0.0.1', () => console.log(`READY ${(server.address() as { port: number }).port}`));
process.on('SIGTERM', () => process.exit(0));
