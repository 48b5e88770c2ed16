/**
 * Egress throughput: `node dist/bench/egress.js [--quick] [--only=nats,kafka]` (also the last step
 * of `npm run bench`, unless `--skip-egress`).
 *
 * Per broker, in one run and one process, on the same machine and broker:
 *   consumer alone   N messages preloaded into a point-to-point source, drained by the plugin's
 *                    own subscribe() with a handler that acknowledges at once (group consumer,
 *                    maxInFlight = CONCURRENCY): what the broker and its client deliver
 *   egress           N more preloaded into another source, drained by a busgate subscription
 *                    (concurrency CONCURRENCY) POSTing each to a local webhook receiver (204)
 * Reported: messages per second of each and their ratio (egress / consumer alone). Both sides
 * wait for the last message; the clock starts when the consumer is live. Writes
 * bench/results/egress-latest.md.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig, type BrokerInstanceConfig, type DaemonConfig } from '../core/config.js';
import { startDaemon, type Daemon } from '../core/daemon.js';
import { createLogger } from '../core/observability/logger.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repo = path.resolve(here, '..', '..');
export const CONCURRENCY = 64;
const BODY = Buffer.from(JSON.stringify({ order: 1, note: 'egress bench message, about a hundred bytes of JSON payload.....' }));

export interface BrokerSetup {
  readonly name: 'memory' | 'nats' | 'rabbitmq' | 'kafka';
  readonly instance: BrokerInstanceConfig;
}

export const BROKERS: readonly BrokerSetup[] = [
  { name: 'memory', instance: { plugin: 'memory', options: { queueLimit: 1_000_000 } } },
  { name: 'nats', instance: { plugin: 'nats', options: { url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' } } },
  {
    name: 'rabbitmq',
    instance: { plugin: 'rabbitmq', options: { url: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672', declare: true, prefetch: CONCURRENCY } },
  },
  { name: 'kafka', instance: { plugin: 'kafka', options: { brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), createTopics: true } } },
];

export interface EgressBenchRow {
  readonly broker: string;
  readonly messages: number;
  readonly consumerAlonePerSecond: number;
  readonly egressPerSecond: number;
  readonly ratio: number;
}

export function daemonConfig(dir: string, routes: string, brokers: Record<string, BrokerInstanceConfig>): DaemonConfig {
  const routesFile = path.join(dir, `routes-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(routesFile, routes);
  // The schema's defaults (no environment, no config files in the temp folder), then the bench's.
  return {
    ...loadConfig({ env: {}, args: [], cwd: dir }),
    port: 0,
    host: '127.0.0.1',
    routesFile,
    logLevel: 'error',
    maxInFlightPerBroker: 10_000,
    brokers,
    configDir: dir,
  };
}

export async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`egress bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Puts `count` messages on a point-to-point source through the daemon's broker instance. */
export async function preload(daemon: Daemon, broker: string, source: string, count: number): Promise<void> {
  const instance = daemon.brokers.get(broker)!;
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) {
        const n = next++;
        await instance.send({
          mode: 'point-to-point',
          destination: source,
          message: { id: `${source}-${n}`, payload: BODY, headers: {}, contentType: 'application/json' },
          timeoutMs: 10_000,
          options: {},
        });
      }
    }),
  );
}

/**
 * Consumer alone: `count` messages preloaded into `source`, drained by the plugin's own consumer
 * acknowledging each at once (maxInFlight CONCURRENCY). Returns the seconds the drain took.
 */
export async function consumeAlone(daemon: Daemon, setup: BrokerSetup, source: string, count: number, group: string): Promise<number> {
  await preload(daemon, setup.name, source, count);
  let drained = 0;
  const t0 = performance.now();
  const subscription = await daemon.brokers
    .get(setup.name)!
    .subscribe(source, { mode: 'point-to-point', maxInFlight: CONCURRENCY, ...(setup.name === 'memory' ? {} : { group }) }, () => {
      drained += 1;
      return Promise.resolve();
    });
  await until(() => drained >= count, 300_000, `${count} messages drained from ${source}`);
  const seconds = (performance.now() - t0) / 1000;
  await subscription.close();
  return seconds;
}

