/**
 * `busgate check --live`: connect to every broker the routes use and confirm that each route can
 * work, one line per route and broker/mode choice, and two per subscription (its source and its
 * dead letter). Read-only; exits non-zero on any failure.
 */
import type { Logger } from 'winston';
import type { DaemonConfig } from './config.js';
import { Metrics } from './observability/metrics.js';
import type { Mode } from './plugins/contract.js';
import { createBrokers, type LoadedInstance } from './brokers/instances.js';
import type { SubscriptionSpec } from './egress/model.js';
import type { RouteSpec } from './routes/model.js';

export interface PreflightLine {
  readonly ok: boolean;
  readonly route: string;
  readonly broker: string;
  readonly mode: Mode;
  readonly destination: string;
  readonly detail: string;
}

export async function preflight(
  routes: readonly RouteSpec[],
  loaded: ReadonlyMap<string, LoadedInstance>,
  config: Pick<DaemonConfig, 'maxInFlightPerBroker' | 'instanceId'>,
  logger: Logger,
  connectWaitMs = 5000,
  subscriptions: readonly SubscriptionSpec[] = [],
): Promise<PreflightLine[]> {
  const metrics = new Metrics({ defaultMetrics: false, brokerStatus: () => new Map() });
  const brokers = createBrokers(loaded, { logger, metrics, maxInFlight: config.maxInFlightPerBroker, instanceId: config.instanceId });
  try {
    await Promise.all([...brokers.values()].map((broker) => broker.start(connectWaitMs)));
    const lines: PreflightLine[] = [];
    for (const route of routes) {
      const brokerNames = route.broker.kind === 'fixed' ? [route.broker.value] : route.broker.allowed;
      const modes = route.mode.kind === 'fixed' ? [route.mode.value] : route.mode.allowed;
      for (const name of brokerNames) {
        const broker = brokers.get(name)!;
        for (const mode of modes.filter((m) => broker.can(m))) {
          const base = { route: `${route.method} ${route.path}`, broker: name, mode, destination: route.destination.source };
          if (broker.isConnected && !route.destination.isStatic) {
            lines.push({ ...base, ok: true, detail: 'connected; the destination is templated (it depends on the request), so only connectivity is checked' });
          } else {
            lines.push({ ...base, ...(await broker.preflight(mode, route.destination.source, route.brokerOptions.get(name) ?? route.options)) });
          }
        }
      }
    }
    // A subscription needs its source and its dead letter; both are checked as a route to them would be.
    for (const subscription of subscriptions) {
      const broker = brokers.get(subscription.broker)!;
      const checks = [
        { route: `subscription ${subscription.name}`, mode: subscription.mode, destination: subscription.source, options: subscription.sourceCheckOptions },
        {
          route: `subscription ${subscription.name} dead letter`,
          mode: 'point-to-point' as const,
          destination: subscription.deadLetter,
          options: subscription.deadLetterOptions,
        },
      ];
      for (const { options, ...base } of checks)
        lines.push({ ...base, broker: subscription.broker, ...(await broker.preflight(base.mode, base.destination, options)) });
    }
    return lines;
  } finally {
    await Promise.all([...brokers.values()].map((broker) => broker.close()));
  }
}

export function formatPreflightLine(line: PreflightLine): string {
  return `${line.ok ? 'ok  ' : 'FAIL'} ${line.route} -> ${line.broker} ${line.mode} ${line.destination}: ${line.detail}`;
}
