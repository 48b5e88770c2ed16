/** /health (liveness), /ready (every broker the routes use is connected), /metrics (Prometheus). */
import type { Express, NextFunction, Request, Response } from 'express';
import type { Metrics } from '../observability/metrics.js';
import type { BrokerInstance } from '../brokers/instance.js';
import type { ClusterLink, LocalReadiness } from '../cluster.js';
import type { Lifecycle } from './lifecycle.js';

/** This process's readiness: serving, and every broker the routes use connected. */
export function localReadiness(brokers: ReadonlyMap<string, BrokerInstance>, lifecycle: Lifecycle): LocalReadiness {
  const states: Record<string, { up: boolean; detail?: string }> = {};
  let allUp = true;
  for (const [name, broker] of brokers) {
    const health = broker.health();
    states[name] = health;
    allUp &&= health.up;
  }
  const phase = lifecycle.status;
  const status = phase === 'serving' ? (allUp ? 'ready' : 'degraded') : phase;
  return { status, ready: status === 'ready', brokers: states };
}

export function mountOperationalEndpoints(
  app: Express,
  deps: { brokers: ReadonlyMap<string, BrokerInstance>; metrics: Metrics; lifecycle: Lifecycle; cluster?: ClusterLink | undefined },
): void {
  app.get('/health', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });

  // With several workers, /ready and /metrics speak for all of them (through the primary).
  app.get('/ready', async (_req: Request, res: Response, next: NextFunction) => {
    const local = localReadiness(deps.brokers, deps.lifecycle);
    if (!deps.cluster) {
      res.status(local.ready ? 200 : 503).json({ status: local.status, brokers: local.brokers });
      return;
    }
    try {
      const all = await deps.cluster.readiness();
      res.status(all.ready ? 200 : 503).json({ status: all.status, brokers: local.brokers, workers: all.workers });
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
