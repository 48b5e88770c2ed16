/**
 * busgate messages <-> NATS headers. On the wire busgate adds `busgate-id` and `content-type`;
 * `Nats-*` names are the server's control channel (dedupe ids, expected-sequence checks, rollups),
 * so a client-supplied one is dropped rather than allowed to steer JetStream.
 */
import { MESSAGE_ID_HEADER } from '../../core/brokers/kit.js';
import { headers as createHeaders, InvalidArgumentError, type MsgHdrs } from '@nats-io/transport-node';
import { BusgateError } from '../../core/errors.js';

export const ID_HEADER = MESSAGE_ID_HEADER;
export const CONTENT_TYPE_HEADER = 'content-type';
/** NATS messages have no key; a route's key travels in this header (egress orders by it). */
export const KEY_HEADER = 'busgate-key';

export function isControlHeader(name: string): boolean {
  return name.toLowerCase().startsWith('nats-');
}

export interface HeaderSource {
  readonly headers: Readonly<Record<string, string>>;
  readonly contentType?: string;
  /** busgate's message id; when absent (a reply), a `busgate-id` among the headers is kept. */
  readonly id?: string;
  readonly key?: string;
}

export function toNatsHeaders(source: HeaderSource): MsgHdrs {
  const result = createHeaders();
  let contentType = source.contentType;
  const entries = Object.entries(source.headers);
  // append() adds a name without set()'s search-and-delete first (half of what a header cost per
  // message). It is only right for a name not there yet: true of lower-case names, which are
  // distinct object keys, and of busgate's own, which the loop leaves out. Two spellings of one
  // name ("X-A", "x-a") go through set(), so the last one wins as before.
  const distinct = entries.every(([name]) => name === name.toLowerCase());
  try {
    for (const [name, value] of entries) {
      const lower = name.toLowerCase();
      if (lower === CONTENT_TYPE_HEADER) contentType ??= value;
      // busgate's own headers come from the message itself, never from client input.
      if (isControlHeader(lower) || lower === CONTENT_TYPE_HEADER) continue;
      if (lower === ID_HEADER && source.id !== undefined) continue;
      if (lower === KEY_HEADER && source.key !== undefined) continue;
      if (distinct) result.append(lower, value);
      else result.set(lower, value);
    }
    if (source.id !== undefined) result.append(ID_HEADER, source.id);
    if (source.key !== undefined) result.append(KEY_HEADER, source.key);
    if (contentType !== undefined) result.append(CONTENT_TYPE_HEADER, contentType);
  } catch (error) {
    if (error instanceof InvalidArgumentError) {
      throw new BusgateError('bad_request', `a header cannot be sent over NATS: ${error.message}`, { cause: error });
    }
    throw error;
  }
  return result;
}

export interface ReadHeaders {
  readonly headers: Record<string, string>;
  readonly contentType?: string;
  readonly key?: string;
}

/** Header names come back lower case; repeated values are joined as HTTP does. */
export function fromNatsHeaders(source: MsgHdrs | undefined): ReadHeaders {
  const headers: Record<string, string> = {};
  let contentType: string | undefined;
  if (source === undefined) return { headers };
  for (const [name, values] of source) {
    const lower = name.toLowerCase();
    if (isControlHeader(lower)) continue;
    const value = values.join(', ');
    if (lower === CONTENT_TYPE_HEADER) contentType = value;
    else headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
  }
  const key = headers[KEY_HEADER];
  return { headers, ...(contentType === undefined ? {} : { contentType }), ...(key === undefined ? {} : { key }) };
}
