/**
 * `node dist/bench/state-store.js [--requests=10000] [--concurrency=50]`: what an
 * Idempotency-Key costs, by store. One daemon process with a memory-broker route, measured three
 * times in one run: no key, a key with the in-memory store, with the shared Redis store, and with
 * a JetStream KV bucket. Reports throughput and the daemon's CPU per request (and Redis's own CPU).
 * The KV buckets it creates (busgate_bench_*) are destroyed at the end.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { postKeyed, startBenchDaemon } from './lib/keyed-load.js';
import { cpuSeconds, installCleanup, killAll } from './lib/proc.js';

const arg = (name: string, fallback: number): number => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const REQUESTS = arg('requests', 10_000);
const CONCURRENCY = arg('concurrency', 50);
const ROUTES = 'routes:\n  - { name: jobs, path: /jobs, broker: memory, mode: pubsub, destination: jobs }\n';

function redisPid(): number | undefined {
  try {
    return Number(execFileSync('pidof', ['redis-server'], { encoding: 'utf8' }).trim().split(/\s+/)[0]);
  } catch {
    return undefined;
  }
}

async function measure(label: string, config: string, keyed: boolean): Promise<string> {
  const run = randomUUID().slice(0, 8);
  const daemon = await startBenchDaemon(config.replace('{run}', run), ROUTES);
  try {
    // Warm-up, so JIT and connection set-up are not measured.
    await postKeyed(daemon.port, { paths: ['/jobs'], requests: 2000, concurrency: CONCURRENCY, ...(keyed ? { keyPrefix: `warm-${run}` } : {}) });
    const redis = redisPid();
    const cpuBefore = cpuSeconds(daemon.child.pid!)!;
    const redisBefore = redis === undefined ? undefined : cpuSeconds(redis);
    const load = await postKeyed(daemon.port, {
      paths: ['/jobs'],
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      ...(keyed ? { keyPrefix: `bench-${run}` } : {}),
    });
    const cpuUs = ((cpuSeconds(daemon.child.pid!)! - cpuBefore) / REQUESTS) * 1e6;
    const redisUs = redis === undefined || redisBefore === undefined ? undefined : ((cpuSeconds(redis)! - redisBefore) / REQUESTS) * 1e6;
    const redisText = label.includes('redis') && redisUs !== undefined ? redisUs.toFixed(0) : '-';
    return `| ${label} | ${Math.round(REQUESTS / load.seconds)} | ${cpuUs.toFixed(0)} | ${redisText} | ${load.non2xx} |`;
  } finally {
    await daemon.stop();
  }
}

async function destroyBenchBuckets(): Promise<void> {
  const connection = await connect({ servers: 'nats://127.0.0.1:4222' }).catch(() => undefined);
  if (!connection) return;
  const kvm = new Kvm(connection);
  for await (const status of kvm.list()) {
    if (status.bucket.startsWith('busgate_bench_')) await (await kvm.open(status.bucket)).destroy().catch(() => undefined);
  }
  await connection.close();
}

installCleanup();
try {
  const rows = [
    await measure('no Idempotency-Key', '', false),
    await measure('key, in-memory store', '', true),
    await measure('key, redis store', 'idempotency:\n  store: "redis://127.0.0.1:6379"\nstateKeyPrefix: "busgate-bench-{run}:"\n', true),
    await measure('key, JetStream KV store', 'idempotency:\n  store: "nats://127.0.0.1:4222"\nstateKeyPrefix: "busgate_bench_{run}_"\n', true),
  ];
  console.log(
    `busgate idempotency store cost, ${new Date().toISOString()}, ${REQUESTS} POSTs at ${CONCURRENCY} connections, memory-broker pubsub route, ${process.arch} ${(await import('node:os')).cpus().length} cores`,
  );
  console.log('| case | req/s | daemon CPU µs/req | redis-server CPU µs/req | non-2xx |');
  console.log('|---|---|---|---|---|');
  for (const row of rows) console.log(row);
} finally {
  await destroyBenchBuckets();
  await killAll();
}
