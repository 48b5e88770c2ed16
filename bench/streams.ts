/**
 * Stream fan-out: `node dist/bench/streams.js [--quick] [--only=memory,nats,kafka]` (also a step
 * of `npm run bench`, unless `--skip-streams`).
 *
 * Per broker, one daemon in this process, on the same machine and broker:
 *   consumer alone   M messages published through the broker instance, read by one plain
 *                    subscribe() of the plugin counting them: what the broker and its client deliver
 *   fan-out          the same M messages with 1, 100 and 1000 SSE clients connected (each its own
 *                    subscription, as the daemon serves them), read by a child process that counts
 *                    `event: message` per connection; the clock stops when every client has all M
 * Reported: messages per second each client receives (M / time), events per second written
 * (clients x M / time), the ratio to the consumer alone, the daemon's heap + external memory
 * growth per connected client (before the clients connect vs all connected, after a GC), and disconnects (slow_client)
 * from busgate_stream_disconnects_total. Writes bench/results/streams-latest.md.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BrokerInstanceConfig } from '../core/config.js';
import { startDaemon, type Daemon } from '../core/daemon.js';
import { createLogger } from '../core/observability/logger.js';
import { daemonConfig, until } from './egress.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repo = path.resolve(here, '..', '..');
const BODY = Buffer.from(JSON.stringify({ order: 1, note: 'stream bench message, about a hundred bytes of JSON payload.........' }));
const PUBLISHERS = 16;

interface BrokerSetup {
  readonly name: 'memory' | 'nats' | 'kafka';
  readonly instance: BrokerInstanceConfig;
  /** Client counts measured: a Kafka stream client is a consumer-group member of its own. */
  readonly clients: readonly number[];
}

const BROKERS: readonly BrokerSetup[] = [
  { name: 'memory', instance: { plugin: 'memory', options: {} }, clients: [1, 100, 1000] },
  { name: 'nats', instance: { plugin: 'nats', options: { url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' } }, clients: [1, 100, 1000] },
  {
    name: 'kafka',
    instance: { plugin: 'kafka', options: { brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), createTopics: true } },
    clients: [1, 100],
  },
];

export interface StreamBenchRow {
  readonly broker: string;
  readonly clients: number;
  readonly messages: number;
  /** Messages per second each client received. */
  readonly perClientPerSecond: number;
  readonly eventsPerSecond: number;
  readonly consumerAlonePerSecond: number;
  readonly ratio: number;
  /** Heap + external memory growth of the daemon per connected client, in KiB. */
  readonly kibPerClient: number;
  readonly slowClientDisconnects: number;
}

/** Publishes `count` messages to the source through the daemon's broker instance. */
async function publish(daemon: Daemon, broker: string, source: string, count: number): Promise<void> {
  const instance = daemon.brokers.get(broker)!;
  let next = 0;
  await Promise.all(
    Array.from({ length: PUBLISHERS }, async () => {
      while (next < count) {
        const n = next++;
        await instance.send({
          mode: 'pubsub',
          destination: source,
          message: { id: `${source}-${n}`, payload: BODY, headers: {}, contentType: 'application/json' },
          timeoutMs: 10_000,
          options: {},
        });
      }
    }),
  );
}

async function consumerAlone(daemon: Daemon, broker: string, source: string, count: number): Promise<number> {
  let received = 0;
  const subscription = await daemon.brokers.get(broker)!.subscribe(source, { mode: 'pubsub' }, () => {
    received += 1;
    return Promise.resolve();
  });
  try {
    const t0 = performance.now();
    await publish(daemon, broker, source, count);
    await until(() => received >= count, 300_000, `${count} messages to the consumer alone`);
    return count / ((performance.now() - t0) / 1000);
  } finally {
    await subscription.close();
  }
}

/** The client side, in a child process: `node streams.js --clients URL N M`. */
function runClients(url: string, clients: number, messages: number): void {
  const counts = new Array<number>(clients).fill(0);
  let open = 0;
  let done = 0;
  const marker = 'event: message\n';
  for (let i = 0; i < clients; i += 1) {
    const request = http.get(url, { headers: { accept: 'text/event-stream' }, agent: false }, (res) => {
      let tail = '';
      let opened = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const text = tail + chunk;
        if (!opened && text.includes('event: open\n')) {
          opened = true;
          if (++open === clients) process.stdout.write('READY\n');
        }
        for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + marker.length)) counts[i]! += 1;
        // Keep enough to find a marker cut in two, but never count one twice.
        tail = text.slice(-(marker.length - 1));
        if (tail.includes(marker)) tail = '';
        if (counts[i] === messages) {
          if (++done === clients) process.stdout.write('DONE\n');
        }
      });
      res.on('end', () => process.stdout.write(`ENDED ${i}\n`));
    });
    request.on('error', (error) => process.stdout.write(`ERROR ${error.message}\n`));
  }
}

function startClients(url: string, clients: number, messages: number): { ready: Promise<void>; done: Promise<void>; stop: () => void } {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--clients', url, String(clients), String(messages)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const waitFor = (line: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (output.includes(`${line}\n`)) resolve();
      };
      child.stdout.on('data', check);
      child.once('exit', (code) => reject(new Error(`stream bench clients exited (${code}) before ${line}: ${output.slice(-300)}`)));
      check();
    });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (output += chunk));
  return { ready: waitFor('READY'), done: waitFor('DONE'), stop: () => child.kill('SIGKILL') };
}

async function metricSum(daemon: Daemon, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = daemon.metrics.registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  return (await metric.get()).values
    .filter((value) => Object.entries(labels).every(([k, v]) => value.labels[k] === v))
    .reduce((sum, { value }) => sum + value, 0);
}

