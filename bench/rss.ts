/**
 * `node dist/bench/rss.js [--requests=40000] [--concurrency=200]`: the daemon's memory, to size
 * the Kubernetes requests and limits (deploy/kubernetes/). One daemon process with routes on all
 * four broker instances (NATS, Kafka, RabbitMQ connected; memory), measured:
 *   idle      after start-up, every broker connected;
 *   loaded    peak (VmHWM) and RSS after N requests with unique Idempotency-Keys at C connections,
 *             once with the shared Redis store, once with the in-memory store (which then holds
 *             N receipts, up to idempotency.maxBytes).
 * Needs the local brokers and Redis (bash scripts/brokers.sh start).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import amqplib from 'amqplib';
import { collectOutput, freePort, installCleanup, killAll, memoryStatus, sleep, spawnTracked, stopProcess, waitUntil } from './lib/proc.js';

const CLI = fileURLToPath(new URL('../core/cli.js', import.meta.url));
const arg = (name: string, fallback: number): number => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const REQUESTS = arg('requests', 40_000);
const CONCURRENCY = arg('concurrency', 200);

interface Measured {
  readonly store: string;
  readonly idleRssMb: number;
  readonly peakRssMb: number;
  readonly afterRssMb: number;
  readonly requests: number;
  readonly non2xx: number;
  readonly seconds: number;
}

async function measure(store: 'redis' | 'memory'): Promise<Measured> {
  const run = randomUUID().slice(0, 8);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-rss-'));
  const port = await freePort();
  const routes = [
    'routes:',
    `  - { name: nats, path: /nats, broker: nats, mode: pubsub, destination: "rss.${run}" }`,
    `  - { name: kafka, path: /kafka, broker: kafka, mode: pubsub, destination: "rss-${run}" }`,
    `  - { name: rabbitmq, path: /rabbitmq, broker: rabbitmq, mode: point-to-point, destination: "rss-${run}" }`,
    `  - { name: memory, path: /memory, broker: memory, mode: pubsub, destination: "rss" }`,
    '',
  ].join('\n');
  const config = [
    `port: ${port}`,
    'host: 127.0.0.1',
    `routesFile: ${path.join(dir, 'routes.yaml')}`,
    'logLevel: warn',
    'logFormat: json',
    ...(store === 'redis' ? ['idempotency:', '  store: "redis://127.0.0.1:6379"', `stateKeyPrefix: "busgate-rss-${run}:"`] : []),
    'brokers:',
    '  kafka: { plugin: kafka, options: { createTopics: true } }',
    '  rabbitmq: { plugin: rabbitmq, options: { declare: true } }',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'routes.yaml'), routes);
  fs.writeFileSync(path.join(dir, 'busgate.yaml'), config);
  const child = spawnTracked(process.execPath, [CLI, 'start', '--config', path.join(dir, 'busgate.yaml')], { cwd: dir, env: { PATH: process.env.PATH ?? '' } });
  const output = collectOutput(child);
  try {
    await waitUntil(async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200;
      } catch {
        return false;
      }
    }, 60_000, 'the daemon to be ready', child);
    await sleep(2000);
    const idle = memoryStatus(child.pid!)!;
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const paths = ['/nats', '/kafka', '/rabbitmq', '/memory'];
    let next = 0;
    let non2xx = 0;
    const started = Date.now();
    const worker = async (): Promise<void> => {
      while (next < REQUESTS) {
        const seq = next++;
        const status = await new Promise<number>((resolve) => {
          const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: paths[seq % paths.length], agent, headers: { 'content-type': 'application/json', 'idempotency-key': `rss-${run}-${seq}` } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', () => resolve(0));
          req.end(JSON.stringify({ seq, pad: 'x'.repeat(200) }));
        });
        if (status < 200 || status >= 300) non2xx += 1;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (Date.now() - started) / 1000;
    agent.destroy();
    await sleep(2000);
    const after = memoryStatus(child.pid!)!;
    return { store, idleRssMb: round(idle.rssMb), peakRssMb: round(after.hwmMb), afterRssMb: round(after.rssMb), requests: REQUESTS, non2xx, seconds: round(seconds) };
  } catch (error) {
    throw new Error(`${String(error)}\n${output.stdout().slice(-2000)}${output.stderr().slice(-2000)}`);
  } finally {
    await stopProcess(child);
    fs.rmSync(dir, { recursive: true, force: true });
    await deleteQueue(`rss-${run}`);
  }
}

async function deleteQueue(queue: string): Promise<void> {
  const connection = await amqplib.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
  const channel = await connection.createChannel();
  await channel.deleteQueue(queue).catch(() => undefined);
  await connection.close();
}

const round = (value: number): number => Math.round(value * 10) / 10;

installCleanup();
try {
  const results = [await measure('redis'), await measure('memory')];
  console.log(`busgate RSS, ${new Date().toISOString()}, ${REQUESTS} requests with unique Idempotency-Keys at ${CONCURRENCY} connections, routes on NATS, Kafka, RabbitMQ and memory`);
  console.log('| idempotency store | idle RSS MB | peak RSS MB | RSS after MB | non-2xx | seconds |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.store} | ${r.idleRssMb} | ${r.peakRssMb} | ${r.afterRssMb} | ${r.non2xx} | ${r.seconds} |`);
} finally {
  await killAll();
}
