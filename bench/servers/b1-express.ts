/**
 * B1: bare express, the same version and the same body reading as core/http/app.ts
 * (express.raw, any content type, size-capped), a path with one parameter like the bench routes;
 * answers 202 with a small JSON receipt through res.json, as the router does.
 *   node dist/bench/servers/b1-express.js PORT
 */
import express from 'express';

const port = Number(process.argv[2] ?? 0);
const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.set('query parser', 'simple');
const readBody = express.raw({ type: () => true, limit: '1mb' });
app.post('/bench/:kind/:topic', readBody, (req, res) => {
  res.status(202).json({ id: 'b1', topic: req.params.topic, bytes: Buffer.isBuffer(req.body) ? req.body.length : 0 });
});
const server = app.listen(port, '127.0.0.1', () => console.log(`READY ${(server.address() as { port: number }).port}`));
server.keepAliveTimeout = 5_000;
process.on('SIGTERM', () => process.exit(0));