async function benchBroker(setup: BrokerSetup, count: number, dir: string): Promise<EgressBenchRow> {
  const run = Date.now().toString(36);
  const sep = setup.name === 'nats' || setup.name === 'memory' ? '.' : '-';
  const alone = `benchegress${sep}alone${sep}${run}`;
  const egress = `benchegress${sep}hooks${sep}${run}`;
  const deadLetter = `benchegress${sep}dlq${sep}${run}`;
  let received = 0;
  const receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received += 1;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  const logger = createLogger({ level: 'error', format: 'json', silent: true });
  // Routes name the broker, so the daemon loads and connects it (only used brokers are), and both
  // sources, so that RabbitMQ's `declare: true` creates their queues before the preload.
  const routes =
    `routes:\n  - path: /preload\n    broker: ${setup.name}\n    mode: point-to-point\n    destination: "${alone}"\n` +
    `  - path: /preload-hooks\n    broker: ${setup.name}\n    mode: point-to-point\n    destination: "${egress}"\n`;
  const config = daemonConfig(dir, routes, { [setup.name]: setup.instance });
  const daemon = await startDaemon(config, { logger, defaultMetrics: false, connectWaitMs: 10_000 });
  try {
    const aloneSeconds = await consumeAlone(daemon, setup, alone, count, `bench-alone-${run}`);

    // Egress: a subscription (added by a reload, as an operator would) POSTing each to the receiver.
    await preload(daemon, setup.name, egress, count);
    fs.writeFileSync(
      config.routesFile,
      `${routes}subscriptions:\n  - name: bench\n    broker: ${setup.name}\n    source: "${egress}"\n    mode: point-to-point\n` +
        `    deliver: { url: "${url}", concurrency: ${CONCURRENCY} }\n    deadLetter: "${deadLetter}"\n`,
    );
    const t1 = performance.now();
    const reloaded = await daemon.reload('bench adds the subscription');
    if (reloaded.outcome !== 'ok') throw new Error(`egress bench: reload refused: ${reloaded.problems.join('; ')}`);
    await until(() => received >= count, 300_000, `${count} webhooks from ${egress}`);
    const egressSeconds = (performance.now() - t1) / 1000;
    const consumerAlonePerSecond = count / aloneSeconds;
    const egressPerSecond = count / egressSeconds;
    return { broker: setup.name, messages: count, consumerAlonePerSecond, egressPerSecond, ratio: egressPerSecond / consumerAlonePerSecond };
  } finally {
    await daemon.shutdown('bench done');
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
}

export function egressMarkdown(rows: readonly EgressBenchRow[], when: Date): string {
  const lines = [
    `#### Egress: webhook deliveries per second, ${when.toISOString()}`,
    '',
    `Per broker: N messages preloaded into a point-to-point source, drained by the plugin's consumer acknowledging at once ("consumer alone"), then N more delivered by a busgate subscription to a local receiver answering 204 (concurrency ${CONCURRENCY}); same process, broker and machine (${os.availableParallelism()} CPUs, shared).`,
    '',
    '| broker | messages | consumer alone (msg/s) | egress (deliveries/s) | egress / consumer alone |',
    '|---|--:|--:|--:|--:|',
    ...rows.map(
      (row) => `| ${row.broker} | ${row.messages} | ${Math.round(row.consumerAlonePerSecond)} | ${Math.round(row.egressPerSecond)} | ${row.ratio.toFixed(2)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

export async function runEgressBench(options: { quick: boolean; only?: readonly string[] }): Promise<EgressBenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-egress-bench-'));
  const count = options.quick ? 2000 : 20_000;
  const rows: EgressBenchRow[] = [];
  try {
    for (const setup of BROKERS.filter((b) => !options.only || options.only.some((name) => name.split('/')[0] === b.name))) {
      try {
        const row = await benchBroker(setup, count, dir);
        rows.push(row);
        console.log(
          `egress ${row.broker}: consumer alone ${Math.round(row.consumerAlonePerSecond)} msg/s, egress ${Math.round(row.egressPerSecond)} deliveries/s (${row.ratio.toFixed(2)})`,
        );
      } catch (error) {
        console.error(`egress ${setup.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    const md = egressMarkdown(rows, new Date());
    fs.mkdirSync(path.join(repo, 'bench', 'results'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'bench', 'results', 'egress-latest.md'), md);
    return rows;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a per-broker bench when `url` is the script node was started with: `[--quick] [--only=a,b]`. */
export function runAsScript(url: string, bench: (options: { quick: boolean; only?: readonly string[] }) => Promise<unknown>): void {
  if (url !== pathToFileURL(process.argv[1] ?? '').href) return;
  const argv = process.argv.slice(2);
  const only = argv
    .find((a) => a.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',')
    .filter(Boolean);
  bench({ quick: argv.includes('--quick'), ...(only ? { only } : {}) }).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

runAsScript(import.meta.url, runEgressBench);
