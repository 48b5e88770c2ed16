/**
 * The routes linter. It walks the YAML syntax tree (not the plain JS value) so that every problem
 * carries the line and column of the node at fault, and it reports every problem of the file at
 * once instead of stopping at the first.
 */
import { parse as parsePath } from 'path-to-regexp';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node, type Pair, type YAMLMap } from 'yaml';
import { CONTRACT_KEYS, lintContract } from '../contracts/route-contract.js';
import { parseDuration } from '../duration.js';
import { MODES, isMode, type JsonSchema, type Mode } from '../plugins/contract.js';
import { validateOptions } from '../plugins/options.js';
import type { LintCode } from './lint-codes.js';
import { namingProblems, type NamingRules } from './lint-names.js';
import { HTTP_METHODS, type Choice, type HttpMethod, type RouteProblem, type RouteSpec } from './model.js';
import { canRender, isDefaultSafeToken, isTemplate, parseTemplate, templateParams, type Template } from './template.js';

/** What the linter needs to know of a broker instance: nothing that requires a connection. */
export interface BrokerCatalogEntry extends NamingRules {
  readonly modes: readonly Mode[];
  readonly routeOptionsSchema?: JsonSchema | undefined;
  /** Destinations only the plugin may use (see PluginFactory.reservedDestinations). */
  readonly reservedDestinations?: readonly string[];
  readonly isSafeToken?: (value: string, field: 'destination' | 'key') => boolean;
  /** Headers the plugin reserves (see PluginFactory.reservedHeaders). */
  readonly reservedHeaders?: readonly string[] | undefined;
}

export type BrokerCatalog = ReadonlyMap<string, BrokerCatalogEntry>;

export interface LintResult {
  readonly routes: RouteSpec[];
  readonly problems: RouteProblem[];
}

/** `subscriptions` is linted by core/egress/lint.ts. */
const TOP_LEVEL_KEYS = ['routes', 'subscriptions', 'streams', 'pulls'];

const ROUTE_KEYS = [
  'name',
  'path',
  'method',
  'broker',
  'brokers',
  'mode',
  'modes',
  'destination',
  'key',
  'timeout',
  'headers',
  'options',
  'clients',
  'rateLimit',
  ...CONTRACT_KEYS,
] as const;
type RouteKey = (typeof ROUTE_KEYS)[number];
const REQUIRED_KEYS: readonly RouteKey[] = ['path', 'broker', 'mode', 'destination'];

/** Paths the daemon serves itself; a route there would be shadowed or would shadow them. */
export const RESERVED_PATHS = ['/health', '/ready', '/metrics', '/tap', '/console', '/openapi.json', '/asyncapi.json'];

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * Headers no route may forward, whatever the broker: busgate's own, the ones busgate sets from the
 * request itself, and credentials that must not reach a broker. Plugins add their control headers.
 */
const CORE_RESERVED_HEADERS = ['busgate-*', 'idempotency-key', 'content-type', 'content-length', 'authorization', 'x-api-key', 'cookie', 'host', 'connection'];

/** Whether `name` matches one of the reserved entries (exact, or a prefix ending in `*`). */
export function isReservedHeader(name: string, reserved: readonly string[] = CORE_RESERVED_HEADERS): boolean {
  const lower = name.toLowerCase();
  return reserved.some((entry) => (entry.endsWith('*') ? lower.startsWith(entry.slice(0, -1)) : lower === entry));
}

export interface LintOptions {
  /** Every instance name the config knows, for the unknown_broker message. */
  readonly declared?: readonly string[];
  /** API-key client names configured; routes' `clients:` must use these. */
  readonly clients?: readonly string[];
  /** Where relative `schema:` files are found: the routes file's folder (default: the working folder). */
  readonly baseDir?: string;
}

/**
 * A routes file parsed once: a 10,000-route file takes about a second of YAML parsing on a busy
 * 2-core box, so the broker names and the lint read the same document.
 */
export interface ParsedRoutes {
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
}

export function parseRoutes(text: string): ParsedRoutes {
  const lines = new LineCounter();
  return { doc: parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: true }), lines };
}

