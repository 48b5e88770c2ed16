/**
 * Egress metrics, on the daemon's registry. Labels come from bounded sets: subscription names from
 * the routes file, status classes, outcome and reason words. Never a URL, id or destination.
 */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { MetricFactory } from '../observability/metric-factory.js';
import type { CircuitState } from '../brokers/circuit-breaker.js';

const DELIVERY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
export const CIRCUIT_VALUES: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

export class EgressMetrics {
  readonly messages: Counter<'subscription' | 'outcome'>;
  readonly attempts: Counter<'subscription' | 'result'>;
  readonly retries: Counter<'subscription'>;
  readonly deadLetters: Counter<'subscription' | 'reason'>;
  readonly latency: Histogram<'subscription'>;
  readonly held: Gauge<'subscription'>;
  readonly circuit: Gauge<'subscription'>;
  readonly running: Gauge<'subscription'>;
  readonly backlog: Gauge<'subscription'>;
  private backlogs: () => Promise<ReadonlyMap<string, number | undefined>> = () => Promise.resolve(new Map());

  constructor(registry: Registry) {
    const metric = new MetricFactory(registry);
    this.messages = metric.counter(
      'busgate_egress_messages_total',
      'Broker messages settled by egress, by subscription and outcome: delivered (2xx), dead_lettered, or handed_back (returned to the broker unacknowledged, e.g. on shutdown).',
      ['subscription', 'outcome'],
    );
    this.attempts = metric.counter(
      'busgate_egress_attempts_total',
      'Webhook POSTs, by subscription and result: 2xx, 4xx, 429, 5xx, timeout or connection-error.',
      ['subscription', 'result'],
    );
    this.retries = metric.counter('busgate_egress_retries_total', 'Attempts scheduled after a failed one.', ['subscription']);
    this.deadLetters = metric.counter(
      'busgate_egress_dead_letters_total',
      'Messages stored in the dead-letter destination, by reason: rejected (a permanent 4xx) or exhausted (retry.attempts used up).',
      ['subscription', 'reason'],
    );
    this.latency = metric.histogram(
      'busgate_egress_delivery_seconds',
      'From receiving a broker message to settling it (2xx or dead letter), retries included.',
      ['subscription'],
      DELIVERY_BUCKETS,
    );
    this.held = metric.gauge(
      'busgate_egress_held_messages',
      'Messages taken from the broker and not yet settled (delivering, waiting to retry, or waiting for the endpoint circuit).',
      ['subscription'],
    );
    this.circuit = metric.gauge(
      'busgate_egress_endpoint_circuit',
      'Endpoint circuit: 0 closed (delivering), 1 half-open (probing), 2 open (consumption paused).',
      ['subscription'],
    );
    const readBacklogs = (): Promise<ReadonlyMap<string, number | undefined>> => this.backlogs();
    this.backlog = metric.gauge(
      'busgate_egress_backlog_messages',
      'Messages waiting in the broker for the subscription, not yet taken (consumer-group lag, stream pending, queue depth, as the plugin reports it); read at each scrape, absent when the broker cannot tell.',
      ['subscription'],
      async function () {
        this.reset();
        for (const [subscription, value] of await readBacklogs()) if (value !== undefined) this.set({ subscription }, value);
      },
    );
    this.running = metric.gauge('busgate_egress_subscription_up', '1 when the subscription consumes from its broker, 0 while it is (re)subscribing.', [
      'subscription',
    ]);
  }

  /** Where the lag gauge reads from at each scrape (the running subscriptions). */
  readBacklogFrom(source: () => Promise<ReadonlyMap<string, number | undefined>>): void {
    this.backlogs = source;
  }

  /** A removed subscription's series go away with it. */
  forget(subscription: string): void {
    for (const metric of [this.held, this.circuit, this.running, this.backlog]) metric.remove({ subscription });
  }
}

export function resultClass(label: string): string {
  if (!/^\d{3}$/.test(label)) return label;
  if (label === '429') return '429';
  return `${label[0]}xx`;
}
