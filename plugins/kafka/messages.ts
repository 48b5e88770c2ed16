/**
 * busgate messages <-> Kafka records: which headers busgate writes, and how a consumed record is
 * presented to handlers. The header names here are the responder contract in README.md.
 */
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { MESSAGE_ID_HEADER } from '../../core/brokers/kit.js';
import type { InboundMessage, OutboundMessage } from '../../core/plugins/contract.js';

export const HEADER_ID = MESSAGE_ID_HEADER;
export const HEADER_CONTENT_TYPE = 'content-type';
export const HEADER_REPLY_TO = 'reply-to';
export const HEADER_CORRELATION_ID = 'correlation-id';

/**
 * Headers only the plugin may set. A client-supplied `reply-to` on a pubsub message would make
 * a responder reading that topic answer into a topic of the client's choosing.
 */
export const PLUGIN_HEADERS: readonly string[] = [HEADER_ID, HEADER_CONTENT_TYPE, HEADER_REPLY_TO, HEADER_CORRELATION_ID];
const PLUGIN_HEADER_SET = new Set(PLUGIN_HEADERS);

export function outboundHeaders(message: OutboundMessage, control: Readonly<Record<string, string>> = {}): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    if (!PLUGIN_HEADER_SET.has(name.toLowerCase())) headers[name.toLowerCase()] = value;
  }
  headers[HEADER_ID] = message.id;
  if (message.contentType !== undefined) headers[HEADER_CONTENT_TYPE] = message.contentType;
  return Object.assign(headers, control);
}

function headerText(value: IHeaders[string]): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.map((part) => part.toString()).join(', ');
  return value.toString();
}

export function inboundMessage(topic: string, record: KafkaMessage): InboundMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    const text = headerText(value);
    if (text !== undefined) headers[name.toLowerCase()] = text;
  }
  const contentType = headers[HEADER_CONTENT_TYPE];
  return {
    destination: topic,
    payload: record.value ?? Buffer.alloc(0),
    headers,
    ...(contentType !== undefined ? { contentType } : {}),
    ...(record.key !== null ? { key: record.key.toString() } : {}),
  };
}

/** A reply's own headers, without the plumbing that carried it back. */
export function replyHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const own: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!PLUGIN_HEADER_SET.has(name)) own[name] = value;
  return own;
}
