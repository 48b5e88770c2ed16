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
import amqplib from 'amqplib';
import { postKeyed, startBenchDaemon } from './lib/keyed-load.js';
import { sleep } from '../test/support/net.js';
import { installCleanup, killAll, memoryStatus } from './lib/proc.js';

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
  const routes = [
    'routes:',
    `  - { name: nats, path: /nats, broker: nats, mode: pubsub, destination: "rss.${run}" }`,
    `  - { name: kafka, path: /kafka, broker: kafka, mode: pubsub, destination: "rss-${run}" }`,
    `  - { name: rabbitmq, path: /rabbitmq, broker: rabbitmq, mode: point-to-point, destination: "rss-${run}" }`,
    `  - { name: memory, path: /memory, broker: memory, mode: pubsub, destination: "rss" }`,
    '',
  ].join('\n');
  const config = [
    ...(store === 'redis' ? ['idempotency:', '  store: "redis://127.0.0.1:6379"', `stateKeyPrefix: "busgate-rss-${run}:"`] : []),
    'brokers:',
    '  kafka: { plugin: kafka, options: { createTopics: true } }',
    '  rabbitmq: { plugin: rabbitmq, options: { declare: true } }',
    '',
  ].join('\n');
  const daemon = await startBenchDaemon(config, routes);
  try {
    await sleep(2000);
    const idle = memoryStatus(daemon.child.pid!)!;
    const load = await postKeyed(daemon.port, {
      paths: ['/nats', '/kafka', '/rabbitmq', '/memory'],
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      keyPrefix: `rss-${run}`,
    });
    await sleep(2000);
    const after = memoryStatus(daemon.child.pid!)!;
    return {
      store,
      idleRssMb: round(idle.rssMb),
      peakRssMb: round(after.hwmMb),
      afterRssMb: round(after.rssMb),
      requests: REQUESTS,
      non2xx: load.non2xx,
      seconds: round(load.seconds),
    };
  } finally {
    await daemon.stop();
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
  console.log(
    `busgate RSS, ${new Date().toISOString()}, ${REQUESTS} requests with unique Idempotency-Keys at ${CONCURRENCY} connections, routes on NATS, Kafka, RabbitMQ and memory`,
  );
  console.log('| idempotency store | idle RSS MB | peak RSS MB | RSS after MB | non-2xx | seconds |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.store} | ${r.idleRssMb} | ${r.peakRssMb} | ${r.afterRssMb} | ${r.non2xx} | ${r.seconds} |`);
} finally {
  await killAll();
}
