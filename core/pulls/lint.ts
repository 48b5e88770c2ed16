/**
 * The pulls linter: the `pulls:` list of the routes file, checked like routes, subscriptions and
 * streams (every problem at once, each with the line and column of the node at fault). It knows a
 * broker only through what its plugin declares (egress capabilities, destination rules, the
 * schema of route options).
 */
import { isScalar, type Node, type YAMLMap } from 'yaml';
import { parseDuration } from '../duration.js';
import type { EgressCatalog } from '../egress/lint.js';
import { validateOptions } from '../plugins/options.js';
// The checks the egress sections share; `shared.` marks them where they are called.
import * as shared from '../routes/section-lint.js';
import type { PullLintCode, PullProblem } from './lint-codes.js';
import { PULL_DEFAULTS, PULL_LIMITS, type PullSpec } from './model.js';

export interface PullLintOptions {
  /** Every instance name the config knows, for the unknown_broker message. */
  readonly declared?: readonly string[];
  /** Client names with an API key; a `clients:` entry must be one of them (when keys exist). */
  readonly clients?: readonly string[];
}

const KEYS = ['path', 'broker', 'source', 'mode', 'group', 'lease', 'maxHeld', 'deadLetter', 'clients', 'options'];
const REQUIRED = ['path', 'broker', 'source'];
/** The settle paths under every pull path. */
export const SETTLE_SUFFIXES = ['/ack', '/nack'] as const;

type Report = (node: Node | null | undefined, code: PullLintCode, message: string) => void;

/** The broker instance names the pull paths of a routes file use (their plugins get loaded). */
export function pullBrokersIn(source: shared.RoutesSource): Set<string> {
  return shared.brokersOfSection(source, 'pulls');
}

export function lintPulls(source: shared.RoutesSource, catalog: EgressCatalog, options: PullLintOptions = {}): { pulls: PullSpec[]; problems: PullProblem[] } {
  const { top, items, problems, at, report } = shared.openSection<PullLintCode>(source, 'pulls', 'pull path');
  const taken = new Map<string, string>();
  for (const [section, what] of [
    ['routes', 'a route'],
    ['streams', 'a stream'],
  ] as const) {
    for (const path of shared.stringsOfSection(top, section, 'path')) taken.set(path, what);
  }
  const pulls: PullSpec[] = [];
  for (const item of items) {
    const before = problems.length;
    const spec = lintOne(item, catalog, options, report, at(item).line);
    if (spec === undefined || problems.length > before) continue;
    // A pull path serves three paths; none may be another's.
    const served = [spec.path, ...SETTLE_SUFFIXES.map((suffix) => spec.path + suffix)];
    const clash = served.find((path) => taken.has(path));
    if (clash !== undefined) {
      report(item.get('path', true), 'duplicate_path', `${clash} is already used by ${taken.get(clash)}`);
      continue;
    }
    for (const path of served) taken.set(path, `the pull path at line ${spec.line}`);
    pulls.push(spec);
  }
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  return { pulls: problems.length === 0 ? pulls : [], problems };
}