const parsed = (source: string | ParsedRoutes): ParsedRoutes => (typeof source === 'string' ? parseRoutes(source) : source);

/** The broker instance names a routes file mentions, so the daemon loads only their plugins. */
export function brokerNamesIn(source: string | ParsedRoutes): Set<string> {
  const names = new Set<string>();
  const { doc } = parsed(source);
  const routes = doc.get('routes');
  if (!isSeq(routes)) return names;
  for (const item of routes.items) {
    if (!isMap(item)) continue;
    const broker = item.get('broker');
    if (typeof broker === 'string' && !broker.includes('{')) names.add(broker);
    const allowed = item.get('brokers');
    if (isSeq(allowed)) for (const value of allowed.items) if (isScalar(value) && typeof value.value === 'string') names.add(value.value);
  }
  return names;
}

export function lintRoutes(source: string | ParsedRoutes, catalog: BrokerCatalog, options: LintOptions = {}): LintResult {
  const declared = options.declared ?? [...catalog.keys()];
  const { doc, lines } = parsed(source);
  const problems: RouteProblem[] = [];
  const at = (node: Node | Pair | null | undefined): { line: number; col: number } => {
    const range =
      node && 'range' in node
        ? node.range
        : node && 'key' in node && node.key && typeof node.key === 'object' && 'range' in node.key
          ? (node.key as Node).range
          : undefined;
    const pos = lines.linePos(range?.[0] ?? 0);
    return { line: pos.line, col: pos.col };
  };
  const report = (node: Node | Pair | null | undefined, code: LintCode, message: string): void => {
    problems.push({ ...at(node), code, message });
  };

  for (const error of [...doc.errors, ...doc.warnings]) {
    const pos = error.linePos?.[0] ?? { line: 1, col: 1 };
    problems.push({ line: pos.line, col: pos.col, code: 'yaml_syntax', message: error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '') });
  }
  if (doc.errors.length > 0) return { routes: [], problems };

  const root = doc.contents;
  if (!isMap(root)) {
    report(root, 'wrong_type', 'the file must be a map with a "routes" list');
    return { routes: [], problems };
  }
  for (const pair of root.items) {
    const key = scalarText(pair.key);
    if (!TOP_LEVEL_KEYS.includes(key))
      report(pair.key, 'unknown_key', `unknown top-level key "${key}" (expected ${TOP_LEVEL_KEYS.map((k) => `"${k}"`).join(' or ')})`);
  }
  const list = root.get('routes', true);
  // A file may only subscribe (egress; core/egress/lint.ts checks that part).
  if (list === undefined && (root.has('subscriptions') || root.has('streams') || root.has('pulls'))) return { routes: [], problems };
  if (!isSeq(list)) {
    report(list ?? root, list ? 'wrong_type' : 'missing_key', list ? '"routes" must be a list' : 'the file has no "routes" list');
    return { routes: [], problems };
  }

  const routes: RouteSpec[] = [];
  const seen = new Map<string, number>();
  for (const item of list.items) {
    if (!isMap(item)) {
      report(item as Node, 'wrong_type', 'each route must be a map');
      continue;
    }
    // Duplicates are found from path and method alone, so they show even when a route has other problems.
    const path = item.get('path');
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a YAML map prints as YAML; lintRoute reports it as bad_method
    const method = String(item.get('method') ?? 'POST').toUpperCase();
    if (typeof path === 'string') {
      const signature = `${method} ${path.replace(/[:*][A-Za-z0-9_]+/g, ':')}`;
      const first = seen.get(signature);
      if (first !== undefined) report(item.get('path', true), 'duplicate_route', `${method} ${path} is already defined at line ${first}`);
      else seen.set(signature, at(item).line);
    }
    const route = lintRoute(item, catalog, declared, options.clients ?? [], report, at(item).line, options.baseDir ?? process.cwd());
    if (route) routes.push(route);
  }
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  return { routes: problems.length === 0 ? routes : [], problems };
}

export type Report = (node: Node | Pair | null | undefined, code: LintCode, message: string) => void;

