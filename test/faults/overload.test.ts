/**
 * Overload (issue item 8): many times the capacity of a daemon process (2000 concurrent clients
 * against a small in-flight bound, joining over 2 s) for a while (FAULTS_LONG: a minute). Each
 * criterion is its own test, on the figures of one load run per target:
 *   - every answer is 2xx, or 503 overloaded / 429 with Retry-After (no dropped connections);
 *   - an accepted request is answered within its route deadline + 1 s;
 *   - the daemon's RSS stays bounded;
 *   - once the load drops, accepted requests are fast again.
 */
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { expect } from 'chai';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { Ledger, type LedgerEntry } from './ledger.js';
import { sleep } from '../support/net.js';
import { LONG } from './support/scenario.js';
import { startProcessDaemon } from './support/process-daemon.js';
import { SuiteResults } from './support/results.js';
import { deleteStreamsHolding } from '../support/nats-streams.js';

const CLIENTS = 2000;
const LOAD_MS = LONG ? 60_000 : Number(process.env.FAULTS_OVERLOAD_MS ?? 10_000);
/** Clients join over this long, as real ones do: 2000 connects in the same millisecond overflow the listen backlog. */
const RAMP_MS = 2000;
const MAX_IN_FLIGHT = 32;
const ROUTE_TIMEOUT_MS = 5000;
/** The bound asserted on the daemon's resident memory while overloaded. */
const RSS_LIMIT_MIB = 400;
const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

interface Target {
  readonly broker: 'memory' | 'nats';
  readonly label: string;
  readonly config: string;
  destination(run: string): string;
  cleanup?(destination: string): Promise<void>;
}

const targets: Target[] = [
  {
    broker: 'memory',
    label: 'memory point-to-point (queueLimit 2000, no consumer)',
    config: `brokers:\n  target:\n    plugin: memory\n    options: { queueLimit: 2000 }\n`,
    destination: (run) => `overload.${run}`,
  },
  {
    broker: 'nats',
    label: `nats point-to-point (JetStream)`,
    config: `brokers:\n  target:\n    plugin: nats\n    options: { url: "${natsUrl}" }\n`,
    destination: (run) => `overload.jobs.${run}`,
    cleanup: (subject) => deleteStreamsHolding(natsUrl, [subject]),
  },
];

function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface LoadRun {
  readonly entries: LedgerEntry[];
  readonly after: LedgerEntry[];
  readonly idleRss: number;
  readonly peakRss: number;
  readonly crashed: boolean;
}

