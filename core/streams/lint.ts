/**
 * The streams linter: the `streams:` list of the routes file, checked like routes and
 * subscriptions (every problem at once, each with the line and column of the node at fault).
 */
import { isScalar, type Node, type YAMLMap } from 'yaml';
import type { EgressCatalog } from '../egress/lint.js';
// The checks the egress sections share; `shared.` marks them where they are called.
import * as shared from '../routes/section-lint.js';
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

/** The broker instance names the streams of a routes file use (their plugins get loaded). */
export function streamBrokersIn(source: shared.RoutesSource): Set<string> {
  return shared.brokersOfSection(source, 'streams');
}

export function lintStreams(
  source: shared.RoutesSource,
  catalog: EgressCatalog,
  options: StreamLintOptions = {},
): { streams: StreamSpec[]; problems: StreamProblem[] } {
  const { top, items, problems, at, report } = shared.openSection<StreamLintCode>(source, 'streams', 'stream');
  const taken = new Map<string, string>(shared.stringsOfSection(top, 'routes', 'path').map((path) => [path, 'a route']));
  const streams: StreamSpec[] = [];
  for (const item of items) {
    const before = problems.length;
    const spec = lintOne(item, catalog, options, report, at(item).line);
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
  const node = (key: string): Node | undefined => item.get(key, true) ?? undefined;
  const text = (key: string): string | undefined => {
    const value = item.get(key);
    if (typeof value === 'string' && value.length > 0) return value;
    report(node(key), 'wrong_type', `"${key}" must be a non-empty string`);
    return undefined;
  };
  const path = text('path');
  const broker = text('broker');
  const source = text('source');
  const pathProblem = path === undefined ? undefined : shared.servedPathProblem(path);
  if (pathProblem !== undefined) report(node('path'), 'bad_path', pathProblem);
  const entry = shared.lintSourceBroker(broker, node('broker'), catalog, options.declared, 'a stream', report);
  if (source !== undefined && entry !== undefined) {
    const problem = shared.destinationProblem(source, entry);
    if (problem !== undefined) report(node('source'), 'bad_destination', `source "${source.slice(0, 64)}": ${problem}`);
  }
  const clients = shared.lintClients(node('clients'), options.clients, report);
  // An unknown broker counts as one that takes no options: streams have always reported bad_option
  // for its `options:` as well as unknown_broker (pulls and subscriptions report only the latter).
  const sourceOptions = shared.lintSourceOptions(node('options'), entry ?? {}, report);
  if (path === undefined || broker === undefined || source === undefined || sourceOptions === undefined) return undefined;
  return { path, broker, source, clients, options: sourceOptions, line };
}
