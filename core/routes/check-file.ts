/** Reads and lints a routes file, loading (never connecting) the plugins it names. */
import fs from 'node:fs';
import path from 'node:path';
import type { DaemonConfig } from '../config.js';
import { StartupError, describeError } from '../errors.js';
import { catalogOf, loadInstances, type LoadedInstance } from '../brokers/instances.js';
import { brokerNamesIn, lintRoutes } from './lint.js';
import type { RouteProblem, RouteSpec } from './model.js';

export interface CheckedRoutes {
  readonly routes: RouteSpec[];
  readonly problems: RouteProblem[];
  readonly loaded: Map<string, LoadedInstance>;
  readonly file: string;
}

export async function checkRoutesFile(file: string, config: Pick<DaemonConfig, 'brokers' | 'configDir' | 'apiKeys'>): Promise<CheckedRoutes> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new StartupError('routes_unreadable', `cannot read routes file ${file}: ${describeError(error)}`);
  }
  const used = [...brokerNamesIn(text)].filter((name) => name in config.brokers);
  const loaded = await loadInstances(used, config.brokers, config.configDir);
  const { routes, problems } = lintRoutes(text, catalogOf(loaded), { declared: Object.keys(config.brokers), clients: [...config.apiKeys.keys()], baseDir: path.dirname(file) });
  return { routes, problems, loaded, file };
}

