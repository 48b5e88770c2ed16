/**
 * /health (liveness), /ready (every broker the routes use is connected; subscriptions listed),
 * /metrics (Prometheus).
 */
import type { Express, NextFunction, Request, Response } from 'express';
import type { Metrics } from '../observability/metrics.js';
import type { BrokerInstance } from '../brokers/instance.js';
import type { Egress } from '../egress/egress.js';
import type { ClusterLink, LocalReadiness } from '../cluster.js';
import type { Lifecycle } from './lifecycle.js';

/**
 * This process's readiness: serving, and every broker the routes use connected. Subscriptions are
 * listed (consuming, endpoint circuit) but do not decide readiness: a receiver that is down is not
 * this daemon's fault, and restarting it would not help.
 */
export function localReadiness(brokers: ReadonlyMap<string, BrokerInstance>, lifecycle: Lifecycle, egress?: Pick<Egress, 'statuses'>): LocalReadiness {
  const states: Record<string, { up: boolean; detail?: string }> = {};
  let allUp = true;
  for (const [name, broker] of brokers) {
    const health = broker.health();
    states[name] = health;
    allUp &&= health.up;
  }
  const phase = lifecycle.status;
  const status = phase === 'serving' ? (allUp ? 'ready' : 'degraded') : phase;
  const subscriptions = egress?.statuses();
  return { status, ready: status === 'ready', brokers: states, ...(subscriptions && Object.keys(subscriptions).length > 0 ? { subscriptions } : {}) };
}

export function mountOperationalEndpoints(
  app: Express,
  deps: {
    brokers: ReadonlyMap<string, BrokerInstance>;
    metrics: Metrics;
    lifecycle: Lifecycle;
    egress?: Pick<Egress, 'statuses'>;
    cluster?: ClusterLink | undefined;
  },
): void {
  app.get('/health', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });

  // With several workers, /ready and /metrics speak for all of them (through the primary); each
  // worker's subscriptions are listed under it, this worker's also at the top level.
  app.get('/ready', async (_req: Request, res: Response, next: NextFunction) => {
    const { ready, ...local } = localReadiness(deps.brokers, deps.lifecycle, deps.egress);
    if (!deps.cluster) {
      res.status(ready ? 200 : 503).json(local);
      return;
    }
    try {
      const all = await deps.cluster.readiness();
      res.status(all.ready ? 200 : 503).json({ ...local, status: all.status, workers: all.workers });
    } catch (error) {
      next(error);
    }
  });

  app.get('/metrics', async (_req: Request, res: Response, next: NextFunction) => {
    try {
      const text = deps.cluster ? await deps.cluster.metrics() : await deps.metrics.registry.metrics();
      res.setHeader('Content-Type', deps.metrics.registry.contentType);
      res.send(text);
    } catch (error) {
      next(error);
    }
  });
}
