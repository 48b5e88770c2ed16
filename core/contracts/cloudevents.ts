/**
 * CloudEvents 1.0 over HTTP, as the HTTP protocol binding defines it: binary mode (attributes in
 * `ce-*` headers, the body is the data), structured mode (`application/cloudevents+json`, one JSON
 * object) and batch mode (`application/cloudevents-batch+json`, a JSON array of those). Each event
 * becomes data bytes + a content type + its attributes; the broker side writes the attributes the
 * way the broker's own CloudEvents binding says (see cloudEventHeaders below).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { BusgateError } from '../errors.js';

export const STRUCTURED_TYPE = 'application/cloudevents+json';
export const BATCH_TYPE = 'application/cloudevents-batch+json';
export const HTTP_ATTRIBUTE_PREFIX = 'ce-';

/** Context attributes of one event (data and datacontenttype excluded), all as strings. */
export type CloudEventAttributes = Readonly<Record<string, string>>;

export interface CloudEventEntry {
  readonly data: Buffer;
  readonly dataContentType: string | undefined;
  readonly attributes: CloudEventAttributes;
}

/** CloudEvents 1.0: attribute names are lower-case letters and digits; the spec advises at most 20. */
const ATTRIBUTE_NAME = /^[a-z0-9]{1,20}$/;
const MAX_ATTRIBUTES = 64;
const MAX_VALUE_LENGTH = 4096;
/** RFC 3339 date-time, as the `time` attribute requires. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function mediaTypeOf(headers: IncomingHttpHeaders): string | undefined {
  return headers['content-type']?.split(';')[0]!.trim().toLowerCase();
}

export function isBinaryEvent(headers: IncomingHttpHeaders): boolean {
  return headers['ce-specversion'] !== undefined;
}

/** Binary mode: the attributes from the `ce-*` headers (percent-decoded), the body as data. */
export function fromBinary(headers: IncomingHttpHeaders, body: Buffer): CloudEventEntry {
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith(HTTP_ATTRIBUTE_PREFIX) || value === undefined) continue;
    const text = Array.isArray(value) ? value.join(',') : value;
    let decoded: string;
    try {
      decoded = decodeURIComponent(text);
    } catch {
      throw invalid(`header ${name} is not valid percent-encoding`);
    }
    attributes[name.slice(HTTP_ATTRIBUTE_PREFIX.length)] = decoded;
  }
  if ('datacontenttype' in attributes) throw invalid('binary mode carries the data content type in Content-Type, not ce-datacontenttype');
  const checked = checkAttributes(attributes, '');
  return { data: body, dataContentType: headers['content-type'], attributes: checked };
}

/** Structured mode: one JSON object with the attributes and `data` or `data_base64`. */
export function fromStructured(body: Buffer): CloudEventEntry {
  return fromJsonEvent(parseJson(body), '');
}

/** Batch mode: a JSON array of structured events. */
export function fromBatch(body: Buffer, maxEntries: number): CloudEventEntry[] {
  const value = parseJson(body);
  if (!Array.isArray(value)) throw invalid('a CloudEvents batch must be a JSON array of events');
  if (value.length > maxEntries) throw new BusgateError('too_many_entries', `the batch has ${value.length} events; this route takes at most ${maxEntries}`);
  return value.map((event, index) => fromJsonEvent(event, `/${index}`));
}

