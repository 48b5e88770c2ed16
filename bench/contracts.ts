/**
 * `npm run bench:contracts -- [--seconds=4] [--brokers=memory,nats,kafka,rabbitmq,mqtt]`
 *
 * Short bench cases for the contract features, in one run against a daemon in its own process:
 *   - schema cost: the same route with and without a realistic 20-field JSON Schema (A/B/A/B, so
 *     drift does not decide the ratio), plus the bare validation cost per body in-process;
 *   - batch sizes: messages per second with single requests against NDJSON batches of 1, 10, 100.
 * Writes bench/results/contracts-latest.md. Closed loop, 16 keep-alive connections, 127.0.0.1.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { compileBodySchema, type BodySchema } from '../core/contracts/body-schema.js';
import { closedLoop, type Slot } from './lib/loadgen.js';
import { freePort, tcpReachable } from '../test/support/net.js';
import { installCleanup, spawnTracked, stopProcess, waitUntil } from './lib/proc.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repo = path.resolve(here, '..', '..');
const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
const seconds = Number(args.get('seconds') ?? 4);
const CONNECTIONS = 16;
const orderSchemaFile = path.join(repo, 'test/fixtures/schemas/order.json');

const ORDER = JSON.stringify({
  orderId: 'ord_abc123',
  customerId: 'c-1',
  email: 'ann@example.com',
  currency: 'EUR',
  total: 99.5,
  tax: 15.9,
  discount: 0,
  status: 'new',
  createdAt: '2026-11-30T12:00:00Z',
  channel: 'web',
  notes: 'leave at the door',
  giftWrap: false,
  priority: 3,
  couponCode: null,
  loyaltyPoints: 120,
  tags: ['tea', 'gift'],
  shippingMethod: 'express',
  billingAddress: { line1: '1 Main St', city: 'Bern', country: 'CH' },
  shippingAddress: { line1: '1 Main St', city: 'Bern', country: 'CH' },
  items: [
    { sku: 'tea', qty: 2, price: 6.25 },
    { sku: 'cup', qty: 1, price: 12 },
  ],
});

const BROKERS: Record<string, { config: Record<string, unknown>; port?: number; destination: string; mode: string; options?: string }> = {
  memory: { config: { plugin: 'memory', options: {} }, destination: 'bench.contracts', mode: 'pubsub' },
  nats: {
    config: { plugin: 'nats', options: { url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' } },
    port: 4222,
    destination: 'bench.contracts',
    mode: 'pubsub',
  },
  kafka: {
    config: { plugin: 'kafka', options: { brokers: ['127.0.0.1:9092'], createTopics: true } },
    port: 9092,
    destination: 'bench-contracts',
    mode: 'pubsub',
  },
  mqtt: {
    config: { plugin: 'busgate-plugin-mqtt', options: { url: process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883' } },
    port: 1883,
    destination: 'bench/contracts',
    mode: 'pubsub',
  },
  rabbitmq: {
    config: { plugin: 'rabbitmq', options: { url: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672', declare: true } },
    port: 5672,
    destination: 'bench-contracts',
    mode: 'point-to-point',
  },
};

function slots(port: number, pathname: string, body: string, contentType: string): Slot[] {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const payload = Buffer.from(body);
  return Array.from({ length: CONNECTIONS }, () => ({
    send(done: (ok: boolean) => void) {
      const req = http.request(
        { host: '127.0.0.1', port, path: pathname, method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': payload.length } },
        (res) => {
          res.resume();
          res.once('end', () => done(res.statusCode === 202));
        },
      );
      req.once('error', () => done(false));
      req.end(payload);
    },
  }));
}

async function main(): Promise<void> {
  installCleanup();
  const wanted = (args.get('brokers') ?? 'memory').split(',');
  const available: string[] = [];
  for (const name of wanted) {
    const broker = BROKERS[name];
    if (!broker) throw new Error(`unknown broker ${name}`);
    if (broker.port === undefined || (await tcpReachable('127.0.0.1', broker.port))) available.push(name);
    else console.log(`${name}: not reachable, skipped`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-bench-contracts-'));
  const routes = ['routes:'];
  const brokers: Record<string, unknown> = {};
  for (const name of available) {
    const broker = BROKERS[name]!;
    brokers[name] = broker.config;
    const base = `    broker: ${name}\n    mode: ${broker.mode}\n    destination: ${broker.destination}`;
    routes.push(`  - { name: ${name}-single, path: /${name}/single, broker: ${name}, mode: ${broker.mode}, destination: ${broker.destination} }`);
    routes.push(`  - name: ${name}-batch\n    path: /${name}/batch\n${base}\n    batch: { maxEntries: 1000 }`);
  }
  routes.push(`  - { name: plain, path: /plain, broker: memory, mode: pubsub, destination: bench.schema }`);
  routes.push(`  - { name: schema, path: /schema, broker: memory, mode: pubsub, destination: bench.schema, schema: ${orderSchemaFile} }`);
  brokers.memory ??= BROKERS.memory!.config;
  fs.writeFileSync(path.join(dir, 'routes.yaml'), `${routes.join('\n')}\n`);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ brokers }));
  const port = await freePort();
  const daemon = spawnTracked(process.execPath, [path.join(repo, 'dist/core/cli.js'), 'start', '--config', path.join(dir, 'config.json')], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ROUTES_FILE: path.join(dir, 'routes.yaml'),
      WORKERS: '1',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      NODE_ENV: 'production',
    },
  });
  await waitUntil(
    async () => {
      const response = await fetch(`http://127.0.0.1:${port}/ready`).catch(() => undefined);
      await response?.arrayBuffer();
      return response?.status === 200;
    },
    60_000,
    'daemon ready',
    daemon,
  );
  const lines: string[] = [
    `# busgate contract bench, ${new Date().toISOString()}`,
    '',
    `Closed loop, ${CONNECTIONS} keep-alive connections, ${seconds} s per case after a 1 s warm-up, daemon in its own process, ${os.cpus().length} CPUs shared with the load generator.`,
    '',
  ];
  const run = async (pathname: string, body: string, contentType: string): Promise<number> => {
    await closedLoop(slots(port, pathname, body, contentType), 1000);
    const result = await closedLoop(slots(port, pathname, body, contentType), seconds * 1000);
    if (result.failed > 0) console.log(`  ${pathname}: ${result.failed} failed requests`);
    return Math.round((result.ok / result.durationMs) * 1000);
  };

  // Schema cost.
  const plain: number[] = [];
  const checked: number[] = [];
  // Both routes warm (JIT, sockets) before anything counts; then alternate, three rounds each.
  await run('/plain', ORDER, 'application/json');
  await run('/schema', ORDER, 'application/json');
  for (let round = 0; round < 3; round++) {
    plain.push(await run('/plain', ORDER, 'application/json'));
    checked.push(await run('/schema', ORDER, 'application/json'));
  }
  const mean = (values: number[]): number => Math.round(values.reduce((a, b) => a + b, 0) / values.length);
  const schema = compileBodySchema('bench', JSON.parse(fs.readFileSync(orderSchemaFile, 'utf8'))) as BodySchema;
  const iterations = 100_000;
  const started = performance.now();
  for (let i = 0; i < iterations; i++) schema.check(JSON.parse(ORDER));
  const microseconds = ((performance.now() - started) * 1000) / iterations;
  lines.push('## Schema cost (memory broker, ' + Buffer.byteLength(ORDER) + '-byte order, 20-field schema)', '', '| route | requests/s |', '|---|---|');
  lines.push(
    `| without schema | ${mean(plain)} (rounds: ${plain.join(', ')}) |`,
    `| with schema | ${mean(checked)} (rounds: ${checked.join(', ')}) |`,
    `| ratio | ${(mean(checked) / mean(plain)).toFixed(3)} |`,
    '',
  );
  lines.push(`JSON.parse + validation in-process: ${microseconds.toFixed(2)} µs per body (${iterations} bodies).`, '');

  // Batch sizes.
  lines.push('## Batch publish: messages per second', '', '| broker | single requests | batch of 1 | batch of 10 | batch of 100 |', '|---|---|---|---|---|');
  const message = JSON.stringify({ n: 1, text: 'x'.repeat(200) });
  for (const name of available) {
    const single = await run(`/${name}/single`, message, 'application/json');
    const batches: number[] = [];
    for (const size of [1, 10, 100]) {
      const body = `${Array.from({ length: size }, () => message).join('\n')}\n`;
      batches.push((await run(`/${name}/batch`, body, 'application/x-ndjson')) * size);
    }
    lines.push(`| ${name} (${BROKERS[name]!.mode}) | ${single} | ${batches.join(' | ')} |`);
  }
  await stopProcess(daemon);
  const text = `${lines.join('\n')}\n`;
  fs.mkdirSync(path.join(repo, 'bench/results'), { recursive: true });
  fs.writeFileSync(path.join(repo, 'bench/results/contracts-latest.md'), text);
  console.log(text);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