/**
 * One route's keys as the linter reads them: typed accessors that report a wrong type at the
 * node, and a count of problems so the route is only compiled when it has none.
 */
class RouteFields {
  private problems = 0;
  /** Path parameters, known once the path is read; templates may only use these. */
  params: string[] = [];

  constructor(
    readonly item: YAMLMap,
    private readonly sink: Report,
  ) {}

  readonly report: Report = (node, code, message) => {
    this.problems += 1;
    this.sink(node, code, message);
  };

  get problemCount(): number {
    return this.problems;
  }

  node(key: RouteKey): Node | undefined {
    return this.item.get(key, true) ?? undefined;
  }

  text(key: RouteKey): string | undefined {
    const value = this.node(key);
    if (value === undefined) return undefined;
    if (!isScalar(value) || typeof value.value !== 'string') {
      this.report(value, 'wrong_type', `"${key}" must be a string`);
      return undefined;
    }
    return value.value;
  }

  list(key: RouteKey): { values: string[]; node: Node } | undefined {
    const value = this.node(key);
    if (value === undefined) return undefined;
    if (!isSeq(value) || !value.items.every((entry) => isScalar(entry) && typeof entry.value === 'string')) {
      this.report(value, 'wrong_type', `"${key}" must be a list of strings`);
      return undefined;
    }
    return { values: value.items.map((entry) => String((entry as { value: unknown }).value)), node: value };
  }

  /** The entry node of a list key, for a problem with one of its values. */
  entry(list: { node: Node }, index: number): Node | undefined {
    return (list.node as unknown as { items: Node[] }).items[index];
  }

  compile(key: RouteKey): Template | undefined {
    const source = this.text(key);
    if (source === undefined) return undefined;
    const compiled = parseTemplate(source);
    if (!isTemplate(compiled)) {
      this.report(this.node(key), 'bad_template', compiled.problem);
      return undefined;
    }
    for (const param of templateParams(compiled)) {
      if (!this.params.includes(param)) {
        this.report(this.node(key), 'unknown_param', `"{${param}}" is not a parameter of the path (${this.params.map((p) => `:${p}`).join(', ') || 'none'})`);
      }
    }
    return compiled;
  }
}

function lintRoute(
  item: YAMLMap,
  catalog: BrokerCatalog,
  declared: readonly string[],
  knownClients: readonly string[],
  report: Report,
  line: number,
  baseDir: string,
): RouteSpec | undefined {
  const fields = new RouteFields(item, report);
  lintKeys(fields);
  const path = lintPath(fields);
  const methodText = (fields.text('method') ?? 'POST').toUpperCase();
  const method = (HTTP_METHODS as readonly string[]).includes(methodText) ? (methodText as HttpMethod) : undefined;
  if (!method) fields.report(fields.node('method'), 'bad_method', `method must be one of ${HTTP_METHODS.join(', ')}`);
  const { broker, mode, possibleBrokers } = lintBrokerAndMode(fields, catalog, declared);
  const destination = fields.compile('destination');
  if (destination) lintReservedDestinations(fields, destination, possibleBrokers, catalog);
  const key = fields.compile('key');
  const timeoutMs = lintTimeout(fields);
  const headers = lintHeaders(fields, [...CORE_RESERVED_HEADERS, ...possibleBrokers.flatMap((name) => catalog.get(name)?.reservedHeaders ?? [])]);
  const clients = lintClients(fields, knownClients);
  const rateLimit = lintRateLimit(fields.node('rateLimit'), fields.report);
  const options = lintOptions(fields.node('options'), possibleBrokers, catalog, fields.report);
  lintNames(fields, { destination, key }, possibleBrokers, catalog);
  const contract = lintContract(item, baseDir, fields.report);

  if (fields.problemCount > 0 || !path || !method || !broker || !mode || !destination || !options || rateLimit === null || !contract) return undefined;
  return {
    name: fields.text('name') ?? `${method} ${path}`,
    method,
    path,
    broker,
    mode,
    destination,
    key,
    timeoutMs,
    forwardHeaders: headers.map((h) => h.toLowerCase()),
    options: options.value,
    brokerOptions: options.byBroker,
    clients,
    rateLimit,
    contract,
    line,
  };
}

