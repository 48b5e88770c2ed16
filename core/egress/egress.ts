/**
 * All subscriptions of the daemon. apply() brings the running set to a new list (start-up and
 * every reload): new ones start, removed ones stop (their in-flight POSTs finish, the rest stays
 * in the broker), changed ones stop and start again with the new settings, unchanged ones are
 * left alone.
 */
import type { Logger } from 'winston';
import type { BrokerInstance } from '../brokers/instance.js';
import type { EgressMetrics } from './metrics.js';
import { sameSubscription, type SubscriptionSpec } from './model.js';
import { SubscriptionWorker, type SubscriptionStatus } from './subscription-worker.js';

export interface SubscriptionOverview extends SubscriptionStatus {
  readonly name: string;
  readonly delivered: number;
  readonly deadLettered: number;
  /** Messages waiting in the broker; null when the broker cannot tell. */
  readonly backlog: number | null;
}

export class Egress {
  private readonly workers = new Map<string, SubscriptionWorker>();

  constructor(
    private readonly brokers: ReadonlyMap<string, BrokerInstance>,
    private readonly metrics: EgressMetrics,
    private readonly logger: Logger,
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    metrics.readBacklogFrom(() => this.backlogs());
  }

  /** Each running subscription's backlog in its broker (see Subscription.backlog). */
  async backlogs(): Promise<Map<string, number | undefined>> {
    const entries = await Promise.all([...this.workers].map(async ([name, worker]) => [name, await worker.backlog()] as const));
    return new Map(entries);
  }

  async apply(specs: readonly SubscriptionSpec[]): Promise<{ added: string[]; changed: string[]; removed: string[] }> {
    const wanted = new Map(specs.map((spec) => [spec.name, spec]));
    const removed = [...this.workers.keys()].filter((name) => !wanted.has(name));
    const changed = specs.filter((spec) => this.workers.has(spec.name) && !sameSubscription(this.workers.get(spec.name)!.spec, spec)).map((spec) => spec.name);
    const added = specs.filter((spec) => !this.workers.has(spec.name)).map((spec) => spec.name);
    await Promise.all([...removed, ...changed].map((name) => this.stopWorker(name)));
    for (const name of [...changed, ...added]) {
      const spec = wanted.get(name)!;
      const broker = this.brokers.get(spec.broker);
      // The routes check loads every broker a subscription names, so this is a bug if it happens.
      if (!broker) throw new Error(`subscription "${name}": broker "${spec.broker}" is not running`);
      const worker = new SubscriptionWorker(spec, broker, this.metrics, this.logger.child({ subscription: name }), this.env);
      this.workers.set(name, worker);
      worker.start();
    }
    return { added, changed, removed };
  }

  statuses(): Record<string, SubscriptionStatus> {
    return Object.fromEntries([...this.workers].map(([name, worker]) => [name, worker.status()]));
  }

  /** Per subscription, for the console: state, settled counts and the broker backlog. */
  async overview(): Promise<SubscriptionOverview[]> {
    const [settled, backlogs] = await Promise.all([this.metrics.messages.get(), this.backlogs()]);
    const count = (name: string, outcome: string): number =>
      settled.values.filter(({ labels }) => labels.subscription === name && labels.outcome === outcome).reduce((sum, { value }) => sum + value, 0);
    return [...this.workers].map(([name, worker]) => ({
      name,
      ...worker.status(),
      delivered: count(name, 'delivered'),
      deadLettered: count(name, 'dead_lettered'),
      backlog: backlogs.get(name) ?? null,
    }));
  }

  get names(): string[] {
    return [...this.workers.keys()];
  }

  /** Brokers some subscription still consumes from (a reload must not close them). */
  brokersInUse(): Set<string> {
    return new Set([...this.workers.values()].map((worker) => worker.spec.broker));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.workers.keys()].map((name) => this.stopWorker(name)));
  }

  private async stopWorker(name: string): Promise<void> {
    const worker = this.workers.get(name);
    if (!worker) return;
    this.workers.delete(name);
    await worker.stop();
  }
}
