/**
 * Pull API throughput: `node dist/bench/pulls.js [--quick] [--only=nats,kafka]` (`npm run bench:pulls`).
 *
 * Per broker, in one run and one process, on the same machine and broker:
 *   consumer alone   N messages preloaded into a point-to-point source, drained by the plugin's
 *                    own subscribe() acknowledging at once (maxInFlight 64), as in bench/egress.ts
 *   pull API         N more preloaded into another source, taken by WORKERS HTTP clients of one
 *                    daemon, each looping POST /pull?max=BATCH&wait=1s then POST /pull/ack of the
 *                    leases it got (pull path maxHeld 64)
 *   pull API, forwarded   the same with two daemons: each worker pulls from one and acks on the
 *                    other, so every ack is forwarded to the holder over the broker (request-reply)
 * Reported: messages per second of each and the ratios to the consumer alone. Writes
 * bench/results/pulls-latest.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startDaemon, type Daemon } from '../core/daemon.js';
import { createLogger } from '../core/observability/logger.js';
import { BROKERS, CONCURRENCY, consumeAlone, daemonConfig, preload, runAsScript, type BrokerSetup } from './egress.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repo = path.resolve(here, '..', '..');
const WORKERS = 8;
const BATCH = 16;

export interface PullBenchRow {
  readonly broker: string;
  readonly messages: number;
  readonly consumerAlonePerSecond: number;
  readonly pullPerSecond: number;
  readonly forwardedPerSecond: number;
}

/** WORKERS clients pull and ack until `count` messages are acked; `ackAt` picks where a worker acks. Returns seconds. */
async function pullAndAck(pullAt: readonly Daemon[], ackAt: readonly Daemon[], count: number): Promise<number> {
  let acked = 0;
  // Once the last message is acked, the pulls still waiting for more are cut short: their wait
  // would be counted as time the API took.
  const done = new AbortController();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, worker) => {
      const from = `http://127.0.0.1:${pullAt[worker % pullAt.length]!.port}/pull/bench`;
      const to = `http://127.0.0.1:${ackAt[worker % ackAt.length]!.port}/pull/bench/ack`;
      const deadline = Date.now() + 300_000;
      while (acked < count) {
        if (Date.now() > deadline) throw new Error(`pull bench: ${acked} of ${count} acked in time`);
        const res = await fetch(`${from}?max=${BATCH}&wait=1s`, { method: 'POST', signal: done.signal }).catch(() => undefined);
        if (res === undefined) break;
        const { messages } = (await res.json()) as { messages: { lease: string }[] };
        if (messages.length === 0) continue;
        const settled = await fetch(to, { method: 'POST', body: JSON.stringify({ leases: messages.map((m) => m.lease) }) });
        acked += ((await settled.json()) as { settled: number }).settled;
        if (acked >= count) done.abort();
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}

async function benchBroker(setup: BrokerSetup, count: number, dir: string): Promise<PullBenchRow> {
  const run = Date.now().toString(36);
  const sep = setup.name === 'nats' || setup.name === 'memory' ? '.' : '-';
  const name = (what: string): string => `benchpulls${sep}${what}${sep}${run}`;
  const [alone, pulled, forwarded] = [name('alone'), name('pull'), name('fwd')];
  const logger = createLogger({ level: 'error', format: 'json', silent: true });
  const group = setup.name === 'memory' ? '' : `    group: bench-pulls-${run}\n`;
  const routesFor = (source: string): string =>
    `routes:\n  - { path: /preload, broker: ${setup.name}, mode: point-to-point, destination: "${source}" }\n` +
    `  - { path: /alone, broker: ${setup.name}, mode: point-to-point, destination: "${alone}" }\n` +
    `pulls:\n  - path: /pull/bench\n    broker: ${setup.name}\n    source: "${source}"\n${group}    maxHeld: ${CONCURRENCY}\n`;
  const start = (source: string, instanceId: string): Promise<Daemon> =>
    startDaemon(
      { ...daemonConfig(dir, routesFor(source), { [setup.name]: setup.instance }), instanceId },
      { logger, defaultMetrics: false, connectWaitMs: 10_000 },
    );
  const daemons: Daemon[] = [];
  try {
    daemons.push(await start(pulled, `bench-a-${run}`));
    const aloneSeconds = await consumeAlone(daemons[0]!, setup, alone, count, `bench-alone-${run}`);
    await preload(daemons[0]!, setup.name, pulled, count);
    const pullSeconds = await pullAndAck(daemons, daemons, count);
    let forwardedSeconds = Number.NaN;
    // The memory broker lives inside one daemon: no second instance can share it.
    if (setup.name !== 'memory') {
      await Promise.all(daemons.splice(0).map((daemon) => daemon.shutdown('next case')));
      daemons.push(await start(forwarded, `bench-a-${run}`), await start(forwarded, `bench-b-${run}`));
      await preload(daemons[0]!, setup.name, forwarded, count);
      forwardedSeconds = await pullAndAck(daemons, [daemons[1]!, daemons[0]!], count);
    }
    return {
      broker: setup.name,
      messages: count,
      consumerAlonePerSecond: count / aloneSeconds,
      pullPerSecond: count / pullSeconds,
      forwardedPerSecond: count / forwardedSeconds,
    };
  } finally {
    await Promise.all(daemons.map((daemon) => daemon.shutdown('bench done')));
  }
}

const rate = (perSecond: number): string => (Number.isFinite(perSecond) ? String(Math.round(perSecond)) : '–');
const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '–');

