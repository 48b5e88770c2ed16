/**
 * B0: bare node:http. Reads the whole body, then answers 202 with a small JSON receipt.
 *   node dist/bench/servers/b0-node.js PORT [SPIN_US]
 *
 * SPIN_US (default 0) busy-waits that many microseconds per request before answering: B0 doing as
 * much extra CPU work per request as busgate does shows what that work alone costs in throughput
 * on this machine (see the README's "Where each microsecond goes").
 */
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);
const spinNs = BigInt(Math.round(Number(process.argv[3] ?? 0) * 1000));

function spin(): void {
  const until = process.hrtime.bigint() + spinNs;
  while (process.hrtime.bigint() < until);
}

const server = http.createServer((req, res) => {
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  req.on('end', () => {
    if (spinNs > 0n) spin();
    const body = `{"id":"b0","bytes":${bytes}}`;
    res.writeHead(202, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 5_000;
server.listen(port, '127.0.0.1', () => console.log(`READY ${(server.address() as { port: number }).port}`));
process.on('SIGTERM', () => process.exit(0));
