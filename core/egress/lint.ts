/**
 * The subscriptions linter: the `subscriptions:` list of the routes file, checked like routes
 * (every problem at once, each with the line and column of the node at fault). It knows brokers
 * only through what their plugins declare: egress capabilities, destination rules, the schema of
 * route options (a subscription's `options:` take the same shape).
 */
import { YAMLMap, isMap, isScalar, type Node, type Pair } from 'yaml';
import { parseDuration } from '../duration.js';
import type { EgressCapabilities, JsonSchema } from '../plugins/contract.js';
import { validateOptions } from '../plugins/options.js';
import { brokersOfSection, destinationProblem, lintSourceOptions, openSection, type RoutesSource } from '../routes/section-lint.js';
import type { SubscriptionLintCode, SubscriptionProblem } from './lint-codes.js';
import { CLOUDEVENT_MODES, ORDERINGS, SUBSCRIPTION_DEFAULTS, type CloudEventMode, type Ordering, type SubscriptionSpec } from './model.js';

export interface EgressCatalogEntry {
  readonly egress: EgressCapabilities | undefined;
  readonly routeOptionsSchema?: JsonSchema | undefined;
  readonly checkDestination?: ((destination: string) => string | undefined) | undefined;
}

export type EgressCatalog = ReadonlyMap<string, EgressCatalogEntry>;

export interface SubscriptionLintOptions {
  /** Every instance name the config knows, for the unknown_broker message. */
  readonly declared?: readonly string[];
  /** Where `signing.secretEnv` is looked up (process.env by default). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const KEYS = ['name', 'broker', 'source', 'mode', 'group', 'options', 'deliver', 'retry', 'circuit', 'deadLetter', 'signing'] as const;
const REQUIRED = ['name', 'broker', 'source', 'mode', 'deliver', 'deadLetter'] as const;
const DELIVER_KEYS = ['url', 'timeout', 'concurrency', 'ordering', 'headers', 'cloudevents', 'eventType'] as const;
const RETRY_KEYS = ['attempts', 'initialDelay', 'maxDelay', 'maxRetryAfter'] as const;
const CIRCUIT_KEYS = ['failures', 'pause', 'maxPause'] as const;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_CONCURRENCY = 1000;

/**
 * Headers busgate sets on every delivery (or HTTP itself owns): an operator's `deliver.headers`
 * must not fake a signature, an id or the attempt count.
 */
export function isReservedDeliveryHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return (
    lower.startsWith('webhook-') ||
    lower.startsWith('busgate-') ||
    ['content-type', 'content-length', 'host', 'connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect'].includes(lower)
  );
}

/** The broker instance names the subscriptions of a routes file use (their plugins get loaded). */
export function subscriptionBrokersIn(source: RoutesSource): Set<string> {
  return brokersOfSection(source, 'subscriptions');
}

export function lintSubscriptions(
  source: RoutesSource,
  catalog: EgressCatalog,
  options: SubscriptionLintOptions = {},
): { subscriptions: SubscriptionSpec[]; problems: SubscriptionProblem[] } {
  const { items, problems, at, report } = openSection<SubscriptionLintCode>(source, 'subscriptions', 'subscription');
  const specs: SubscriptionSpec[] = [];
  const names = new Map<string, number>();
  for (const item of items) {
    const name = item.get('name');
    if (typeof name === 'string') {
      const first = names.get(name);
      if (first !== undefined) report(item.get('name', true), 'duplicate_subscription', `subscription "${name}" is already defined at line ${first}`);
      else names.set(name, at(item).line);
    }
    const spec = lintOne(item, catalog, options, report, at(item).line);
    if (spec) specs.push(spec);
  }
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  return { subscriptions: problems.length === 0 ? specs : [], problems };
}

type Report = (node: Node | Pair | null | undefined, code: SubscriptionLintCode, message: string) => void;

/** Typed readers over one YAML map; each reports what is wrong and returns undefined then. */
class MapReader {
  problems = 0;
  constructor(
    readonly map: YAMLMap,
    private readonly where: string,
    private readonly sink: Report,
  ) {}