function fromJsonEvent(event: unknown, where: string): CloudEventEntry {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) throw invalid('an event must be a JSON object', where);
  const record = event as Record<string, unknown>;
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(record)) {
    if (name === 'data' || name === 'data_base64' || name === 'datacontenttype') continue;
    if (value === null) continue;
    // The CloudEvents type system: String, Boolean, Integer, URI, Timestamp, Binary; all travel as text.
    if (typeof value === 'string') attributes[name] = value;
    else if (typeof value === 'boolean' || (typeof value === 'number' && Number.isInteger(value))) attributes[name] = String(value);
    else throw invalid(`attribute "${name.slice(0, 40)}" must be a string, boolean or integer`, `${where}/${escapePointer(name)}`);
  }
  const checked = checkAttributes(attributes, where);
  const declared = record.datacontenttype;
  if (declared !== undefined && typeof declared !== 'string') throw invalid('datacontenttype must be a string', `${where}/datacontenttype`);
  if ('data' in record && 'data_base64' in record) throw invalid('an event has either data or data_base64, not both', where);
  if (typeof record.data_base64 === 'string') {
    return { data: Buffer.from(record.data_base64, 'base64'), dataContentType: declared, attributes: checked };
  }
  if (!('data' in record) || record.data === undefined) return { data: Buffer.alloc(0), dataContentType: declared, attributes: checked };
  const contentType = declared ?? 'application/json';
  // A JSON event's data is a JSON value; a text event's data is the string itself.
  const data = isJsonType(contentType) ? JSON.stringify(record.data) : typeof record.data === 'string' ? record.data : JSON.stringify(record.data);
  return { data: Buffer.from(data, 'utf8'), dataContentType: contentType, attributes: checked };
}

export function isJsonType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const media = contentType.split(';')[0]!.trim().toLowerCase();
  return media === 'application/json' || media.endsWith('+json') || media === 'text/json';
}

function checkAttributes(attributes: Record<string, string>, where: string): CloudEventAttributes {
  const names = Object.keys(attributes);
  if (names.length > MAX_ATTRIBUTES) throw invalid(`more than ${MAX_ATTRIBUTES} attributes`, where);
  for (const name of names) {
    if (!ATTRIBUTE_NAME.test(name)) throw invalid(`attribute name "${name.slice(0, 40)}" must be 1 to 20 lower-case letters or digits`, where);
    if (attributes[name]!.length > MAX_VALUE_LENGTH) throw invalid(`attribute "${name}" is longer than ${MAX_VALUE_LENGTH} characters`, `${where}/${name}`);
  }
  if (attributes.specversion === undefined) throw invalid('the event has no specversion', `${where}/specversion`);
  if (attributes.specversion !== '1.0') throw invalid(`specversion "${attributes.specversion.slice(0, 20)}" is not 1.0`, `${where}/specversion`);
  for (const required of ['id', 'source', 'type']) {
    if (attributes[required] === undefined || attributes[required] === '') throw invalid(`the event has no ${required}`, `${where}/${required}`);
  }
  if (attributes.time !== undefined && !RFC3339.test(attributes.time)) throw invalid('time must be an RFC 3339 timestamp', `${where}/time`);
  return attributes;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw invalid(`the body is not valid JSON: ${error instanceof Error ? error.message.slice(0, 200) : ''}`);
  }
}

function invalid(message: string, pointer = ''): BusgateError {
  return new BusgateError('invalid_cloudevent', message, { details: [{ pointer, problem: message }] });
}

function escapePointer(name: string): string {
  return name.slice(0, 40).replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * The event's attributes as broker message headers, under the broker's CloudEvents binding
 * prefix: `ce_` (Kafka), `cloudEvents:` (AMQP application properties), `ce-` (NATS, HTTP). The
 * data content type travels in the message's own content type.
 */
export function cloudEventHeaders(attributes: CloudEventAttributes, binding: CloudEventsBinding): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes)) headers[`${binding.attributePrefix}${name}`] = binding.percentEncoded ? percentEncode(value) : value;
  return headers;
}

export interface CloudEventsBinding {
  readonly attributePrefix: string;
  /** HTTP-style bindings (HTTP, NATS) percent-encode space, `"`, `%` and anything outside printable ASCII. */
  readonly percentEncoded?: boolean;
}

export const HTTP_BINDING: CloudEventsBinding = { attributePrefix: HTTP_ATTRIBUTE_PREFIX, percentEncoded: true };

function percentEncode(value: string): string {
  if (/^[\x21\x23\x24\x26-\x7e]*$/.test(value)) return value;
  return [...value]
    .map((char) =>
      /[\x21\x23\x24\x26-\x7e]/.test(char)
        ? char
        : [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
    )
    .join('');
}
