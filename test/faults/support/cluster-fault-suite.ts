/**
 * The leader-failover suite, the same for every broker: a private three-node cluster (see
 * private-clusters.ts), one in-process daemon whose plugin knows every member's address, and two
 * scenarios during a stream of ledger requests on a point-to-point route with a 1 s deadline:
 *   - kill -9 of the member leading the destination (stream / queue / partition), nothing else
 *     done: the cluster must elect a new leader and the plugin must find it by itself;
 *   - a rolling restart: each member in turn stopped (SIGTERM), started again and caught up.
 * Pass: the checks of every broker fault (expectRideThrough: lost = 0, only fast 202/503/504,
 * 2xx again by itself), the daemon alive, no unhandled rejection. The row's "2xx again after" is
 * measured from the kill (or from the last member's return), so it is the time to recover.
 */
import { expect } from 'chai';
import type { BrokerInstanceConfig } from '../../../core/config.js';
import type { TestDaemon } from '../../support/daemon.js';
import type { LedgerResult } from '../ledger.js';
import { drainAndCompare, expectRideThrough, resultRow, ROUTE_TIMEOUT_MS, startFaultDaemon, trackFailures } from './fault-suite.js';
import { eventually } from '../../support/net.js';
import { requirePrivateBroker, type PrivateBroker } from './private-brokers.js';
import type { PrivateCluster } from './private-clusters.js';
import { SuiteResults } from './results.js';
import { runScenario, watchUnhandledRejections, type ScenarioOutcome } from './scenario.js';

export interface ClusterFaultSpec<Cluster extends PrivateCluster> {
  readonly kind: PrivateBroker['kind'];
  /** What leads a destination in this broker's words, for titles: "stream", "queue", "partition". */
  readonly leads: string;
  /** Creates the (unstarted) cluster. */
  create(): Promise<Cluster>;
  /** The daemon's broker instance, given every member's address. */
  instance(cluster: Cluster): BrokerInstanceConfig;
  /** Destination template with the {name} path parameter. */
  readonly destination: string;
  destinationFor(name: string): string;
  /** What leaderOf / rejoined take for a destination (NATS: its stream; others: the destination). */
  replicaOf(destination: string): string;
  /** Creates what a destination needs, replicated on every member, before its scenario (operator's job). */
  prepare?(cluster: Cluster, destination: string): Promise<void>;
  /** Longest wait for 2xx after the fault (the kill, or the last member's return). */
  readonly recoveryBoundMs: number;
  readonly drainTimeoutMs?: number;
  /** Known failures of a client library, with the evidence (listed as pending, never silently). */
  readonly unsupported?: Partial<Record<'leader' | 'rolling', string>>;
}

/** Longest stretch without a 2xx answer between `from` and `to` (a measure of the outage, for the notes). */
function longestGapWithout2xx(outcome: ScenarioOutcome, from: number, to: number): number {
  const ok = outcome.ledger.entries
    .filter((e) => e.status >= 200 && e.status < 300)
    .map((e) => e.startedAt + e.latencyMs)
    .filter((at) => at >= from && at <= to)
    .sort((a, b) => a - b);
  let gap = 0;
  let previous = from;
  for (const at of [...ok, to]) {
    gap = Math.max(gap, at - previous);
    previous = at;
  }
  return gap;
}

