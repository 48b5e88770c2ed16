/** Reads and lints a routes file, loading (never connecting) the plugins it names. */
import fs from 'node:fs';
import path from 'node:path';
import type { DaemonConfig } from '../config.js';
import { StartupError, describeError } from '../errors.js';
import { catalogOf, egressCatalogOf, loadInstances, type LoadedInstance } from '../brokers/instances.js';
import { lintSubscriptions, subscriptionBrokersIn } from '../egress/lint.js';
import type { SubscriptionProblem } from '../egress/lint-codes.js';
import type { SubscriptionSpec } from '../egress/model.js';
import { lintStreams, streamBrokersIn } from '../streams/lint.js';
import type { StreamProblem } from '../streams/lint-codes.js';
import type { StreamSpec } from '../streams/model.js';
import { lintPulls, pullBrokersIn } from '../pulls/lint.js';
import type { PullProblem } from '../pulls/lint-codes.js';
import type { PullSpec } from '../pulls/model.js';
import { brokerNamesIn, lintRoutes, parseRoutes, type ParsedRoutes } from './lint.js';
import { readRoutes, type RoutesReading } from './quick-parse.js';
import type { RouteProblem, RouteSpec } from './model.js';

export interface CheckedRoutes {
  readonly routes: RouteSpec[];
  readonly subscriptions: SubscriptionSpec[];
  readonly streams: StreamSpec[];
  readonly pulls: PullSpec[];
  readonly problems: (RouteProblem | SubscriptionProblem | StreamProblem | PullProblem)[];
  readonly loaded: Map<string, LoadedInstance>;
  readonly file: string;
}

export interface CheckOptions {
  /**
   * Read the file with `yaml` only (`busgate check`): skip the quicker first reading the daemon
   * uses at start-up and on reload (quick-parse.ts).
   */
  readonly exact?: boolean;
  /** The file as the caller read it moments ago (WORKERS=auto looks at it first); used if the text is unchanged. */
  readonly reading?: RoutesReading;
}

export async function checkRoutesFile(
  file: string,
  config: Pick<DaemonConfig, 'brokers' | 'configDir' | 'apiKeys'>,
  options: CheckOptions = {},
): Promise<CheckedRoutes> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new StartupError('routes_unreadable', `cannot read routes file ${file}: ${describeError(error)}`);
  }
  if (options.exact === true) return checkDocument(parseRoutes(text), file, config);
  const first = options.reading?.text === text ? options.reading : readRoutes(text);
  const checked = await checkDocument(first.document, file, config);
  if (checked.problems.length === 0 || !first.quick) return checked;
  // Every problem is reported from `yaml`'s document, which knows where each node is.
  return checkDocument(parseRoutes(text), file, config);
}

async function checkDocument(document: ParsedRoutes, file: string, config: Pick<DaemonConfig, 'brokers' | 'configDir' | 'apiKeys'>): Promise<CheckedRoutes> {
  // Parsed once: every section's broker names and linters read the same document.
  const used = [...new Set([...brokerNamesIn(document), ...subscriptionBrokersIn(document), ...streamBrokersIn(document), ...pullBrokersIn(document)])].filter(
    (name) => name in config.brokers,
  );
  const loaded = await loadInstances(used, config.brokers, config.configDir);
  const declared = Object.keys(config.brokers);
  const { routes, problems } = lintRoutes(document, catalogOf(loaded), { declared, clients: [...config.apiKeys.keys()], baseDir: path.dirname(file) });
  const egress = lintSubscriptions(document, egressCatalogOf(loaded), { declared });
  const streams = lintStreams(document, egressCatalogOf(loaded), { declared, clients: [...config.apiKeys.keys()] });
  const pulls = lintPulls(document, egressCatalogOf(loaded), { declared, clients: [...config.apiKeys.keys()] });
  const all = [...problems, ...egress.problems, ...streams.problems, ...pulls.problems].sort((a, b) => a.line - b.line || a.col - b.col);
  return {
    routes: all.length === 0 ? routes : [],
    subscriptions: all.length === 0 ? egress.subscriptions : [],
    streams: all.length === 0 ? streams.streams : [],
    pulls: all.length === 0 ? pulls.pulls : [],
    problems: all,
    loaded,
    file,
  };
}