export function pullsMarkdown(rows: readonly PullBenchRow[], when: Date): string {
  return [
    `#### Pull API: messages per second, ${when.toISOString()}`,
    '',
    `Per broker: N messages preloaded into a point-to-point source, drained by the plugin's consumer acknowledging at once ("consumer alone", maxInFlight ${CONCURRENCY}); N more taken by ${WORKERS} HTTP clients looping pull (max ${BATCH}, wait 1s) + ack on one daemon; N more with two daemons, each client pulling from one and acking on the other (every ack forwarded to the holder through the broker). Same process, broker and machine (${os.availableParallelism()} CPUs, shared).`,
    '',
    '| broker | messages | consumer alone (msg/s) | pull + ack (msg/s) | / alone | pull here, ack there (msg/s) | / alone |',
    '|---|--:|--:|--:|--:|--:|--:|',
    ...rows.map(
      (row) =>
        `| ${row.broker} | ${row.messages} | ${rate(row.consumerAlonePerSecond)} | ${rate(row.pullPerSecond)} | ${ratio(row.pullPerSecond, row.consumerAlonePerSecond)} | ${rate(row.forwardedPerSecond)} | ${ratio(row.forwardedPerSecond, row.consumerAlonePerSecond)} |`,
    ),
    '',
  ].join('\n');
}

export async function runPullBench(options: { quick: boolean; only?: readonly string[] }): Promise<PullBenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-pull-bench-'));
  const count = options.quick ? 2000 : 20_000;
  const rows: PullBenchRow[] = [];
  try {
    for (const setup of BROKERS.filter((b) => !options.only || options.only.includes(b.name))) {
      try {
        const row = await benchBroker(setup, count, dir);
        rows.push(row);
        console.log(
          `pulls ${row.broker}: consumer alone ${rate(row.consumerAlonePerSecond)} msg/s, pull+ack ${rate(row.pullPerSecond)} msg/s, forwarded ${rate(row.forwardedPerSecond)} msg/s`,
        );
      } catch (error) {
        console.error(`pulls ${setup.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    fs.mkdirSync(path.join(repo, 'bench', 'results'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'bench', 'results', 'pulls-latest.md'), pullsMarkdown(rows, new Date()));
    return rows;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runAsScript(import.meta.url, runPullBench);
