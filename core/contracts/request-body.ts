/**
 * What a request body means for a route: one message, or (on a batch route) many, each with its
 * bytes, content type and CloudEvents attributes; checked against the route's schema. Everything
 * here happens before the broker is asked, so a refused request publishes nothing: a batch with
 * one bad entry is refused whole (the answer points at the entries at fault).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { BusgateError } from '../errors.js';
import { MAX_REPORTED_PROBLEMS, checkJsonBody, type BodyProblem, type BodySchema } from './body-schema.js';
import { BATCH_TYPE, STRUCTURED_TYPE, fromBatch, fromBinary, fromStructured, isBinaryEvent, mediaTypeOf, type CloudEventAttributes } from './cloudevents.js';
import type { RouteContract } from './route-contract.js';

/** The envelope form of a batch: a JSON array of { body | bodyBase64, contentType?, key?, headers? }. */
export const ENVELOPE_TYPE = 'application/vnd.busgate.batch+json';

/** NDJSON under its common names: one JSON text per line. */
export const NDJSON_TYPES: readonly string[] = ['application/x-ndjson', 'application/ndjson', 'application/jsonl'];

export interface BodyEntry {
  readonly payload: Buffer;
  readonly contentType: string | undefined;
  /** Set when the entry is a CloudEvent: its context attributes (data content type excluded). */
  readonly cloudEvent: CloudEventAttributes | undefined;
  /** Envelope form: this entry's own partition/routing key (checked by the broker's key rule). */
  readonly key?: string;
  /** Envelope form: this entry's values of headers the route forwards. */
  readonly headers?: Readonly<Record<string, string>>;
}

export type InterpretedBody = { readonly kind: 'single'; readonly entry: BodyEntry } | { readonly kind: 'batch'; readonly entries: readonly BodyEntry[] };

export function interpretBody(contract: RouteContract, headers: IncomingHttpHeaders, payload: Buffer, forwardHeaders: readonly string[] = []): InterpretedBody {
  const media = mediaTypeOf(headers);
  const events = contract.cloudEvents !== 'off';
  const isBatch =
    (events && media === BATCH_TYPE) || (contract.batch !== undefined && media !== undefined && (NDJSON_TYPES.includes(media) || media === ENVELOPE_TYPE));
  const mustRead = contract.bodySchema !== undefined || isBatch || (events && media === STRUCTURED_TYPE);
  const encoding = headers['content-encoding'];
  if (mustRead && encoding !== undefined && encoding !== 'identity') {
    throw new BusgateError(
      'unsupported_media_type',
      `this route reads the body (schema, batch or CloudEvent), so it cannot take Content-Encoding ${encoding.slice(0, 40)}`,
    );
  }

  if (events && media === BATCH_TYPE) {
    if (!contract.batch) throw new BusgateError('unsupported_media_type', `${BATCH_TYPE} needs a route with batch: true`);
    const entries = fromBatch(payload, contract.batch.maxEntries).map((event) => ({
      payload: event.data,
      contentType: event.dataContentType,
      cloudEvent: event.attributes,
    }));
    checkEntries(contract.bodySchema, entries, (index) => `/${index}/data`);
    return { kind: 'batch', entries };
  }
  if (isBatch) {
    if (contract.cloudEvents === 'required') throw new BusgateError('invalid_cloudevent', `this route takes only CloudEvents; send a batch as ${BATCH_TYPE}`);
    if (media === ENVELOPE_TYPE) {
      const entries = envelopes(payload, contract.batch!.maxEntries, forwardHeaders);
      checkEntries(contract.bodySchema, entries, (index) => `/${index}/body`);
      return { kind: 'batch', entries };
    }
    const entries = ndjsonLines(payload, contract.batch!.maxEntries).map((line) => ({ payload: line, contentType: 'application/json', cloudEvent: undefined }));
    checkEntries(contract.bodySchema ?? ANY_JSON, entries, (index) => `/${index}`);
    return { kind: 'batch', entries };
  }

  let entry: BodyEntry;
  if (events && media === STRUCTURED_TYPE) {
    const event = fromStructured(payload);
    entry = { payload: event.data, contentType: event.dataContentType, cloudEvent: event.attributes };
  } else if (events && isBinaryEvent(headers)) {
    const event = fromBinary(headers, payload);
    entry = { payload: event.data, contentType: event.dataContentType, cloudEvent: event.attributes };
  } else if (contract.cloudEvents === 'required') {
    throw new BusgateError(
      'invalid_cloudevent',
      `this route takes only CloudEvents: ce-specversion, ce-id, ce-source and ce-type headers (binary mode) or ${STRUCTURED_TYPE}`,
    );
  } else {
    entry = { payload, contentType: headers['content-type'], cloudEvent: undefined };
  }
  if (contract.bodySchema) checkJsonBody(contract.bodySchema, entry.payload);
  return { kind: 'single', entry };
}

/** Any JSON value: what an NDJSON line must be when the route has no schema. */
const ANY_JSON: BodySchema = { source: 'json', document: {}, check: () => [] };

