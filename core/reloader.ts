/**
 * Safe reload of routes.yaml (SIGHUP, or a file watch): the new file is linted and the plugins
 * of brokers it newly uses are loaded and connected first; only then is the router swapped, in
 * one assignment. A bad file keeps the old routes and logs every problem with its line and
 * column. Brokers no longer used are closed once their in-flight requests have finished.
 * Subscriptions are added, changed and removed in the same step (see core/egress/egress.ts).
 */
import path from 'node:path';
import type { Logger } from 'winston';
import type { DaemonConfig } from './config.js';
import { checkRoutesFile } from './routes/check-file.js';
import { describeError } from './errors.js';
import type { RouteTable } from './http/app.js';
import { Ingress, type IngressDependencies } from './http/ingress.js';
import type { Egress } from './egress/egress.js';
import type { SubscriptionSpec } from './egress/model.js';
import type { StreamSpec } from './streams/model.js';
import type { PullSpec } from './pulls/model.js';
import type { Metrics } from './observability/metrics.js';
import { createBrokers } from './brokers/instances.js';
import type { BrokerInstance } from './brokers/instance.js';
import { routeTargets } from './brokers/route-targets.js';
import { formatProblem } from './routes/model.js';

export interface ReloadResult {
  readonly outcome: 'ok' | 'invalid' | 'failed';
  readonly problems: readonly string[];
  readonly routes: number;
}

/** A new routes file checked, its new brokers connected and its ingress built, not yet in service. */
interface Prepared {
  readonly ingress: Ingress;
  readonly subscriptions: readonly SubscriptionSpec[];
  readonly streams: readonly StreamSpec[];
  readonly pulls: readonly PullSpec[];
  readonly fresh: ReadonlyMap<string, BrokerInstance>;
  readonly used: ReadonlySet<string>;
  readonly routes: number;
  readonly reason: string;
}

export class Reloader {
  private queue: Promise<unknown> = Promise.resolve();
  /** A cluster worker's reload between prepare and commit (see core/cluster.ts). */
  private pending: Prepared | undefined;

  constructor(
    private readonly config: DaemonConfig,
    private readonly brokers: Map<string, BrokerInstance>,
    private readonly routeTable: RouteTable,
    private readonly ingressDeps: IngressDependencies,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly connectWaitMs: number,
    private readonly egress: Egress,
    private readonly applyStreams: (streams: readonly StreamSpec[]) => void = () => undefined,
    private readonly applyPulls: (pulls: readonly PullSpec[]) => Promise<void> = () => Promise.resolve(),
  ) {}

  /** Reloads one at a time: a second SIGHUP waits for the first. */
  reload(reason: string): Promise<ReloadResult> {
    const next = this.queue.then(() => this.reloadNow(reason));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async reloadNow(reason: string): Promise<ReloadResult> {
    const prepared = await this.prepareNow(reason);
    return 'outcome' in prepared ? prepared : this.commitNow(prepared);
  }

  /**
   * The first half of a reload, for a cluster worker: everything that can fail, with nothing in
   * service changed. commit() or abort() must follow before the next prepare.
   */
  async prepare(reason: string): Promise<ReloadResult> {
    if (this.pending) await this.abort();
    const prepared = await this.prepareNow(reason);
    if ('outcome' in prepared) return prepared;
    this.pending = prepared;
    return { outcome: 'ok', problems: [], routes: prepared.routes };
  }

  async commit(): Promise<ReloadResult> {
    const prepared = this.pending;
    if (!prepared) return { outcome: 'failed', problems: ['no prepared reload to commit'], routes: this.routeTable.routes.length };
    this.pending = undefined;
    return this.commitNow(prepared);
  }

  /** Drops a prepared reload: the brokers it connected are closed again. */
  async abort(): Promise<void> {
    const prepared = this.pending;
    this.pending = undefined;
    if (!prepared) return;
    for (const [instance, broker] of prepared.fresh) {
      this.brokers.delete(instance);
      await broker.close();
    }
    this.finish('invalid', [], `${prepared.reason} (another worker refused it)`);
  }

  private async prepareNow(reason: string): Promise<Prepared | ReloadResult> {
    const file = this.config.routesFile;
    const name = path.relative(process.cwd(), file) || file;
    let checked;
    try {
      checked = await checkRoutesFile(file, this.config);
    } catch (error) {
      return this.finish('failed', [describeError(error)], reason);
    }
    if (checked.problems.length > 0) {
      return this.finish(
        'invalid',
        checked.problems.map((problem) => formatProblem(name, problem)),
        reason,
      );
    }

    const added = new Map([...checked.loaded].filter(([instance]) => !this.brokers.has(instance)));
    // Brokers kept from the old routes prepare the new routes' targets (topology) before the swap.
    try {
      await Promise.all(
        [...this.brokers]
          .filter(([instance]) => checked.loaded.has(instance))
          .map(([instance, broker]) => broker.retarget(routeTargets(checked.routes, instance, broker.modes))),
      );
    } catch (error) {
      return this.finish('failed', [describeError(error)], reason);
    }
    const fresh = createBrokers(
      added,
      { logger: this.logger, metrics: this.metrics, maxInFlight: this.config.maxInFlightPerBroker, instanceId: this.config.instanceId },
      checked.routes,
    );
    await Promise.all([...fresh.values()].map((broker) => broker.start(this.connectWaitMs)));
    for (const [instance, broker] of fresh) this.brokers.set(instance, broker);

    let ingress;
    try {
      ingress = new Ingress(checked.routes, this.ingressDeps);
    } catch (error) {
      return this.finish('failed', [describeError(error)], reason);
    }
    return {
      ingress,
      subscriptions: checked.subscriptions,
      streams: checked.streams,
      pulls: checked.pulls,
      fresh,
      used: new Set(checked.loaded.keys()),
      routes: checked.routes.length,
      reason,
    };
  }

  /**
   * Puts a prepared reload in service. Subscriptions change here, not in prepare: a cluster
   * worker must not start or stop consuming for a file another worker may still refuse.
   */
  private async commitNow(prepared: Prepared): Promise<ReloadResult> {
    this.routeTable.swap(prepared.ingress);
    this.metrics.routesLoaded.set(prepared.routes);
    const subscriptions = await this.egress.apply(prepared.subscriptions);
    this.applyStreams(prepared.streams);
    await this.applyPulls(prepared.pulls);

    const unused = [...this.brokers.keys()].filter((instance) => !prepared.used.has(instance));
    for (const instance of unused) {
      const broker = this.brokers.get(instance)!;
      this.brokers.delete(instance);
      void this.retire(broker);
    }
    this.logger.info('routes reloaded', {
      reason: prepared.reason,
      routes: prepared.routes,
      brokersAdded: [...prepared.fresh.keys()],
      brokersRemoved: unused,
      subscriptions,
    });
    return this.finish('ok', [], prepared.reason, prepared.routes);
  }

  /** Closes a broker the routes no longer use, after the requests already on it have finished. */
  private async retire(broker: BrokerInstance): Promise<void> {
    const deadline = Date.now() + this.config.shutdownTimeoutMs;
    while (broker.pending > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await broker.close();
  }

  private finish(outcome: ReloadResult['outcome'], problems: string[], reason: string, routes = this.routeTable.routes.length): ReloadResult {
    this.metrics.reloads.inc({ outcome });
    if (outcome !== 'ok') {
      this.logger.error('routes reload refused; the previous routes stay in service', { reason, outcome });
      for (const problem of problems) this.logger.error(problem);
    }
    return { outcome, problems, routes };
  }
}
