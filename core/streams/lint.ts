/**
 * The streams linter: the `streams:` list of the routes file, checked like routes and
 * subscriptions (every problem at once, each with the line and column of the node at fault).
 */
import { isMap, isScalar, isSeq, type Node, type YAMLMap } from 'yaml';
import { brokersOfSection, type EgressCatalog } from '../egress/lint.js';
import { validateOptions } from '../plugins/options.js';
import { RESERVED_PATHS, parseRoutes, type ParsedRoutes } from '../routes/lint.js';
import type { StreamLintCode, StreamProblem } from './lint-codes.js';
import type { StreamSpec } from './model.js';

export interface StreamLintOptions {
  /** Every instance name the config knows, for the unknown_broker message. */
  readonly declared?: readonly string[];
  /** Client names with an API key; a `clients:` entry must be one of them (when keys exist). */
  readonly clients?: readonly string[];
}

const KEYS = ['path', 'broker', 'source', 'clients', 'options'];
const REQUIRED = ['path', 'broker', 'source'];
const PATH = /^\/[A-Za-z0-9/_.-]{0,199}$/;

/** The broker instance names the streams of a routes file use (their plugins get loaded). */
export function streamBrokersIn(source: Parameters<typeof brokersOfSection>[0]): Set<string> {
  return brokersOfSection(source, 'streams');
}

export function lintStreams(
  source: string | ParsedRoutes,
  catalog: EgressCatalog,
  options: StreamLintOptions = {},
): { streams: StreamSpec[]; problems: StreamProblem[] } {
  const { doc, lines } = typeof source === 'string' ? parseRoutes(source) : source;
  const problems: StreamProblem[] = [];
  // YAML syntax errors are the routes linter's to report.
  if (doc.errors.length > 0 || !isMap(doc.contents)) return { streams: [], problems };
  const list = doc.contents.get('streams', true) as Node | undefined;
  if (list === undefined || (isScalar(list) && list.value === null)) return { streams: [], problems };
  const report = (node: Node | null | undefined, code: StreamLintCode, message: string): void => {
    const pos = lines.linePos(node?.range?.[0] ?? 0);
    problems.push({ line: pos.line, col: pos.col, code, message });
  };
  if (!isSeq(list)) {
    report(list, 'wrong_type', '"streams" must be a list');
    return { streams: [], problems };
  }
  const taken = new Map<string, string>(routePaths(doc.contents).map((path) => [path, 'a route']));
  const streams: StreamSpec[] = [];
  for (const item of list.items) {
    if (!isMap(item)) {
      report(item as Node, 'wrong_type', 'each stream must be a map');
      continue;
    }
    const before = problems.length;
    const spec = lintOne(item, catalog, options, report, lines.linePos(item.range?.[0] ?? 0).line);
    if (spec === undefined || problems.length > before) continue;
    const owner = taken.get(spec.path);
    if (owner !== undefined) report(item.get('path', true), 'duplicate_path', `${spec.path} is already used by ${owner}`);
    else taken.set(spec.path, `the stream at line ${spec.line}`);
    streams.push(spec);
  }
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  return { streams: problems.length === 0 ? streams : [], problems };
}

type Report = (node: Node | null | undefined, code: StreamLintCode, message: string) => void;

function routePaths(top: YAMLMap): string[] {
  const routes = top.get('routes');
  if (!isSeq(routes)) return [];
  return routes.items.flatMap((route) => {
    const path = isMap(route) ? route.get('path') : undefined;
    return typeof path === 'string' ? [path] : [];
  });
}

function lintOne(item: YAMLMap, catalog: EgressCatalog, options: StreamLintOptions, report: Report, line: number): StreamSpec | undefined {
  for (const pair of item.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!KEYS.includes(key)) report(pair.key as Node, 'unknown_key', `unknown key "${key}" (known: ${KEYS.join(', ')})`);
  }
  const missing = REQUIRED.filter((key) => !item.has(key));
  if (missing.length > 0) {
    report(item, 'missing_key', `a stream needs ${missing.map((key) => `"${key}"`).join(', ')}`);
    return undefined;
  }
  const node = (key: string): Node => item.get(key, true) as Node;
  const text = (key: string): string | undefined => {
    const value = item.get(key);
    if (typeof value === 'string' && value.length > 0) return value;
    report(node(key), 'wrong_type', `"${key}" must be a non-empty string`);
    return undefined;
  };
  const path = text('path');
  const broker = text('broker');
  const source = text('source');
  if (path !== undefined) {
    if (!PATH.test(path)) report(node('path'), 'bad_path', `${path.slice(0, 64)} must start with "/" and use only letters, digits, "/", "_", ".", "-"`);
    else if (RESERVED_PATHS.some((reserved) => path === reserved || path.startsWith(`${reserved}/`))) {
      report(node('path'), 'bad_path', `${path} is served by busgate itself (${RESERVED_PATHS.join(', ')})`);
    }
  }
  const entry = broker === undefined ? undefined : catalog.get(broker);
  if (broker !== undefined && entry === undefined) {
    report(node('broker'), 'unknown_broker', `no broker instance "${broker}"${options.declared ? ` (known: ${options.declared.join(', ') || 'none'})` : ''}`);
  } else if (broker !== undefined && entry?.egress === undefined) {
    report(node('broker'), 'egress_not_supported', `broker "${broker}" cannot be the source of a stream (its plugin declares no egress)`);
  }
  if (source !== undefined && entry !== undefined) {
    const problem = source.includes('{') ? 'it must be literal (no "{...}" templates)' : entry.checkDestination?.(source);
    if (problem !== undefined) report(node('source'), 'bad_destination', `source "${source.slice(0, 64)}": ${problem}`);
  }
  const clients = lintClients(item, options, report);
  const sourceOptions = lintSourceOptions(item, entry?.routeOptionsSchema, report);
  if (path === undefined || broker === undefined || source === undefined) return undefined;
  return { path, broker, source, clients, options: sourceOptions, line };
}

function lintClients(item: YAMLMap, options: StreamLintOptions, report: Report): string[] | undefined {
  const node = item.get('clients', true) as Node | undefined;
  if (node === undefined) return undefined;
  const value: unknown = item.get('clients') === undefined ? undefined : node.toJSON();
  if (!Array.isArray(value) || !value.every((name): name is string => typeof name === 'string')) {
    report(node, 'wrong_type', '"clients" must be a list of client names');
    return undefined;
  }
  const known = options.clients;
  if (known !== undefined && known.length > 0) {
    for (const name of value) if (!known.includes(name)) report(node, 'unknown_client', `client "${name}" has no API key (known: ${known.join(', ')})`);
  }
  return value;
}

function lintSourceOptions(item: YAMLMap, schema: Readonly<Record<string, unknown>> | undefined, report: Report): Record<string, unknown> {
  const node = item.get('options', true) as Node | undefined;
  if (node === undefined) return schema ? validateOptions(schema, {}).value : {};
  if (!isMap(node)) {
    report(node, 'wrong_type', '"options" must be a map');
    return {};
  }
  if (!schema) {
    report(node, 'bad_option', 'this broker takes no source options');
    return {};
  }
  const checked = validateOptions(schema, node.toJSON() as Record<string, unknown>);
  for (const problem of checked.problems) report((node.getIn(problem.path, true) as Node | undefined) ?? node, 'bad_option', problem.message);
  return checked.value;
}
