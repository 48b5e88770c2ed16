/**
 * The pulls linter: the `pulls:` list of the routes file, checked like routes, subscriptions and
 * streams (every problem at once, each with the line and column of the node at fault). It knows a
 * broker only through what its plugin declares (egress capabilities, destination rules, the
 * schema of route options).
 */
import { isMap, isScalar, isSeq, type Node, type YAMLMap } from 'yaml';
import { parseDuration } from '../duration.js';
import { brokersOfSection, type EgressCatalog, type EgressCatalogEntry } from '../egress/lint.js';
import { validateOptions } from '../plugins/options.js';
import { RESERVED_PATHS, parseRoutes, type ParsedRoutes } from '../routes/lint.js';
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
const PATH = /^\/[A-Za-z0-9/_.-]{0,199}$/;
/** The settle paths under every pull path. */
export const SETTLE_SUFFIXES = ['/ack', '/nack'] as const;

type Report = (node: Node | null | undefined, code: PullLintCode, message: string) => void;

/** The broker instance names the pull paths of a routes file use (their plugins get loaded). */
export function pullBrokersIn(source: string | ParsedRoutes): Set<string> {
  return brokersOfSection(source, 'pulls');
}

export function lintPulls(
  source: string | ParsedRoutes,
  catalog: EgressCatalog,
  options: PullLintOptions = {},
): { pulls: PullSpec[]; problems: PullProblem[] } {
  const { doc, lines } = typeof source === 'string' ? parseRoutes(source) : source;
  const problems: PullProblem[] = [];
  // YAML syntax errors are the routes linter's to report.
  if (doc.errors.length > 0 || !isMap(doc.contents)) return { pulls: [], problems };
  const list = doc.contents.get('pulls', true) as Node | undefined;
  if (list === undefined || (isScalar(list) && list.value === null)) return { pulls: [], problems };
  const report: Report = (node, code, message) => {
    const pos = lines.linePos(node?.range?.[0] ?? 0);
    problems.push({ line: pos.line, col: pos.col, code, message });
  };
  if (!isSeq(list)) {
    report(list, 'wrong_type', '"pulls" must be a list');
    return { pulls: [], problems };
  }
  const taken = new Map<string, string>();
  for (const [section, what] of [
    ['routes', 'a route'],
    ['streams', 'a stream'],
  ] as const) {
    for (const path of pathsOf(doc.contents, section)) taken.set(path, what);
  }
  const pulls: PullSpec[] = [];
  for (const item of list.items) {
    if (!isMap(item)) {
      report(item as Node, 'wrong_type', 'each pull path must be a map');
      continue;
    }
    const before = problems.length;
    const spec = lintOne(item, catalog, options, report, lines.linePos(item.range?.[0] ?? 0).line);
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

function pathsOf(top: YAMLMap, section: string): string[] {
  const items = top.get(section);
  if (!isSeq(items)) return [];
  return items.items.flatMap((item) => {
    const path = isMap(item) ? item.get('path') : undefined;
    return typeof path === 'string' ? [path] : [];
  });
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
  const entry = broker === undefined ? undefined : catalog.get(broker);
  if (broker !== undefined && entry === undefined) {
    report(node('broker'), 'unknown_broker', `no broker instance "${broker}"${options.declared ? ` (known: ${options.declared.join(', ') || 'none'})` : ''}`);
  } else if (broker !== undefined && entry?.egress === undefined) {
    report(node('broker'), 'egress_not_supported', `broker "${broker}" cannot be the source of a pull path (its plugin declares no egress)`);
  }

  const source = text('source');
  const deadLetter = text('deadLetter');
  for (const [key, destination] of [
    ['source', source],
    ['deadLetter', deadLetter],
  ] as const) {
    if (destination === undefined || entry === undefined) continue;
    const problem = destination.includes('{') ? 'it must be literal (no "{...}" templates)' : entry.checkDestination?.(destination);
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
  const clients = lintClients(node('clients'), options.clients, report);
  const sourceOptions = lintOptions(node('options'), entry, report);
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
  if (!PATH.test(path)) report(node, 'bad_path', `${path.slice(0, 64)} must start with "/" and use only letters, digits, "/", "_", ".", "-"`);
  else if (RESERVED_PATHS.some((reserved) => path === reserved || path.startsWith(`${reserved}/`))) {
    report(node, 'bad_path', `${path} is served by busgate itself (${RESERVED_PATHS.join(', ')})`);
  } else if (path.endsWith('/') || SETTLE_SUFFIXES.some((suffix) => path.endsWith(suffix))) {
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

function lintClients(node: Node | undefined, known: readonly string[] | undefined, report: Report): string[] | undefined {
  if (node === undefined) return undefined;
  const value: unknown = node.toJSON();
  if (!Array.isArray(value) || !value.every((name): name is string => typeof name === 'string')) {
    report(node, 'wrong_type', '"clients" must be a list of client names');
    return undefined;
  }
  if (known !== undefined && known.length > 0) {
    for (const name of value.filter((name) => !known.includes(name)))
      report(node, 'unknown_client', `client "${name}" has no API key (known: ${known.join(', ')})`);
  }
  return value;
}

function lintOptions(node: Node | undefined, entry: EgressCatalogEntry | undefined, report: Report): Record<string, unknown> | undefined {
  const schema = entry?.routeOptionsSchema;
  if (node === undefined) return schema ? validateOptions(schema, {}).value : {};
  if (!isMap(node)) {
    report(node, 'wrong_type', '"options" must be a map');
    return undefined;
  }
  if (entry === undefined) return undefined;
  if (schema === undefined) {
    report(node, 'bad_option', 'this broker takes no source options');
    return undefined;
  }
  const checked = validateOptions(schema, node.toJSON() as Record<string, unknown>);
  for (const problem of checked.problems) report((node.getIn(problem.path, true) as Node | undefined) ?? node, 'bad_option', problem.message);
  return checked.value;
}