function lintKeys(fields: RouteFields): void {
  for (const pair of fields.item.items) {
    const key = scalarText(pair.key);
    if (!(ROUTE_KEYS as readonly string[]).includes(key)) {
      fields.report(pair.key as Node, 'unknown_key', `unknown key "${key}" (allowed: ${ROUTE_KEYS.join(', ')})`);
    }
  }
  for (const key of REQUIRED_KEYS) {
    if (!fields.item.has(key)) fields.report(fields.item, 'missing_key', `route has no "${key}"`);
  }
}

/** Fixed destinations and keys (and templates' literal text) against each reachable broker's naming rules. */
function lintNames(
  fields: RouteFields,
  templates: Record<'destination' | 'key', Template | undefined>,
  brokers: readonly string[],
  catalog: BrokerCatalog,
): void {
  const rules = new Map(brokers.map((name) => [name, catalog.get(name)]));
  for (const field of ['destination', 'key'] as const) {
    for (const problem of namingProblems(templates[field], field, rules)) fields.report(fields.node(field), problem.code, problem.message);
  }
}

/** The path, its parameters (kept on `fields` for the templates), and the reserved paths. */
function lintPath(fields: RouteFields): string | undefined {
  const path = fields.text('path');
  if (path === undefined) return undefined;
  fields.params = pathParams(path, fields.node('path'), fields.report) ?? [];
  if (RESERVED_PATHS.some((reserved) => path === reserved || path.startsWith(`${reserved}/`))) {
    fields.report(fields.node('path'), 'reserved_path', `${path} is served by busgate itself (${RESERVED_PATHS.join(', ')})`);
  }
  return path;
}

/** broker: a fixed instance name, or a template with an allow-list; mode likewise, within what they can do. */
function lintBrokerAndMode(
  fields: RouteFields,
  catalog: BrokerCatalog,
  declared: readonly string[],
): { broker: Choice<string> | undefined; mode: Choice<Mode> | undefined; possibleBrokers: readonly string[] } {
  const broker = choice<string>(fields, 'broker', 'brokers', {
    isValid: (name) => catalog.has(name),
    invalid: (name) => [`unknown_broker`, `broker "${name}" is not declared (known: ${declared.join(', ')})`],
    defaultAllowed: undefined,
  });
  const possibleBrokers = broker === undefined ? [] : broker.kind === 'fixed' ? [broker.value] : broker.allowed;
  const supported = new Set(possibleBrokers.flatMap((name) => catalog.get(name)?.modes ?? []));
  const mode = choice<Mode>(fields, 'mode', 'modes', {
    isValid: isMode,
    invalid: (value) => ['unknown_mode', `mode "${value}" is not one of ${MODES.join(', ')}`],
    defaultAllowed: MODES.filter((m) => supported.has(m)),
  });
  if (mode && broker) {
    const modes = mode.kind === 'fixed' ? [mode.value] : mode.allowed;
    for (const m of modes) {
      const lacking = possibleBrokers.filter((name) => catalog.has(name) && !catalog.get(name)!.modes.includes(m));
      if (lacking.length > 0 && (mode.kind === 'fixed' || lacking.length === possibleBrokers.length)) {
        fields.report(
          fields.node(mode.kind === 'fixed' ? 'mode' : 'modes') ?? fields.node('mode'),
          'mode_not_supported',
          `broker ${lacking.map((n) => `"${n}"`).join(', ')} cannot do ${m}`,
        );
      }
    }
  }
  return { broker, mode, possibleBrokers };
}