/**
 * What the process holds in JS heap and buffers, after a GC when the bench runs with --expose-gc.
 * RSS is no measure here: freed heap is not given back to the OS in step, so RSS deltas are noise.
 */
function heapAfterGc(): number {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

async function benchBroker(setup: BrokerSetup, messages: number, dir: string): Promise<StreamBenchRow[]> {
  const run = Date.now().toString(36);
  const sep = setup.name === 'kafka' ? '-' : '.';
  const source = `benchstreams${sep}${run}`;
  const routes = `routes:\n  - path: /pub\n    broker: ${setup.name}\n    mode: pubsub\n    destination: "${source}"\nstreams:\n  - path: /watch\n    broker: ${setup.name}\n    source: "${source}"\n`;
  const config = {
    ...daemonConfig(dir, routes, { [setup.name]: setup.instance }),
    streams: { maxStreams: 5000, maxStreamsPerClient: 5000, heartbeatMs: 15_000, maxBufferedBytes: 1024 * 1024 },
  };
  const logger = createLogger({ level: 'error', format: 'json', silent: true });
  const daemon = await startDaemon(config, { logger, defaultMetrics: false, connectWaitMs: 10_000 });
  const rows: StreamBenchRow[] = [];
  try {
    // Kafka creates the topic on first publish; do that before anyone reads it.
    await publish(daemon, setup.name, source, 1);
    const alone = await consumerAlone(daemon, setup.name, source, messages);
    for (const clients of setup.clients) {
      const before = heapAfterGc();
      const slowBefore = await metricSum(daemon, 'busgate_stream_disconnects_total', { reason: 'slow_client' });
      const side = startClients(`http://127.0.0.1:${daemon.port}/watch`, clients, messages);
      try {
        await side.ready;
        await until(() => daemon.streams.openStreams === clients, 120_000, `${clients} streams open`);
        const kibPerClient = (heapAfterGc() - before) / 1024 / clients;
        const t0 = performance.now();
        await publish(daemon, setup.name, source, messages);
        await Promise.race([side.done, until(() => daemon.streams.openStreams < clients, 600_000, 'never')]);
        const seconds = (performance.now() - t0) / 1000;
        const slowClientDisconnects = (await metricSum(daemon, 'busgate_stream_disconnects_total', { reason: 'slow_client' })) - slowBefore;
        const perClientPerSecond = messages / seconds;
        rows.push({
          broker: setup.name,
          clients,
          messages,
          perClientPerSecond,
          eventsPerSecond: perClientPerSecond * clients,
          consumerAlonePerSecond: alone,
          ratio: perClientPerSecond / alone,
          kibPerClient,
          slowClientDisconnects,
        });
        console.log(
          `streams ${setup.name} x${clients}: ${Math.round(perClientPerSecond)} msg/s per client, ${Math.round(perClientPerSecond * clients)} events/s, consumer alone ${Math.round(alone)} msg/s, ${kibPerClient.toFixed(1)} KiB/client, ${slowClientDisconnects} slow-client disconnects`,
        );
      } finally {
        side.stop();
        await until(() => daemon.streams.openStreams === 0, 120_000, 'every stream closed');
      }
    }
    return rows;
  } finally {
    await daemon.shutdown('bench done');
  }
}

export function streamsMarkdown(rows: readonly StreamBenchRow[], when: Date): string {
  return [
    `#### Streams: SSE fan-out, ${when.toISOString()}`,
    '',
    `Per broker: M messages (${BODY.length}-byte JSON) published through the daemon's broker instance by ${PUBLISHERS} concurrent callers, read by one plain subscriber of the plugin ("consumer alone"), then the same with N SSE clients connected (a child process reading them); same process, broker and machine (${os.availableParallelism()} CPUs, shared). KiB/client is the daemon's JS heap + external memory growth per connected client, after a GC (socket buffers in the kernel are not counted; not shown for one client, where one-time allocations swamp it).`,
    '',
    '| broker | clients | messages | msg/s per client | events/s written | consumer alone (msg/s) | per client / alone | KiB per client | slow-client disconnects |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...rows.map(
      (row) =>
        `| ${row.broker} | ${row.clients} | ${row.messages} | ${Math.round(row.perClientPerSecond)} | ${Math.round(row.eventsPerSecond)} | ${Math.round(row.consumerAlonePerSecond)} | ${row.ratio.toFixed(2)} | ${row.clients >= 100 ? row.kibPerClient.toFixed(1) : '–'} | ${row.slowClientDisconnects} |`,
    ),
    '',
  ].join('\n');
}

export async function runStreamsBench(options: { quick: boolean; only?: readonly string[] }): Promise<StreamBenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-streams-bench-'));
  const messages = options.quick ? 200 : 2000;
  const rows: StreamBenchRow[] = [];
  try {
    for (const setup of BROKERS.filter((b) => !options.only || options.only.some((name) => name.split('/')[0] === b.name))) {
      try {
        rows.push(...(await benchBroker(setup, messages, dir)));
      } catch (error) {
        console.error(`streams ${setup.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    fs.mkdirSync(path.join(repo, 'bench', 'results'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'bench', 'results', 'streams-latest.md'), streamsMarkdown(rows, new Date()));
    return rows;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--clients') {
    runClients(argv[1]!, Number(argv[2]), Number(argv[3]));
  } else {
    const only = argv
      .find((a) => a.startsWith('--only='))
      ?.slice('--only='.length)
      .split(',')
      .filter(Boolean);
    runStreamsBench({ quick: argv.includes('--quick'), ...(only ? { only } : {}) }).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  }
}