  report: Report = (node, code, message) => {
    this.problems += 1;
    this.sink(node, code, message);
  };

  node(key: string): Node | undefined {
    return this.map.get(key, true) ?? undefined;
  }

  onlyKeys(allowed: readonly string[]): void {
    for (const pair of this.map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if (!allowed.includes(key)) this.report(pair.key as Node, 'unknown_key', `unknown key "${key}" in ${this.where} (allowed: ${allowed.join(', ')})`);
    }
  }

  required(keys: readonly string[]): void {
    for (const key of keys) if (!this.map.has(key)) this.report(this.map, 'missing_key', `${this.where} has no "${key}"`);
  }

  text(key: string): string | undefined {
    const value = this.node(key);
    if (value === undefined) return undefined;
    if (!isScalar(value) || typeof value.value !== 'string' || value.value === '') {
      this.report(value, 'wrong_type', `"${key}" must be a non-empty string`);
      return undefined;
    }
    return value.value;
  }

  duration(key: string, fallback: number): number | undefined {
    const value = this.node(key);
    if (value === undefined) return fallback;
    const ms = isScalar(value) && typeof value.value === 'string' ? parseDuration(value.value) : undefined;
    if (ms === undefined) this.report(value, 'bad_duration', `"${key}" must be a duration such as 500ms, 2s or 1m`);
    return ms;
  }

  integer(key: string, fallback: number, min: number, max: number): number | undefined {
    const value = this.node(key);
    if (value === undefined) return fallback;
    const n = isScalar(value) ? value.value : undefined;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      this.report(value, 'bad_number', `"${key}" must be a whole number from ${min} to ${max}`);
      return undefined;
    }
    return n;
  }

  /** A nested map, or an empty one when absent; undefined when it is not a map. */
  child(key: string, allowed: readonly string[]): MapReader | undefined {
    const value = this.node(key);
    if (value === undefined) return new MapReader(new YAMLMap(), `"${key}"`, this.report);
    if (!isMap(value)) {
      this.report(value, 'wrong_type', `"${key}" must be a map`);
      return undefined;
    }
    const reader = new MapReader(value, `"${key}"`, this.report);
    reader.onlyKeys(allowed);
    return reader;
  }
}