export function clusterFaultSuite<Cluster extends PrivateCluster>(spec: ClusterFaultSpec<Cluster>): void {
  describe(`faults: ${spec.kind} cluster (3 private nodes, leader failover, point-to-point, ${ROUTE_TIMEOUT_MS} ms deadline)`, function () {
    this.timeout(300_000);
    const results = new SuiteResults(`faults: ${spec.kind} cluster`);
    const rejections = watchUnhandledRejections();
    let cluster: Cluster | undefined;
    let daemon: TestDaemon | undefined;
    const failures = trackFailures();

    before(async function () {
      this.timeout(240_000);
      results.begin();
      requirePrivateBroker(this, spec.kind);
      cluster = await spec.create();
      try {
        await cluster.start();
      } catch (error) {
        // A cluster that cannot form fails the suite (under CI and locally alike), with the members' logs.
        failures.failed = true;
        throw new Error(`the private ${spec.kind} cluster did not form: ${error instanceof Error ? error.message : String(error)}\n${cluster.logTail()}`, {
          cause: error,
        });
      }
      daemon = await startFaultDaemon('clustered', '/c', spec.instance(cluster), spec.destination);
    });

    after(async () => {
      rejections.stop();
      results.write();
      await daemon?.shutdown('cluster fault suite done').catch(() => undefined);
      await cluster?.dispose(failures.keepLogs());
    });

    const scenario = (
      name: 'leader' | 'rolling',
      title: string,
      fault: (c: Cluster, replica: string) => { inject(): Promise<void>; afterwards(): Promise<void> },
    ): void => {
      const unsupported = spec.unsupported?.[name];
      if (unsupported !== undefined) {
        it(`${title}: not run on ${spec.kind}: ${unsupported}`);
        return;
      }
      it(`${title}: no acknowledged message lost, fast 503/504, 2xx again by itself`, async function () {
        const c = cluster!;
        const d = daemon!;
        const destination = spec.destinationFor(name);
        const replica = spec.replicaOf(destination);
        const before = rejections.seen.length;
        await spec.prepare?.(c, destination);
        // One acknowledged request first, so the destination exists (and has a leader) before the
        // fault; the first send to a destination may outlast the deadline (metadata, a new leader).
        let warm = '';
        await eventually(
          async () => {
            const first = await fetch(`${d.url}/c/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key":"warm-up"}' });
            warm = `${first.status} ${await first.text()}`;
            return first.status === 202;
          },
          30_000,
          `a first 202 on /c/${name}`,
          500,
        ).catch((error: unknown) => {
          throw new Error(`${String(error)}; last answer: ${warm}`, { cause: error });
        });
        const plan = fault(c, replica);
        let outcome: ScenarioOutcome | undefined;
        let result: LedgerResult | undefined;
        let notes: string | undefined;
        try {
          // The fault's whole story happens in inject(); the cluster recovers by itself, so the
          // recovery clock starts right after it.
          outcome = await runScenario({
            baseUrl: d.url,
            path: `/c/${name}`,
            fault: { name, inject: () => plan.inject(), holdMs: 0, recover: () => undefined },
            recoveryBoundMs: spec.recoveryBoundMs,
          });
          notes = `longest stretch without 2xx ${longestGapWithout2xx(outcome, outcome.faultStartedAt, outcome.first2xxAfter ? outcome.first2xxAfter.startedAt + outcome.first2xxAfter.latencyMs : Date.now())} ms`;
          await plan.afterwards();
          result = await drainAndCompare(d, 'clustered', destination, outcome, spec.drainTimeoutMs ?? 30_000);
        } finally {
          results.add(resultRow(spec.kind, title, outcome, result, notes));
        }
        console.log(`      ${notes}`);
        expectRideThrough(outcome, result, spec.recoveryBoundMs);
        const health = await fetch(`${d.url}/health`);
        expect(health.status, 'the daemon is alive').to.equal(200);
        expect(rejections.seen.slice(before).map(String), 'no unhandled rejection').to.deep.equal([]);
        results.markPassed(title);
      });
    };

    scenario('leader', `cluster: kill -9 the ${spec.leads} leader`, (c, replica) => {
      let killed: number | undefined;
      return {
        async inject() {
          killed = await c.leaderOf(replica);
          c.nodes[killed]!.kill();
        },
        // Only after the measurement: bring the member back, so the next scenario has three again.
        async afterwards() {
          if (killed === undefined) return;
          await c.nodes[killed]!.restart();
          await c.rejoined(killed, replica);
        },
      };
    });

    scenario('rolling', 'cluster: rolling restart of all 3 nodes', (c, replica) => ({
      async inject() {
        for (const [index, node] of c.nodes.entries()) {
          await node.stop();
          await node.restart();
          await c.rejoined(index, replica);
        }
      },
      afterwards: () => Promise.resolve(),
    }));
  });
}