/** A destination template must not reach what a plugin keeps for itself (Kafka's reply topic). */
function lintReservedDestinations(fields: RouteFields, destination: Template, possibleBrokers: readonly string[], catalog: BrokerCatalog): void {
  for (const name of possibleBrokers) {
    const entry = catalog.get(name);
    const token = entry?.isSafeToken ? (value: string) => entry.isSafeToken!(value, 'destination') : isDefaultSafeToken;
    const reached = (entry?.reservedDestinations ?? []).find((reserved) => canRender(destination, reserved, token));
    if (reached !== undefined) {
      fields.report(
        fields.node('destination'),
        'reserved_destination',
        `"${destination.source}" could render "${reached}", which broker "${name}" reserves for itself (e.g. its reply topic)`,
      );
    }
  }
}

function lintTimeout(fields: RouteFields): number | undefined {
  const timeout = fields.text('timeout');
  if (timeout === undefined) return undefined;
  const timeoutMs = parseDuration(timeout);
  if (timeoutMs === undefined) fields.report(fields.node('timeout'), 'bad_duration', `timeout "${timeout}" is not a duration such as 500ms, 2s or 1m`);
  return timeoutMs;
}

/** Forwarded headers: valid names, none reserved by the core or by a broker the route can reach. */
function lintHeaders(fields: RouteFields, reserved: readonly string[]): string[] {
  const headers = fields.list('headers');
  if (!headers) return [];
  for (const [index, name] of headers.values.entries()) {
    if (!HEADER_NAME.test(name)) fields.report(fields.entry(headers, index), 'bad_header_name', `"${name}" is not a valid header name`);
    else if (isReservedHeader(name, reserved)) {
      fields.report(fields.entry(headers, index), 'reserved_header', `"${name}" cannot be forwarded: it is a broker control header or a credential`);
    }
  }
  return headers.values;
}

function lintClients(fields: RouteFields, knownClients: readonly string[]): string[] | undefined {
  const clients = fields.list('clients');
  for (const [index, name] of (clients?.values ?? []).entries()) {
    if (!knownClients.includes(name)) {
      fields.report(
        fields.entry(clients!, index),
        'unknown_client',
        knownClients.length === 0
          ? `"${name}": no API keys are configured (BUSGATE_API_KEYS or BUSGATE_API_KEYS_FILE)`
          : `"${name}" is not a configured API key name (known: ${knownClients.join(', ')})`,
      );
    }
  }
  return clients?.values;
}

/** `rateLimit: { perSecond: 100, burst: 200 }`; null when invalid (already reported). */
function lintRateLimit(node: Node | undefined, report: Report): { perSecond: number; burst: number } | undefined | null {
  if (node === undefined) return undefined;
  const value = isMap(node) ? (node.toJSON() as Record<string, unknown>) : undefined;
  const perSecond = value?.perSecond;
  const burst = value?.burst ?? (typeof perSecond === 'number' ? Math.max(1, Math.ceil(perSecond)) : undefined);
  const extra = value ? Object.keys(value).filter((key) => key !== 'perSecond' && key !== 'burst') : [];
  if (!value || typeof perSecond !== 'number' || !(perSecond > 0) || typeof burst !== 'number' || !Number.isInteger(burst) || burst < 1 || extra.length > 0) {
    report(node, 'bad_rate_limit', 'rateLimit must be { perSecond: number > 0, burst: whole number >= 1 (default: perSecond rounded up) }');
    return null;
  }
  return { perSecond, burst };
}

function choice<T extends string>(
  fields: RouteFields,
  key: RouteKey,
  allowKey: RouteKey,
  rules: { isValid: (value: string) => boolean; invalid: (value: string) => [LintCode, string]; defaultAllowed: readonly T[] | undefined },
): Choice<T> | undefined {
  const source = fields.text(key);
  if (source === undefined) return undefined;
  const allowed = fields.list(allowKey);
  if (!source.includes('{')) {
    if (allowed) fields.report(allowed.node, 'unknown_key', `"${allowKey}" only applies when "${key}" is chosen per request ("{param}" or "{header.name}")`);
    if (!rules.isValid(source)) {
      const [code, message] = rules.invalid(source);
      fields.report(fields.node(key), code, message);
      return undefined;
    }
    return { kind: 'fixed', value: source as T };
  }
  const template = fields.compile(key);
  if (!template) return undefined;
  if (template.parts.length !== 1) {
    fields.report(fields.node(key), 'bad_template', `"${key}" chosen per request must be exactly one placeholder, such as "{${key}}"`);
    return undefined;
  }
  const values = allowed?.values ?? rules.defaultAllowed;
  if (values === undefined) {
    fields.report(fields.node(key), 'missing_key', `"${key}" is chosen per request, so the route must list the allowed values in "${allowKey}"`);
    return undefined;
  }
  let ok = true;
  for (const [index, value] of values.entries()) {
    if (!rules.isValid(value)) {
      const [code, message] = rules.invalid(value);
      fields.report(allowed ? fields.entry(allowed, index) : fields.node(key), code, message);
      ok = false;
    }
  }
  if (values.length === 0) {
    fields.report(allowed?.node ?? fields.node(key), 'wrong_type', `"${allowKey}" must not be empty`);
    ok = false;
  }
  return ok ? { kind: 'chosen', template, allowed: values as T[] } : undefined;
}