/** Checks every entry and reports the first few failures of the whole batch, with their index. */
function checkEntries(schema: BodySchema | undefined, entries: readonly BodyEntry[], pointerOf: (index: number) => string): void {
  if (!schema) return;
  const problems: BodyProblem[] = [];
  let failed = 0;
  for (const [index, entry] of entries.entries()) {
    try {
      checkJsonBody(schema, entry.payload);
    } catch (error) {
      failed += 1;
      const details = (error as BusgateError).details as readonly BodyProblem[] | undefined;
      for (const detail of details ?? [])
        if (problems.length < MAX_REPORTED_PROBLEMS) problems.push({ pointer: `${pointerOf(index)}${detail.pointer}`, problem: detail.problem });
    }
  }
  if (failed > 0) {
    throw new BusgateError(
      'invalid_body',
      `${failed} of ${entries.length} entries are not valid JSON or do not match the route's schema; nothing was published`,
      { details: problems },
    );
  }
}

const ENVELOPE_KEYS = new Set(['body', 'bodyBase64', 'contentType', 'key', 'headers']);
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** The envelope form: each entry's body, content type, key and forwarded headers, checked. */
function envelopes(payload: Buffer, maxEntries: number, forwardHeaders: readonly string[]): BodyEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new BusgateError('invalid_body', 'the batch is not valid JSON', { details: [{ pointer: '', problem: 'is not valid JSON' }] });
  }
  if (!Array.isArray(value) || value.length === 0)
    throw new BusgateError('invalid_body', `${ENVELOPE_TYPE} is a non-empty JSON array of entries`, {
      details: [{ pointer: '', problem: 'must be a non-empty array' }],
    });
  if (value.length > maxEntries) throw new BusgateError('too_many_entries', `the batch has ${value.length} entries; this route takes at most ${maxEntries}`);
  return value.map((entry: unknown, index): BodyEntry => {
    const refuse = (field: string, problem: string): BusgateError =>
      new BusgateError('invalid_body', `entry ${index}: ${field} ${problem}`, {
        details: [{ pointer: `/${index}${field === '' ? '' : `/${field}`}`, problem }],
      });
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw refuse('', 'must be an object');
    const record = entry as Record<string, unknown>;
    const unknown = Object.keys(record).find((key) => !ENVELOPE_KEYS.has(key));
    if (unknown !== undefined) throw refuse(unknown.slice(0, 40), 'is not allowed (body, bodyBase64, contentType, key, headers)');
    if ('body' in record === 'bodyBase64' in record) throw refuse('', 'needs exactly one of body and bodyBase64');
    if (record.contentType !== undefined && typeof record.contentType !== 'string') throw refuse('contentType', 'must be a string');
    if (record.bodyBase64 !== undefined && typeof record.bodyBase64 !== 'string') throw refuse('bodyBase64', 'must be a string');
    if (record.key !== undefined && typeof record.key !== 'string') throw refuse('key', 'must be a string');
    const entryHeaders: Record<string, string> = {};
    if (record.headers !== undefined) {
      if (typeof record.headers !== 'object' || record.headers === null || Array.isArray(record.headers))
        throw refuse('headers', 'must be an object of strings');
      for (const [name, text] of Object.entries(record.headers as Record<string, unknown>)) {
        const lower = name.toLowerCase();
        // Only what the route forwards anyway: an entry cannot set broker control headers.
        if (!forwardHeaders.includes(lower))
          throw refuse('headers', `"${name.slice(0, 40)}" is not a header this route forwards (${forwardHeaders.join(', ') || 'none'})`);
        if (typeof text !== 'string' || CONTROL_CHARACTERS.test(text)) throw refuse('headers', `"${lower}" must be a string without control characters`);
        entryHeaders[lower] = text;
      }
    }
    const contentType =
      typeof record.contentType === 'string' ? record.contentType : record.bodyBase64 === undefined ? 'application/json' : 'application/octet-stream';
    const bytes = typeof record.bodyBase64 === 'string' ? Buffer.from(record.bodyBase64, 'base64') : Buffer.from(JSON.stringify(record.body));
    return {
      payload: bytes,
      contentType,
      cloudEvent: undefined,
      ...(typeof record.key === 'string' ? { key: record.key } : {}),
      ...(Object.keys(entryHeaders).length === 0 ? {} : { headers: entryHeaders }),
    };
  });
}

/** Splits NDJSON into its non-empty lines (a trailing newline and CRLF line ends are fine). */
function ndjsonLines(payload: Buffer, maxEntries: number): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  while (start < payload.length) {
    let end = payload.indexOf(0x0a, start);
    if (end === -1) end = payload.length;
    const stop = end > start && payload[end - 1] === 0x0d ? end - 1 : end;
    if (stop > start) {
      if (lines.length === maxEntries)
        throw new BusgateError('too_many_entries', `the batch has more than ${maxEntries} lines; this route takes at most ${maxEntries}`);
      lines.push(payload.subarray(start, stop));
    }
    start = end + 1;
  }
  if (lines.length === 0) throw new BusgateError('invalid_body', 'the batch has no entries', { details: [{ pointer: '', problem: 'is empty' }] });
  return lines;
}