function lintOne(item: YAMLMap, catalog: EgressCatalog, options: SubscriptionLintOptions, sink: Report, line: number): SubscriptionSpec | undefined {
  const top = new MapReader(item, 'the subscription', sink);
  top.onlyKeys(KEYS);
  top.required(REQUIRED);

  const name = top.text('name');
  if (name !== undefined && !NAME.test(name)) top.report(top.node('name'), 'bad_name', `name "${name}" must be letters, digits, "_", "." or "-" (at most 100)`);

  const brokerName = top.text('broker');
  const entry = brokerName === undefined ? undefined : catalog.get(brokerName);
  if (brokerName !== undefined && entry === undefined) {
    const declared = options.declared ?? [...catalog.keys()];
    top.report(top.node('broker'), 'unknown_broker', `broker "${brokerName}" is not declared (known: ${declared.join(', ')})`);
  } else if (entry !== undefined && entry.egress === undefined) {
    top.report(top.node('broker'), 'egress_not_supported', `broker "${brokerName}" cannot be the source of a subscription (its plugin declares no egress)`);
  }

  const mode = top.text('mode');
  if (mode !== undefined && mode !== 'pubsub' && mode !== 'point-to-point') {
    top.report(top.node('mode'), 'unknown_mode', `mode "${mode}" must be pubsub or point-to-point`);
  }

  const source = top.text('source');
  const deadLetter = top.text('deadLetter');
  for (const [key, destination] of [
    ['source', source],
    ['deadLetter', deadLetter],
  ] as const) {
    if (destination === undefined) continue;
    const problem = destinationProblem(destination, entry);
    if (problem !== undefined) top.report(top.node(key), 'bad_destination', `${key} "${destination}": ${problem}`);
  }
  if (source !== undefined && source === deadLetter) top.report(top.node('deadLetter'), 'bad_destination', 'deadLetter must not be the source itself');

  const group = top.text('group');
  if (group !== undefined && entry?.egress !== undefined && !entry.egress.durableGroups) {
    top.report(top.node('group'), 'bad_option', `broker "${brokerName}" has no durable consumer groups; remove "group"`);
  }

  const sourceOptions = lintSourceOptions(top.node('options'), entry, top.report);

  const deliver = top.child('deliver', DELIVER_KEYS);
  const url = deliver?.text('url');
  if (url !== undefined && !isWebhookUrl(url)) deliver!.report(deliver!.node('url'), 'bad_url', 'deliver.url must be an absolute http:// or https:// URL');
  const timeoutMs = deliver?.duration('timeout', SUBSCRIPTION_DEFAULTS.timeoutMs);
  const concurrency = deliver?.integer('concurrency', SUBSCRIPTION_DEFAULTS.concurrency, 1, MAX_CONCURRENCY);
  const orderingText = deliver?.text('ordering') ?? 'none';
  const ordering = (ORDERINGS as readonly string[]).includes(orderingText) ? (orderingText as Ordering) : undefined;
  if (ordering === undefined) deliver?.report(deliver.node('ordering'), 'bad_ordering', `ordering must be one of ${ORDERINGS.join(', ')}`);
  const headers = deliver === undefined ? undefined : lintHeaders(deliver);
  const cloudEvents = deliver === undefined ? undefined : lintCloudEvents(deliver);
  if (deliver !== undefined && deliver.node('url') === undefined && top.node('deliver') !== undefined)
    deliver.report(top.node('deliver'), 'missing_key', '"deliver" has no "url"');

  const retry = top.child('retry', RETRY_KEYS);
  const attempts = retry?.integer('attempts', SUBSCRIPTION_DEFAULTS.attempts, 1, 100);
  const initialDelayMs = retry?.duration('initialDelay', SUBSCRIPTION_DEFAULTS.initialDelayMs);
  const maxDelayMs = retry?.duration('maxDelay', SUBSCRIPTION_DEFAULTS.maxDelayMs);
  const maxRetryAfterMs = retry?.duration('maxRetryAfter', SUBSCRIPTION_DEFAULTS.maxRetryAfterMs);
  if (initialDelayMs !== undefined && maxDelayMs !== undefined && maxDelayMs < initialDelayMs) {
    retry!.report(retry!.node('maxDelay') ?? top.node('retry'), 'bad_duration', 'retry.maxDelay must not be shorter than retry.initialDelay');
  }

  const circuit = top.child('circuit', CIRCUIT_KEYS);
  const failures = circuit?.integer('failures', SUBSCRIPTION_DEFAULTS.circuitFailures, 1, 1000);
  const pauseMs = circuit?.duration('pause', SUBSCRIPTION_DEFAULTS.pauseMs);
  const maxPauseMs = circuit?.duration('maxPause', SUBSCRIPTION_DEFAULTS.maxPauseMs);

  const signingSecretEnv = lintSigning(top, options.env ?? process.env);

  if (top.problems > 0) return undefined;
  return {
    name: name!,
    broker: brokerName!,
    source: source!,
    mode: mode as SubscriptionSpec['mode'],
    group: group ?? name!,
    options: sourceOptions ?? {},
    sourceCheckOptions: { ...sourceOptions, ...entry?.egress?.sourceCheckOptions?.[mode as SubscriptionSpec['mode']] },
    deliver: { url: url!, timeoutMs: timeoutMs!, concurrency: concurrency!, ordering: ordering!, headers: headers ?? {}, ...cloudEvents },
    retry: { attempts: attempts!, initialDelayMs: initialDelayMs!, maxDelayMs: maxDelayMs!, maxRetryAfterMs: maxRetryAfterMs! },
    circuit: { failures: failures!, pauseMs: pauseMs!, maxPauseMs: Math.max(maxPauseMs!, pauseMs!) },
    deadLetter: deadLetter!,
    deadLetterOptions: entry?.routeOptionsSchema ? validateOptions(entry.routeOptionsSchema, {}).value : {},
    signingSecretEnv,
    line,
  };
}