function lintOne(item: YAMLMap, catalog: EgressCatalog, options: PullLintOptions, report: Report, line: number): PullSpec | undefined {
  for (const pair of item.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!KEYS.includes(key)) report(pair.key as Node, 'unknown_key', `unknown key "${key}" in a pull path (known: ${KEYS.join(', ')})`);
  }
  const missing = REQUIRED.filter((key) => !item.has(key));
  if (missing.length > 0) {
    report(item, 'missing_key', `a pull path needs ${missing.map((key) => `"${key}"`).join(', ')}`);
    return undefined;
  }
  const node = (key: string): Node | undefined => item.get(key, true) ?? undefined;
  const text = (key: string): string | undefined => {
    const value = node(key);
    if (value === undefined) return undefined;
    if (isScalar(value) && typeof value.value === 'string' && value.value !== '') return value.value;
    report(value, 'wrong_type', `"${key}" must be a non-empty string`);
    return undefined;
  };

  const path = text('path');
  if (path !== undefined) lintPath(path, node('path'), report);
  const broker = text('broker');
  const entry = shared.lintSourceBroker(broker, node('broker'), catalog, options.declared, 'a pull path', report);

  const source = text('source');
  const deadLetter = text('deadLetter');
  for (const [key, destination] of [
    ['source', source],
    ['deadLetter', deadLetter],
  ] as const) {
    if (destination === undefined || entry === undefined) continue;
    const problem = shared.destinationProblem(destination, entry);
    if (problem !== undefined) report(node(key), 'bad_destination', `${key} "${destination.slice(0, 64)}": ${problem}`);
  }
  if (deadLetter !== undefined && deadLetter === source) report(node('deadLetter'), 'bad_destination', 'deadLetter must not be the source itself');

  const modeText = text('mode') ?? 'point-to-point';
  const mode = modeText === 'pubsub' || modeText === 'point-to-point' ? modeText : undefined;
  if (mode === undefined) report(node('mode'), 'unknown_mode', `mode "${modeText}" must be pubsub or point-to-point`);
  const group = text('group');
  if (entry?.egress !== undefined && !entry.egress.durableGroups) {
    if (group !== undefined) report(node('group'), 'no_durable_groups', `broker "${broker}" has no durable consumer groups; remove "group"`);
    if (mode === 'pubsub')
      report(node('mode'), 'no_durable_groups', `broker "${broker}" keeps nothing for a pubsub consumer between pulls; use point-to-point`);
  } else if (entry?.egress !== undefined && group === undefined) {
    // The group is what lets several instances (and a consumer held for a long lease) share the
    // source: without it some plugins read one message at a time, with no lease keep-alive.
    report(item, 'missing_key', `a pull path on broker "${broker}" needs a "group": the durable consumer every instance shares`);
  }

  const leaseMs = lintLease(node('lease'), report);
  const maxHeld = lintMaxHeld(node('maxHeld'), report);
  const clients = shared.lintClients(node('clients'), options.clients, report);
  const sourceOptions = shared.lintSourceOptions(node('options'), entry, report);
  if (path === undefined || broker === undefined || source === undefined || mode === undefined) return undefined;
  if (leaseMs === undefined || maxHeld === undefined || sourceOptions === undefined) return undefined;
  const schema = entry?.routeOptionsSchema;
  return {
    path,
    broker,
    source,
    mode,
    group,
    leaseMs,
    maxHeld,
    deadLetter,
    deadLetterOptions: schema ? validateOptions(schema, {}).value : {},
    clients,
    options: sourceOptions,
    line,
  };
}

function lintPath(path: string, node: Node | undefined, report: Report): void {
  const problem = shared.servedPathProblem(path);
  if (problem !== undefined) report(node, 'bad_path', problem);
  else if (path.endsWith('/') || SETTLE_SUFFIXES.some((suffix) => path.endsWith(suffix))) {
    report(node, 'bad_path', `${path} must not end in "/", "/ack" or "/nack" (busgate serves ${path}/ack and ${path}/nack itself)`);
  }
}

function lintLease(node: Node | undefined, report: Report): number | undefined {
  if (node === undefined) return PULL_DEFAULTS.leaseMs;
  const ms = isScalar(node) && typeof node.value === 'string' ? parseDuration(node.value) : undefined;
  if (ms !== undefined && ms >= PULL_LIMITS.minLeaseMs && ms <= PULL_LIMITS.maxLeaseMs) return ms;
  report(node, 'bad_duration', '"lease" must be a duration from 1s to 12h, such as 30s or 5m');
  return undefined;
}

function lintMaxHeld(node: Node | undefined, report: Report): number | undefined {
  if (node === undefined) return PULL_DEFAULTS.maxHeld;
  const value = isScalar(node) ? node.value : undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= PULL_LIMITS.maxHeld) return value;
  report(node, 'bad_number', `"maxHeld" must be a whole number from 1 to ${PULL_LIMITS.maxHeld}`);
  return undefined;
}
