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

/** NDJSON under its common names: one JSON text per line. */
export const NDJSON_TYPES: readonly string[] = ['application/x-ndjson', 'application/ndjson', 'application/jsonl'];

export interface BodyEntry {
  readonly payload: Buffer;
  readonly contentType: string | undefined;
  /** Set when the entry is a CloudEvent: its context attributes (data content type excluded). */
  readonly cloudEvent: CloudEventAttributes | undefined;
}

export type InterpretedBody = { readonly kind: 'single'; readonly entry: BodyEntry } | { readonly kind: 'batch'; readonly entries: readonly BodyEntry[] };

export function interpretBody(contract: RouteContract, headers: IncomingHttpHeaders, payload: Buffer): InterpretedBody {
  const media = mediaTypeOf(headers);
  const events = contract.cloudEvents !== 'off';
  const isBatch = (events && media === BATCH_TYPE) || (contract.batch !== undefined && media !== undefined && NDJSON_TYPES.includes(media));
  const mustRead = contract.bodySchema !== undefined || isBatch || (events && media === STRUCTURED_TYPE);
  const encoding = headers['content-encoding'];
  if (mustRead && encoding !== undefined && encoding !== 'identity') {
    throw new BusgateError('unsupported_media_type', `this route reads the body (schema, batch or CloudEvent), so it cannot take Content-Encoding ${encoding.slice(0, 40)}`);
  }

  if (events && media === BATCH_TYPE) {
    if (!contract.batch) throw new BusgateError('unsupported_media_type', `${BATCH_TYPE} needs a route with batch: true`);
    const entries = fromBatch(payload, contract.batch.maxEntries).map((event) => ({ payload: event.data, contentType: event.dataContentType, cloudEvent: event.attributes }));
    checkEntries(contract.bodySchema, entries, (index) => `/${index}/data`);
    return { kind: 'batch', entries };
  }
  if (isBatch) {
    if (contract.cloudEvents === 'required') throw new BusgateError('invalid_cloudevent', `this route takes only CloudEvents; send a batch as ${BATCH_TYPE}`);
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
    throw new BusgateError('invalid_cloudevent', `this route takes only CloudEvents: ce-specversion, ce-id, ce-source and ce-type headers (binary mode) or ${STRUCTURED_TYPE}`);
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
      for (const detail of details ?? []) if (problems.length < MAX_REPORTED_PROBLEMS) problems.push({ pointer: `${pointerOf(index)}${detail.pointer}`, problem: detail.problem });
    }
  }
  if (failed > 0) {
    throw new BusgateError('invalid_body', `${failed} of ${entries.length} entries are not valid JSON or do not match the route's schema; nothing was published`, { details: problems });
  }
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
      if (lines.length === maxEntries) throw new BusgateError('too_many_entries', `the batch has more than ${maxEntries} lines; this route takes at most ${maxEntries}`);
      lines.push(payload.subarray(start, stop));
    }
    start = end + 1;
  }
  if (lines.length === 0) throw new BusgateError('invalid_body', 'the batch has no entries', { details: [{ pointer: '', problem: 'is empty' }] });
  return lines;
}
