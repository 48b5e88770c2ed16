/**
 * What RabbitMQ (or amqplib, before it) answers by closing the channel or the connection, checked
 * before anything is written. Every request shares the publishing channel and the connection, so
 * one client's 300-byte Content-Type must be that client's 400, never a closed channel that fails
 * the confirms of everyone else and feeds the circuit breaker.
 *
 * - AMQP short strings (exchange, routing key, content type, message id, header names): 255 bytes.
 * - The properties (header table included) travel in one header frame, which must fit frame_max,
 *   negotiated at connect time (RabbitMQ's default is 131072); amqplib itself encodes a header
 *   table into a 64 KiB buffer and throws beyond it.
 * - The body must fit the server's max_message_size, which AMQP does not announce: the
 *   `maxMessageBytes` option, RabbitMQ's default (128 MiB) unless the operator lowered it.
 */
import { BusgateError } from '../../core/errors.js';
import type { OutboundMessage } from '../../core/plugins/contract.js';

export const MAX_SHORT_STRING_BYTES = 255;
/** RabbitMQ's default max_message_size (3.8 and later). */
export const DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
/**
 * The header frame besides the header table: frame and content-header framing, property flags,
 * the short-string properties (each at most 256 bytes, all checked below), timestamp, expiry.
 */
const HEADER_FRAME_FIXED_BYTES = 8 + 14 + 6 * 256 + 64;
/** amqplib's encoding buffer for one field table. */
const AMQPLIB_TABLE_BUFFER_BYTES = 65_536;

export interface RabbitMqLimits {
  readonly maxShortStringBytes: number;
  readonly frameMaxBytes: number;
  /** The header table may use what the header frame leaves. */
  readonly maxHeaderTableBytes: number;
  readonly maxMessageBytes: number;
}

export function rabbitMqLimits(frameMax: number | undefined, maxMessageBytes: number): RabbitMqLimits {
  // 0 (or absent) means "no limit" in AMQP tuning; RabbitMQ always sends one, 131072 by default.
  const frameMaxBytes = frameMax === undefined || frameMax === 0 ? 131_072 : frameMax;
  return {
    maxShortStringBytes: MAX_SHORT_STRING_BYTES,
    frameMaxBytes,
    maxHeaderTableBytes: Math.min(frameMaxBytes - HEADER_FRAME_FIXED_BYTES, AMQPLIB_TABLE_BUFFER_BYTES),
    maxMessageBytes,
  };
}

function tooLong(what: string, bytes: number, limit: number): BusgateError {
  return new BusgateError('exceeds_broker_limit', `${what} is ${bytes} bytes; RabbitMQ accepts at most ${limit}; nothing was sent`);
}

function checkShortString(what: string, value: string | undefined, limits: RabbitMqLimits): void {
  if (value === undefined) return;
  const bytes = Buffer.byteLength(value);
  if (bytes > limits.maxShortStringBytes) throw tooLong(what, bytes, limits.maxShortStringBytes);
}

/** Refuses a message the channel or connection would be closed over. */
export function checkOutbound(exchange: string, routingKey: string, message: OutboundMessage, limits: RabbitMqLimits): void {
  checkShortString('the exchange name', exchange, limits);
  checkShortString('the routing key', routingKey, limits);
  checkShortString('the Content-Type', message.contentType, limits);
  checkShortString('the message id', message.id, limits);
  // A field table entry: name (short string), type octet, long-string length and value.
  let table = 4;
  for (const [name, value] of Object.entries(message.headers)) {
    checkShortString(`header name "${name.slice(0, 40)}"`, name, limits);
    table += 1 + Buffer.byteLength(name) + 1 + 4 + Buffer.byteLength(value);
  }
  if (table > limits.maxHeaderTableBytes) {
    throw tooLong(`the header table (frame_max ${limits.frameMaxBytes})`, table, limits.maxHeaderTableBytes);
  }
  if (message.payload.length > limits.maxMessageBytes) {
    throw new BusgateError(
      'message_too_large',
      `the message is ${message.payload.length} bytes; RabbitMQ accepts at most ${limits.maxMessageBytes} (max_message_size); nothing was sent`,
    );
  }
}
