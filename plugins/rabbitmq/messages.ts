/** amqplib messages as busgate's InboundMessage / Reply (string headers, optional content type). */
import type { Message } from 'amqplib';
import type { InboundMessage, Reply } from '../../core/plugins/contract.js';

/**
 * AMQP header tables carry typed values (numbers, booleans, byte arrays, nested tables) while
 * busgate headers are strings; header names are lower-cased like the rest of busgate's headers.
 */
export function stringHeaders(headers: Readonly<Record<string, unknown>> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (headers === undefined || headers === null) return result;
  for (const [name, value] of Object.entries(headers)) {
    const text = headerText(value);
    if (text !== undefined) result[name.toLowerCase()] = text;
  }
  return result;
}

function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value instanceof Date) return value.toISOString();
  try {
    return JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? inner.toString() : inner));
  } catch {
    return undefined;
  }
}

function contentTypeOf(message: Message): string | undefined {
  const type: unknown = message.properties.contentType;
  return typeof type === 'string' && type !== '' ? type : undefined;
}

/** A point-to-point message's key (its routing key is the queue name); see publishToQueue. */
export const KEY_HEADER = 'busgate-key';

export function toInbound(destination: string, message: Message): InboundMessage {
  const headers = stringHeaders(message.properties.headers);
  return {
    destination,
    payload: message.content,
    headers,
    contentType: contentTypeOf(message),
    key: headers[KEY_HEADER] ?? message.fields.routingKey,
  };
}

export function toReply(message: Message): Reply {
  return {
    payload: message.content,
    headers: stringHeaders(message.properties.headers),
    contentType: contentTypeOf(message),
  };
}
