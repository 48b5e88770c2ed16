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
import type { Metrics } from './observability/metrics.js';
import { createBrokers } from './brokers/instances.js';
import type { BrokerInstance } from './brokers/instance.js';
import { formatProblem } from './routes/model.js';

export interface ReloadResult {
  readonly outcome: 'ok' | 'invalid' | 'failed';
  readonly problems: readonly string[];
  readonly routes: number;
}

export class Reloader {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: DaemonConfig,
    private readonly brokers: Map<string, BrokerInstance>,
    private readonly routeTable: RouteTable,
    private readonly ingressDeps: IngressDependencies,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly connectWaitMs: number,
    private readonly egress: Egress,
  ) {}

  /** Reloads one at a time: a second SIGHUP waits for the first. */
  reload(reason: string): Promise<ReloadResult> {
    const next = this.queue.then(() => this.reloadNow(reason));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async reloadNow(reason: string): Promise<ReloadResult> {
    const file = this.config.routesFile;
    const name = path.relative(process.cwd(), file) || file;
    let checked;
    try {
      checked = await checkRoutesFile(file, this.config);
    } catch (error) {
      return this.finish('failed', [describeError(error)], reason);
    }
    if (checked.problems.length > 0) {
      return this.finish('invalid', checked.problems.map((problem) => formatProblem(name, problem)), reason);
    }

    const added = new Map([...checked.loaded].filter(([instance]) => !this.brokers.has(instance)));
    const fresh = createBrokers(added, { logger: this.logger, metrics: this.metrics, maxInFlight: this.config.maxInFlightPerBroker });
    await Promise.all([...fresh.values()].map((broker) => broker.start(this.connectWaitMs)));
    for (const [instance, broker] of fresh) this.brokers.set(instance, broker);

    let ingress;
    try {
      ingress = new Ingress(checked.routes, this.ingressDeps);
    } catch (error) {
      return this.finish('failed', [describeError(error)], reason);
    }
    this.routeTable.swap(ingress);
    this.metrics.routesLoaded.set(checked.routes.length);
    const subscriptions = await this.egress.apply(checked.subscriptions);

    const unused = [...this.brokers.keys()].filter((instance) => !checked.loaded.has(instance));
    for (const instance of unused) {
      const broker = this.brokers.get(instance)!;
      this.brokers.delete(instance);
      void this.retire(broker);
    }
    this.logger.info('routes reloaded', { reason, routes: checked.routes.length, brokersAdded: [...fresh.keys()], brokersRemoved: unused, subscriptions });
    return this.finish('ok', [], reason, checked.routes.length);
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