function lintHeaders(deliver: MapReader): Record<string, string> | undefined {
  const node = deliver.node('headers');
  if (node === undefined) return {};
  if (!isMap(node)) {
    deliver.report(node, 'wrong_type', '"headers" must be a map of header name to value');
    return undefined;
  }
  const headers: Record<string, string> = {};
  for (const pair of node.items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : '';
    const value = isScalar(pair.value) ? pair.value.value : undefined;
    if (!HEADER_NAME.test(name)) deliver.report(pair.key as Node, 'bad_header_name', `"${name}" is not a valid header name`);
    else if (isReservedDeliveryHeader(name)) deliver.report(pair.key as Node, 'reserved_header', `"${name}" is set by busgate on every delivery`);
    else if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
      deliver.report(pair.value as Node, 'wrong_type', `header "${name}" must have a plain value`);
    else if (/[\r\n\0]/.test(String(value))) deliver.report(pair.value as Node, 'wrong_type', `header "${name}" must not contain line breaks`);
    else headers[name.toLowerCase()] = String(value);
  }
  return headers;
}

/** `cloudevents: binary | structured` and the `eventType` of the events busgate builds. */
function lintCloudEvents(deliver: MapReader): { cloudEvents?: CloudEventMode; eventType?: string } {
  const modeNode = deliver.node('cloudevents');
  const typeNode = deliver.node('eventType');
  const result: { cloudEvents?: CloudEventMode; eventType?: string } = {};
  if (modeNode !== undefined) {
    const mode = isScalar(modeNode) ? modeNode.value : undefined;
    if (typeof mode === 'string' && (CLOUDEVENT_MODES as readonly string[]).includes(mode)) result.cloudEvents = mode as CloudEventMode;
    else deliver.report(modeNode, 'bad_cloudevents', `cloudevents must be one of ${CLOUDEVENT_MODES.join(', ')}`);
  }
  if (typeNode !== undefined) {
    const type = isScalar(typeNode) ? typeNode.value : undefined;
    if (modeNode === undefined) deliver.report(typeNode, 'bad_cloudevents', 'eventType needs cloudevents: binary or structured');
    else if (typeof type !== 'string' || type === '' || type.length > 256 || /[\0-\x1f\x7f]/.test(type))
      deliver.report(typeNode, 'bad_cloudevents', 'eventType must be a non-empty string (at most 256 characters, no control characters)');
    else result.eventType = type;
  }
  return result;
}

function lintSigning(top: MapReader, env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (top.node('signing') === undefined) return undefined;
  const signing = top.child('signing', ['secretEnv']);
  if (signing === undefined) return undefined;
  signing.required(['secretEnv']);
  const name = signing.text('secretEnv');
  if (name === undefined) return undefined;
  if (!ENV_NAME.test(name)) {
    signing.report(signing.node('secretEnv'), 'bad_secret', `"${name}" is not an environment variable name`);
    return undefined;
  }
  const secret = env[name];
  // The secret itself never appears in a message; only whether it is usable.
  if (secret === undefined || secret === '') signing.report(signing.node('secretEnv'), 'missing_secret', `environment variable ${name} is not set`);
  else if (!isUsableSecret(secret))
    signing.report(signing.node('secretEnv'), 'bad_secret', `${name} must hold a Standard Webhooks secret: "whsec_" followed by base64 (at least 24 bytes)`);
  return name;
}

/** whsec_ + base64 of 24 to 64 bytes, as the Standard Webhooks specification recommends. */
export function isUsableSecret(secret: string): boolean {
  const encoded = secret.startsWith('whsec_') ? secret.slice(6) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return false;
  const bytes = Buffer.from(encoded, 'base64').length;
  return bytes >= 24 && bytes <= 64;
}

function isWebhookUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.hash === '';
  } catch {
    return false;
  }
}
