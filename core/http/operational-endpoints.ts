/**
 * /health (liveness), /ready (every broker the routes use is connected; subscriptions listed),
 * /metrics (Prometheus).
 */
import type { Express } from 'express';
import type { Metrics } from '../observability/metrics.js';
import type { BrokerInstance } from '../brokers/instance.js';
import type { Egress } from '../egress/egress.js';
import type { Lifecycle } from './lifecycle.js';

export function mountOperationalEndpoints(
  app: Express,
  deps: { brokers: ReadonlyMap<string, BrokerInstance>; metrics: Metrics; lifecycle: Lifecycle; egress?: Pick<Egress, 'statuses'> },
): void {
  app.get('/health', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });

  app.get('/ready', (_req, res) => {
    const brokers: Record<string, { up: boolean; detail?: string }> = {};
    let allUp = true;
    for (const [name, broker] of deps.brokers) {
      const health = broker.health();
      brokers[name] = health;
      allUp &&= health.up;
    }
    const phase = deps.lifecycle.status;
    const status = phase === 'serving' ? (allUp ? 'ready' : 'degraded') : phase;
    // Subscriptions are listed (consuming, endpoint circuit) but do not decide readiness: a
    // receiver that is down is not this daemon's fault, and restarting it would not help.
    const subscriptions = deps.egress?.statuses();
    res.status(status === 'ready' ? 200 : 503).json({ status, brokers, ...(subscriptions && Object.keys(subscriptions).length > 0 ? { subscriptions } : {}) });
  });

  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.send(await deps.metrics.registry.metrics());
  });
}
