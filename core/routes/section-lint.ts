/**
 * What the linters of the routes file's egress sections (`subscriptions:`, `streams:`, `pulls:`)
 * check alike: opening their list, the broker names they use, `clients:`, source `options:`, the
 * paths busgate serves them on and literal destinations. Each linter keeps its own keys, codes and
 * messages; the routes linter (core/routes/lint.ts) has richer rules of its own.
 */
import { YAMLMap, isMap, isScalar, isSeq, type Node, type Pair } from 'yaml';
import type { JsonSchema } from '../plugins/contract.js';
import { validateOptions } from '../plugins/options.js';
import { RESERVED_PATHS, parseRoutes, type ParsedRoutes } from './lint.js';
import type { LintProblem } from './lint-registry.js';

/** The routes file's text, or the document it was parsed into once (see parseRoutes). */
export type RoutesSource = string | ParsedRoutes;

/** Reports one problem at a node; a check is typed with only the codes it reports. */
export type SectionReport<Code extends string> = (node: Node | undefined, code: Code, message: string) => void;

/** One top-level list of the routes file, opened for its linter. */
export interface OpenSection<Code extends string> {
  /** The file's top-level map, for checks across sections (a path used twice). */
  readonly top: YAMLMap;
  readonly problems: LintProblem<Code>[];
  /** The list's entries that are maps; any other entry is reported as `wrong_type` when reached. */
  readonly items: Iterable<YAMLMap>;
  /** Where a node (or a pair's key) starts in the file. */
  at(node: Node | Pair | null | undefined): { line: number; col: number };
  report(node: Node | Pair | null | undefined, code: Code, message: string): void;
}

const parsed = (source: RoutesSource): ParsedRoutes => (typeof source === 'string' ? parseRoutes(source) : source);

/**
 * Opens `section` (a list of `entry` maps). It has no items when there is nothing to lint: YAML
 * syntax errors (the routes linter reports those), no such list, or something other than a list
 * (reported).
 */
export function openSection<Code extends string>(source: RoutesSource, section: string, entry: string): OpenSection<Code | 'wrong_type'> {
  const { doc, lines } = parsed(source);
  const problems: LintProblem<Code | 'wrong_type'>[] = [];
  const at = (node: Node | Pair | null | undefined): { line: number; col: number } => {
    const target = node && 'range' in node ? node : node && 'key' in node ? (node.key as Node | null) : undefined;
    const pos = lines.linePos(target?.range?.[0] ?? 0);
    return { line: pos.line, col: pos.col };
  };
  const report = (node: Node | Pair | null | undefined, code: Code | 'wrong_type', message: string): void => {
    problems.push({ ...at(node), code, message });
  };
  const opened = (top: YAMLMap, items: Iterable<YAMLMap>): OpenSection<Code | 'wrong_type'> => ({ top, problems, items, at, report });

  if (doc.errors.length > 0 || !isMap(doc.contents)) return opened(new YAMLMap(), []);
  const list = doc.contents.get(section, true) as Node | undefined;
  if (list === undefined || (isScalar(list) && list.value === null)) return opened(doc.contents, []);
  if (!isSeq(list)) {
    report(list, 'wrong_type', `"${section}" must be a list`);
    return opened(doc.contents, []);
  }
  return opened(doc.contents, mapsOf(list.items, entry, report));
}

function* mapsOf(items: readonly unknown[], entry: string, report: SectionReport<'wrong_type'>): Generator<YAMLMap> {
  for (const item of items) {
    if (isMap(item)) yield item;
    else report(item as Node, 'wrong_type', `each ${entry} must be a map`);
  }
}

/** The `broker:` names in one top-level list of a routes file (their plugins get loaded). */
export function brokersOfSection(source: RoutesSource, section: string): Set<string> {
  return new Set(stringsOfSection(parsed(source).doc, section, 'broker'));
}

/** The string values of `key` in the entries of one top-level list. */
export function stringsOfSection(top: { get(key: string): unknown }, section: string, key: string): string[] {
  const list = top.get(section);
  if (!isSeq(list)) return [];
  return list.items.flatMap((item) => {
    const value = isMap(item) ? item.get(key) : undefined;
    return typeof value === 'string' ? [value] : [];
  });
}

const SERVED_PATH = /^\/[A-Za-z0-9/_.-]{0,199}$/;

/** What is wrong with a path busgate would serve a stream or pull path on, if anything. */
export function servedPathProblem(path: string): string | undefined {
  if (!SERVED_PATH.test(path)) return `${path.slice(0, 64)} must start with "/" and use only letters, digits, "/", "_", ".", "-"`;
  if (RESERVED_PATHS.some((reserved) => path === reserved || path.startsWith(`${reserved}/`))) {
    return `${path} is served by busgate itself (${RESERVED_PATHS.join(', ')})`;
  }
  return undefined;
}

/** What is wrong with a source or dead-letter destination, which must be literal, on its broker. */
export function destinationProblem(
  destination: string,
  entry: { readonly checkDestination?: ((destination: string) => string | undefined) | undefined } | undefined,
): string | undefined {
  return destination.includes('{') ? 'it must be literal (no "{...}" templates)' : entry?.checkDestination?.(destination);
}

/** `clients:`, a list of client names; each must have an API key when any keys are `known`. */
export function lintClients(
  node: Node | undefined,
  known: readonly string[] | undefined,
  report: SectionReport<'wrong_type' | 'unknown_client'>,
): string[] | undefined {
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

/**
 * A source's `options:`, checked against the route options schema of its broker's plugin (an
 * absent map gets the schema's defaults). Undefined when they are wrong, or when the broker is
 * unknown (`entry` undefined; reported elsewhere).
 */
export function lintSourceOptions(
  node: Node | undefined,
  entry: { readonly routeOptionsSchema?: JsonSchema | undefined } | undefined,
  report: SectionReport<'wrong_type' | 'bad_option'>,
): Record<string, unknown> | undefined {
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

/** The `broker:` of a stream or pull path, looked up: it must be declared, and its plugin must declare egress. */
export function lintSourceBroker<Entry extends { readonly egress?: unknown }>(
  broker: string | undefined,
  node: Node | undefined,
  catalog: ReadonlyMap<string, Entry>,
  declared: readonly string[] | undefined,
  entry: string,
  report: SectionReport<'unknown_broker' | 'egress_not_supported'>,
): Entry | undefined {
  if (broker === undefined) return undefined;
  const found = catalog.get(broker);
  if (found === undefined) {
    report(node, 'unknown_broker', `no broker instance "${broker}"${declared ? ` (known: ${declared.join(', ') || 'none'})` : ''}`);
  } else if (found.egress === undefined) {
    report(node, 'egress_not_supported', `broker "${broker}" cannot be the source of ${entry} (its plugin declares no egress)`);
  }
  return found;
}