describe(`overload: ${CLIENTS} clients for ${LOAD_MS / 1000} s against a daemon process (maxInFlightPerBroker ${MAX_IN_FLIGHT})`, function () {
  this.timeout(LOAD_MS + 90_000);
  const results = new SuiteResults('overload');
  before(() => results.begin());
  after(() => results.write());

  for (const target of targets) {
    describe(target.label, () => {
      let run: LoadRun | undefined;

      before(async function () {
        if (target.broker !== 'memory') await requireBroker(this, target.broker, brokerEndpoints[target.broker]());
        const destination = target.destination(randomUUID().slice(0, 8));
        const daemon = await startProcessDaemon({
          config: `logLevel: error\nmaxInFlightPerBroker: ${MAX_IN_FLIGHT}\n${target.config}`,
          routes:
            `routes:\n  - name: load\n    path: /load\n    broker: target\n    mode: point-to-point\n    destination: "${destination}"\n    timeout: ${ROUTE_TIMEOUT_MS}ms\n` +
            `  - name: probe\n    path: /probe\n    broker: target\n    mode: pubsub\n    destination: "${destination}-probe"\n    timeout: ${ROUTE_TIMEOUT_MS}ms\n`,
        });
        try {
          const idleRss = daemon.rssMiB() ?? 0;
          const rss: number[] = [];
          let sampling = true;
          const sampler = (async () => {
            while (sampling) {
              const value = daemon.rssMiB();
              if (value !== undefined) rss.push(value);
              await sleep(250);
            }
          })();
          // The load generator's own event-loop delay, to tell its slowness from the daemon's.
          const clientLag = monitorEventLoopDelay({ resolution: 20 });
          clientLag.enable();
          const ledger = new Ledger({ baseUrl: daemon.url, path: '/load', clientTimeoutMs: 30_000 });
          const loadStarted = Date.now();
          const stream = ledger.stream(CLIENTS, 0, { rampMs: RAMP_MS, raw: true });
          await sleep(LOAD_MS);
          await stream.stop();
          const loadEnded = Date.now();
          clientLag.disable();

          // After the load: sequential probes on another route of the same broker.
          const probe = new Ledger({ baseUrl: daemon.url, path: '/probe' });
          await sleep(500);
          for (let i = 0; i < 50; i++) await probe.send();
          sampling = false;
          await sampler;

          const entries = ledger.entries;
          run = { entries, after: probe.entries, idleRss, peakRss: Math.max(idleRss, ...rss), crashed: daemon.child.exitCode !== null };
          const answers = countBy(entries.map((e) => (e.status >= 200 && e.status < 300 ? String(e.status) : `${e.status} ${e.code}`)));
          const accepted = entries.filter((e) => e.status >= 200 && e.status < 300);
          const shed = entries.filter((e) => e.status === 503 || e.status === 429);
          const dropped = entries.filter((e) => e.status === 0);
          const loadP50 = percentile(
            accepted.map((e) => e.latencyMs),
            50,
          );
          const loadP99 = percentile(
            accepted.map((e) => e.latencyMs),
            99,
          );
          const afterP50 = percentile(
            probe.entries.filter((e) => e.status === 202).map((e) => e.latencyMs),
            50,
          );
          console.log(
            `      ${entries.length} requests (${Math.round((entries.length / (loadEnded - loadStarted)) * 1000)}/s): ${JSON.stringify(answers)}; ` +
              `accepted latency p50 ${loadP50} ms, p99 ${loadP99} ms, max ${Math.max(0, ...accepted.map((e) => e.latencyMs))} ms under load, p50 ${afterP50} ms after; ` +
              `RSS idle ${idleRss.toFixed(0)} MiB, peak ${run.peakRss.toFixed(0)} MiB; load generator's own event-loop delay p99 ${Math.round(clientLag.percentile(99) / 1e6)} ms`,
          );
          const firsts = entries.filter((e) => e.newConnection === true);
          console.log(
            `      first requests of new connections (connect + accept queue + answer): ${firsts.length}, p50 ${percentile(
              firsts.map((e) => e.latencyMs),
              50,
            )} ms, ` +
              `p99 ${percentile(
                firsts.map((e) => e.latencyMs),
                99,
              )} ms; on open connections accepted p99 ${percentile(
                accepted.filter((e) => e.newConnection === false).map((e) => e.latencyMs),
                99,
              )} ms`,
          );
          if (dropped.length > 0) {
            console.log(
              `      dropped connections: ${JSON.stringify(countBy(dropped.map((e) => `sent at ${Math.floor((e.startedAt - loadStarted) / 1000)} s, failed after ${Math.floor(e.latencyMs / 1000)} s: ${e.message}`)))}`,
            );
          }
          results.add({
            broker: target.broker,
            mode: 'point-to-point',
            scenario: `overload: ${CLIENTS} clients, ${LOAD_MS / 1000} s (RSS peak ${run.peakRss.toFixed(0)} MiB; accepted p99 ${loadP99} ms, ${afterP50} ms after)`,
            sent: entries.length,
            faultsInjected: 0,
            acknowledged: accepted.length,
            lostAcknowledged: 0,
            unknownOutcome: dropped.length,
            refused: shed.length,
            duplicates: 0,
            passed: dropped.length === 0 && accepted.every((e) => e.newConnection !== false || e.latencyMs <= ROUTE_TIMEOUT_MS + 1000),
            notes: `${dropped.length} connections dropped without an answer; delivery not drained here`,
          });
        } finally {
          await daemon.dispose();
          await target.cleanup?.(destination).catch(() => undefined);
        }
      });

      it('answers only 2xx, or 503 overloaded / 429 with Retry-After: no connection dropped unanswered', () => {
        const wrong = run!.entries.filter((e) => !((e.status >= 200 && e.status < 300) || (e.status === 503 && e.code === 'overloaded') || e.status === 429));
        expect(countBy(wrong.map((e) => `${e.status} ${e.code}: ${e.message}`)), 'answers other than 2xx / 503 overloaded / 429').to.deep.equal({});
        const shed = run!.entries.filter((e) => e.status === 503 || e.status === 429);
        expect(shed.filter((e) => !/^\d+$/.test(e.retryAfter ?? '')).length, '503/429 carry Retry-After').to.equal(0);
        expect(shed.length, 'the load was more than the daemon accepts (some were shed)').to.be.greaterThan(0);
      });

      it(`answers accepted requests on open connections within the route deadline (${ROUTE_TIMEOUT_MS} ms) + 1 s`, () => {
        // A request that had to connect first also waited in the kernel's accept queue, which a
        // saturated Node process drains slowly: reported, not judged here (see the suite's log).
        const late = run!.entries.filter((e) => e.status >= 200 && e.status < 300 && e.newConnection === false && e.latencyMs > ROUTE_TIMEOUT_MS + 1000);
        expect(
          late.length,
          `accepted requests answered later than ${ROUTE_TIMEOUT_MS + 1000} ms (slowest ${Math.max(0, ...late.map((e) => e.latencyMs))} ms)`,
        ).to.equal(0);
      });

      it(`keeps its RSS under ${RSS_LIMIT_MIB} MiB and does not crash`, () => {
        expect(run!.crashed, 'the daemon process is still running').to.equal(false);
        expect(run!.peakRss).to.be.lessThan(RSS_LIMIT_MIB);
      });

      it('is fast again once the load drops', () => {
        expect(
          run!.after.filter((e) => e.status !== 202).map((e) => `${e.status} ${e.code}`),
          'every probe is accepted',
        ).to.deep.equal([]);
        expect(
          percentile(
            run!.after.map((e) => e.latencyMs),
            50,
          ),
          'median probe latency (ms)',
        ).to.be.lessThan(50);
      });
    });
  }
});

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
