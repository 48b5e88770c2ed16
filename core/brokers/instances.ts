/**
 * From the config's broker instances to live BrokerInstances: load the plugins the routes use (and
 * only those), validate each instance's options against its plugin's schema, open one instance each.
 */
import type { Logger } from 'winston';
import type { BrokerInstanceConfig } from '../config.js';
import { StartupError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { EgressCatalog } from '../egress/lint.js';
import type { BrokerCatalog } from '../routes/lint.js';
import type { NamingRules } from '../routes/lint-names.js';
import type { PluginFactory } from '../plugins/contract.js';
import { loadPlugin } from '../plugins/load-plugin.js';
import { validateOptions } from '../plugins/options.js';
import { BrokerInstance } from './instance.js';
import { routeTargets } from './route-targets.js';
import type { RouteSpec } from '../routes/model.js';

export interface LoadedInstance {
  readonly name: string;
  readonly factory: PluginFactory<never>;
  readonly options: Record<string, unknown>;
}

/** Imports the plugins of the named instances; unknown names are left for the linter to report. */
export async function loadInstances(
  names: Iterable<string>,
  instances: Readonly<Record<string, BrokerInstanceConfig>>,
  configDir: string,
): Promise<Map<string, LoadedInstance>> {
  const loaded = new Map<string, LoadedInstance>();
  const factories = new Map<string, PluginFactory>();
  for (const name of names) {
    const instance = instances[name];
    if (!instance) continue;
    let factory = factories.get(instance.plugin);
    if (!factory) {
      factory = await loadPlugin(instance.plugin, configDir);
      factories.set(instance.plugin, factory);
    }
    const checked = validateOptions(factory.optionsSchema, instance.options);
    if (checked.problems.length > 0) {
      throw new StartupError(
        'plugin_options_invalid',
        `broker "${name}" (plugin ${instance.plugin}) has invalid options`,
        checked.problems.map((problem) => problem.message),
      );
    }
    loaded.set(name, { name, factory, options: checked.value });
  }
  return loaded;
}

/** What the routes linter needs: every declared instance, with modes known where loaded. */
export function catalogOf(loaded: ReadonlyMap<string, LoadedInstance>): BrokerCatalog {
  return new Map(
    [...loaded].map(([name, instance]) => [
      name,
      {
        modes: instance.factory.modes,
        routeOptionsSchema: instance.factory.routeOptionsSchema,
        reservedHeaders: instance.factory.reservedHeaders,
        reservedDestinations: instance.factory.reservedDestinations?.(instance.options as never) ?? [],
        ...(instance.factory.isSafeToken ? { isSafeToken: instance.factory.isSafeToken.bind(instance.factory) } : {}),
        ...namingRulesOf(instance.factory),
      },
    ]),
  );
}

/** What the subscriptions linter needs: egress capabilities and destination rules. */
export function egressCatalogOf(loaded: ReadonlyMap<string, LoadedInstance>): EgressCatalog {
  return new Map(
    [...loaded].map(([name, { factory }]) => [
      name,
      { egress: factory.egress, routeOptionsSchema: factory.routeOptionsSchema, checkDestination: factory.checkDestination?.bind(factory) },
    ]),
  );
}

/** The factory's whole-name checks, called as its methods (a plugin may use `this`). */
function namingRulesOf(factory: PluginFactory<never>): Pick<NamingRules, 'checkDestination' | 'checkKey'> {
  return {
    ...(factory.checkDestination ? { checkDestination: factory.checkDestination.bind(factory) } : {}),
    ...(factory.checkKey ? { checkKey: factory.checkKey.bind(factory) } : {}),
  };
}

/**
 * With `routes`, each broker's plugin prepares their targets (BrokerPlugin.prepare) before it
 * counts as connected; without (`busgate check --live`, read-only), nothing is prepared.
 */
export function createBrokers(
  loaded: ReadonlyMap<string, LoadedInstance>,
  dependencies: { logger: Logger; metrics: Metrics; maxInFlight: number; instanceId: string },
  routes?: readonly RouteSpec[],
): Map<string, BrokerInstance> {
  const brokers = new Map<string, BrokerInstance>();
  for (const instance of loaded.values()) {
    const targets = routes ? { targets: routeTargets(routes, instance.name, instance.factory.modes) } : {};
    brokers.set(instance.name, new BrokerInstance(instance.name, instance.factory, instance.options, { ...dependencies, ...targets }));
  }
  return brokers;
}
