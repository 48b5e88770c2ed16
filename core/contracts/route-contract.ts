/**
 * The contract keys of a route (`schema`, `cloudevents`, `batch`): linted here, beside the rest
 * of the route, so one routes file still reports every problem with its line and column.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, parse as parseYaml, type Node, type YAMLMap } from 'yaml';
import type { Report } from '../routes/lint.js';
import { compileBodySchema, type BodySchema } from './body-schema.js';

export const CLOUDEVENTS_POLICIES = ['required', 'accepted', 'off'] as const;
export type CloudEventsPolicy = (typeof CLOUDEVENTS_POLICIES)[number];

/** A batch request carries at most this many entries unless the route says otherwise. */
export const DEFAULT_BATCH_ENTRIES = 100;
/** The most a route may allow; one request must stay a bounded amount of broker work. */
export const MAX_BATCH_ENTRIES = 1000;

export interface RouteContract {
  /** The body schema, compiled once; undefined: any bytes go through. */
  readonly bodySchema: BodySchema | undefined;
  readonly cloudEvents: CloudEventsPolicy;
  /** Present when the route takes many messages per request. */
  readonly batch: { readonly maxEntries: number } | undefined;
}

export const CONTRACT_KEYS = ['schema', 'cloudevents', 'batch'] as const;

export const NO_CONTRACT: RouteContract = { bodySchema: undefined, cloudEvents: 'accepted', batch: undefined };

/** Lints the contract keys of one route map; undefined when any of them has a problem (reported). */
export function lintContract(item: YAMLMap, baseDir: string, report: Report): RouteContract | undefined {
  let ok = true;
  const fail = (node: Node | undefined, code: Parameters<Report>[1], message: string): void => {
    report(node ?? item, code, message);
    ok = false;
  };

  let bodySchema: BodySchema | undefined;
  const schemaNode = item.get('schema', true) as Node | undefined;
  if (schemaNode !== undefined) {
    const loaded = loadSchema(schemaNode, baseDir);
    if ('problem' in loaded) fail(schemaNode, loaded.code, loaded.problem);
    else bodySchema = loaded.schema;
  }

  let cloudEvents: CloudEventsPolicy = 'accepted';
  const ceNode = item.get('cloudevents', true) as Node | undefined;
  if (ceNode !== undefined) {
    const value = isScalar(ceNode) ? ceNode.value : undefined;
    // YAML 1.1 habits: `off` may arrive as the boolean false.
    const text = value === false ? 'off' : value;
    if (typeof text === 'string' && (CLOUDEVENTS_POLICIES as readonly string[]).includes(text)) cloudEvents = text as CloudEventsPolicy;
    else fail(ceNode, 'bad_cloudevents', `cloudevents must be one of ${CLOUDEVENTS_POLICIES.join(', ')}`);
  }

  let batch: RouteContract['batch'];
  const batchNode = item.get('batch', true) as Node | undefined;
  if (batchNode !== undefined) {
    const parsed = parseBatch(batchNode);
    if (typeof parsed === 'string') fail(batchNode, 'bad_batch', parsed);
    else batch = parsed;
    if (batch && item.get('mode') === 'request-reply') fail(batchNode, 'bad_batch', 'a request-reply route cannot batch: each request waits for its one reply');
  }
  return ok ? { bodySchema, cloudEvents, batch } : undefined;
}

function parseBatch(node: Node): RouteContract['batch'] | string {
  const usage = `batch must be true, false or { maxEntries: 1..${MAX_BATCH_ENTRIES} }`;
  if (isScalar(node) && typeof node.value === 'boolean') return node.value ? { maxEntries: DEFAULT_BATCH_ENTRIES } : undefined;
  if (!isMap(node)) return usage;
  const value = node.toJSON() as Record<string, unknown>;
  const extra = Object.keys(value).filter((key) => key !== 'maxEntries');
  const maxEntries = value.maxEntries ?? DEFAULT_BATCH_ENTRIES;
  if (extra.length > 0 || typeof maxEntries !== 'number' || !Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > MAX_BATCH_ENTRIES) return usage;
  return { maxEntries };
}

type Loaded = { schema: BodySchema } | { code: 'schema_not_found' | 'schema_invalid'; problem: string };

/** `schema: ./schemas/order.json` (relative to the routes file; .json, .yaml or .yml) or an inline map. */
function loadSchema(node: Node, baseDir: string): Loaded {
  if (isMap(node)) return compiled('inline', node.toJSON());
  if (!isScalar(node) || typeof node.value !== 'string' || node.value === '') {
    return { code: 'schema_invalid', problem: 'schema must be a file path or an inline JSON Schema map' };
  }
  const written = node.value;
  const file = path.resolve(baseDir, written);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    return { code: 'schema_not_found', problem: `cannot read schema ${written}: ${reason}` };
  }
  let document: unknown;
  try {
    document = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    return {
      code: 'schema_invalid',
      problem: `${written}${positionOf(error, text)} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${firstLine(error)}`,
    };
  }
  return compiled(written, document);
}

function compiled(source: string, document: unknown): Loaded {
  const result = compileBodySchema(source, document);
  if ('problem' in result)
    return {
      code: 'schema_invalid',
      problem: `${source === 'inline' ? 'the inline schema' : source} is not a usable draft 2020-12 JSON Schema: ${result.problem}`,
    };
  return { schema: result };
}

/** ":LINE:COL" inside the schema file, from JSON.parse's "position N" or the YAML error. */
function positionOf(error: unknown, text: string): string {
  const yamlPos = (error as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
  if (yamlPos) return `:${yamlPos.line}:${yamlPos.col}`;
  const offset = /position (\d+)/.exec(String((error as Error).message))?.[1];
  if (offset === undefined) return '';
  const before = text.slice(0, Number(offset)).split('\n');
  return `:${before.length}:${before.at(-1)!.length + 1}`;
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error)
    .split('\n')[0]!
    .replace(/ at line \d+, column \d+:?$/, '')
    .replace(/ in JSON at position \d+.*$/, '')
    .slice(0, 200);
}