function pathParams(path: string, node: Node | undefined, report: Report): string[] | undefined {
  if (!path.startsWith('/')) {
    report(node, 'bad_path', `path "${path}" must start with "/"`);
    return undefined;
  }
  try {
    const params: string[] = [];
    const walk = (tokens: ReturnType<typeof parsePath>['tokens']): void => {
      for (const token of tokens) {
        if (token.type === 'param' || token.type === 'wildcard') params.push(token.name);
        if (token.type === 'group') walk(token.tokens);
      }
    };
    walk(parsePath(path).tokens);
    return params;
  } catch (error) {
    report(node, 'bad_path', `path "${path}" is not a valid express path: ${error instanceof Error ? error.message.split(';')[0] : String(error)}`);
    return undefined;
  }
}

function lintOptions(
  node: Node | undefined,
  brokers: readonly string[],
  catalog: BrokerCatalog,
  report: Report,
): { value: Record<string, unknown>; byBroker: Map<string, Record<string, unknown>> } | undefined {
  if (node === undefined) {
    // Still apply each schema's defaults, so plugins see the same shape either way.
    const byBroker = new Map(brokers.map((name) => [name, withDefaults(catalog.get(name)?.routeOptionsSchema)]));
    return { value: brokers.length === 1 ? byBroker.get(brokers[0]!)! : {}, byBroker };
  }
  if (!isMap(node)) {
    report(node, 'wrong_type', '"options" must be a map');
    return undefined;
  }
  const raw = node.toJSON() as Record<string, unknown>;
  let value: Record<string, unknown> = raw;
  const byBroker = new Map<string, Record<string, unknown>>();
  let ok = true;
  for (const name of brokers) {
    const entry = catalog.get(name);
    if (!entry) continue;
    if (!entry.routeOptionsSchema) {
      report(node, 'bad_option', `broker "${name}" takes no route options`);
      ok = false;
      continue;
    }
    const checked = validateOptions(entry.routeOptionsSchema, raw);
    for (const problem of checked.problems) {
      const target = (problem.path.length > 0 ? ((node.getIn(problem.path, true) as Node | undefined) ?? findKey(node, problem.path)) : undefined) ?? node;
      report(target, 'bad_option', `${problem.message} (broker "${name}")`);
      ok = false;
    }
    byBroker.set(name, checked.value);
    if (brokers.length === 1) value = checked.value;
  }
  return ok ? { value, byBroker } : undefined;
}

function withDefaults(schema: JsonSchema | undefined): Record<string, unknown> {
  return schema ? validateOptions(schema, {}).value : {};
}

/** For an unknown option, point at the key itself (the path names a key that has no schema). */
function findKey(map: YAMLMap, path: readonly string[]): Node | undefined {
  let current: unknown = map;
  for (const [index, segment] of path.entries()) {
    if (!isMap(current)) return undefined;
    const pair = current.items.find((p) => scalarText(p.key) === segment);
    if (!pair) return undefined;
    if (index === path.length - 1) return pair.key as Node;
    current = pair.value;
  }
  return undefined;
}

function scalarText(node: unknown): string {
  return isScalar(node) ? String(node.value) : String(node);
}
