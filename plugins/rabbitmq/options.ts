/**
 * The broker-instance options and the per-route options of the RabbitMQ plugin: their JSON Schemas
 * (which validate, default and document them) and the typed view the plugin works with.
 */
import { DEFAULT_MAX_MESSAGE_BYTES } from './limits.js';
import type { JsonSchema } from '../../core/plugins/contract.js';

export const EXCHANGE_TYPES = ['fanout', 'topic', 'direct', 'headers'] as const;
export type ExchangeType = (typeof EXCHANGE_TYPES)[number];

export interface ReconnectOptions {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export interface RabbitMqOptions {
  readonly url: string;
  readonly heartbeatSeconds: number;
  readonly reconnect: ReconnectOptions;
  readonly prefetch: number;
  readonly declare: boolean;
  readonly connectTimeoutMs: number;
  readonly closeTimeoutMs: number;
  /** The server's max_message_size (AMQP does not announce it). */
  readonly maxMessageBytes: number;
}

export const DEFAULT_OPTIONS: RabbitMqOptions = {
  url: 'amqp://guest:guest@127.0.0.1:5672',
  heartbeatSeconds: 15,
  reconnect: { initialDelayMs: 200, maxDelayMs: 10_000 },
  prefetch: 16,
  declare: false,
  connectTimeoutMs: 5_000,
  closeTimeoutMs: 5_000,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
};

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    url: {
      type: 'string',
      pattern: '^amqps?://',
      default: DEFAULT_OPTIONS.url,
      description: 'AMQP URL (env AMQP_URL). Its password is never logged nor shown in /ready.',
    },
    heartbeatSeconds: {
      type: 'integer',
      minimum: 0,
      maximum: 600,
      default: DEFAULT_OPTIONS.heartbeatSeconds,
      description: 'AMQP heartbeat; a silent connection is declared dead after about two of them. 0 disables.',
    },
    reconnect: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        initialDelayMs: { type: 'integer', minimum: 0, default: DEFAULT_OPTIONS.reconnect.initialDelayMs },
        maxDelayMs: { type: 'integer', minimum: 1, default: DEFAULT_OPTIONS.reconnect.maxDelayMs },
      },
      description: 'Backoff after a lost connection: exponential from initialDelayMs, jittered, capped at maxDelayMs.',
    },
    prefetch: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: DEFAULT_OPTIONS.prefetch,
      description: 'Unacknowledged messages each consumer or responder may hold at once.',
    },
    declare: {
      type: 'boolean',
      default: DEFAULT_OPTIONS.declare,
      description:
        'Development aid: declare missing exchanges and queues (durable) instead of rejecting messages for them.',
    },
    connectTimeoutMs: {
      type: 'integer',
      minimum: 1,
      default: DEFAULT_OPTIONS.connectTimeoutMs,
      description: 'How long one TCP + AMQP handshake attempt may take.',
    },
    closeTimeoutMs: {
      type: 'integer',
      minimum: 0,
      default: DEFAULT_OPTIONS.closeTimeoutMs,
      description: 'How long close() waits for unconfirmed publishes and pending replies.',
    },
    maxMessageBytes: {
      type: 'integer',
      minimum: 1,
      default: DEFAULT_OPTIONS.maxMessageBytes,
      description:
        "The server's max_message_size (AMQP does not announce it; RabbitMQ's default is 128 MiB): larger bodies are refused with 413 before sending.",
    },
  },
};

export const routeOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    exchangeType: {
      enum: [...EXCHANGE_TYPES],
      description: 'Exchange type used when the plugin declares the exchange (declare: true) and to pick a binding key for subscribers. Default topic.',
    },
    routingKey: {
      type: 'string',
      maxLength: 255,
      description: 'Static routing key used when the route renders no key.',
    },
  },
};

/**
 * ajv applies the schema defaults before create(); this repeats them so that create() called
 * directly (tests, embedders) gets the same values, and so the rest of the plugin is typed.
 */
export function resolveOptions(raw: Readonly<Record<string, unknown>>): RabbitMqOptions {
  const reconnect = isRecord(raw.reconnect) ? raw.reconnect : {};
  const initialDelayMs = numberOr(reconnect.initialDelayMs, DEFAULT_OPTIONS.reconnect.initialDelayMs);
  return {
    url: typeof raw.url === 'string' && raw.url !== '' ? raw.url : DEFAULT_OPTIONS.url,
    heartbeatSeconds: numberOr(raw.heartbeatSeconds, DEFAULT_OPTIONS.heartbeatSeconds),
    reconnect: {
      initialDelayMs,
      maxDelayMs: Math.max(initialDelayMs, numberOr(reconnect.maxDelayMs, DEFAULT_OPTIONS.reconnect.maxDelayMs)),
    },
    prefetch: Math.max(1, numberOr(raw.prefetch, DEFAULT_OPTIONS.prefetch)),
    declare: typeof raw.declare === 'boolean' ? raw.declare : DEFAULT_OPTIONS.declare,
    connectTimeoutMs: numberOr(raw.connectTimeoutMs, DEFAULT_OPTIONS.connectTimeoutMs),
    closeTimeoutMs: numberOr(raw.closeTimeoutMs, DEFAULT_OPTIONS.closeTimeoutMs),
    maxMessageBytes: Math.max(1, numberOr(raw.maxMessageBytes, DEFAULT_OPTIONS.maxMessageBytes)),
  };
}

/** The route options the plugin reads; anything else was already refused by routeOptionsSchema. */
export interface RouteOptions {
  readonly exchangeType?: ExchangeType;
  readonly routingKey?: string;
}

export function readRouteOptions(options: Readonly<Record<string, unknown>> | undefined): RouteOptions {
  if (options === undefined) return {};
  const type = options.exchangeType;
  return {
    exchangeType: (EXCHANGE_TYPES as readonly unknown[]).includes(type) ? (type as ExchangeType) : undefined,
    routingKey: typeof options.routingKey === 'string' ? options.routingKey : undefined,
  };
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fallback;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
