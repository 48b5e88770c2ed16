/** Which destinations the routes send to on each broker instance: what BrokerPlugin.prepare() gets. */
import type { Mode, RouteTarget } from '../plugins/contract.js';
import type { RouteSpec } from '../routes/model.js';

/** Every (route, mode) pair that can reach `broker`; `modes` are the ones its plugin supports. */
export function routeTargets(routes: readonly RouteSpec[], broker: string, modes: readonly Mode[]): RouteTarget[] {
  const targets: RouteTarget[] = [];
  for (const route of routes) {
    const brokers = route.broker.kind === 'fixed' ? [route.broker.value] : route.broker.allowed;
    if (!brokers.includes(broker)) continue;
    const routeModes = route.mode.kind === 'fixed' ? [route.mode.value] : route.mode.allowed;
    for (const mode of routeModes.filter((m) => modes.includes(m))) {
      targets.push({ route: route.name, mode, destination: route.destination.source, isStatic: route.destination.isStatic, options: route.options });
    }
  }
  return targets;
}
