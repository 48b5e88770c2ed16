/**
 * Pull API metrics, on the daemon's registry. Labels come from bounded sets: pull paths from the
 * routes file and outcome words. Never a lease, id or destination.
 */
import type { Counter, Registry } from 'prom-client';
import { MetricFactory } from '../observability/metric-factory.js';

/** What happened to a message of a pull path on this instance. */
export type PullOutcome = 'leased' | 'acked' | 'nacked' | 'dead_lettered' | 'expired' | 'handed_back';

export class PullMetrics {
  readonly messages: Counter<'pull' | 'outcome'>;
  readonly settlements: Counter<'pull' | 'via' | 'outcome'>;

  constructor(registry: Registry, held: () => ReadonlyMap<string, number>) {
    const metric = new MetricFactory(registry);
    this.messages = metric.counter(
      'busgate_pull_messages_total',
      'Messages of a pull path on this instance, by outcome: leased, acked, nacked (back to the broker), dead_lettered, expired (lease ran out, back to the broker), handed_back (reload, shutdown, idle close).',
      ['pull', 'outcome'],
    );
    this.settlements = metric.counter(
      'busgate_pull_settlements_total',
      'Leases named in ack and nack requests answered here, by where the lease was held (local, or forwarded to its holder) and outcome: settled, unknown, unreachable.',
      ['pull', 'via', 'outcome'],
    );
    metric.gauge(
      'busgate_pull_held_messages',
      'Messages this instance holds for a pull path: leased, fetched and not yet pulled, or in a nack delay or dead-letter store.',
      ['pull'],
      function () {
        this.reset();
        for (const [pull, count] of held()) this.set({ pull }, count);
      },
    );
  }
}
