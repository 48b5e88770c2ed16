/**
 * The broker-instance options and the per-route options of the RabbitMQ plugin: one TypeBox schema
 * each, from which the JSON Schema (which validates, defaults and documents them) and the typed
 * view the plugin works with are both derived.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DEFAULT_MAX_MESSAGE_BYTES } from './limits.js';

export const EXCHANGE_TYPES = ['fanout', 'topic', 'direct', 'headers'] as const;
export type ExchangeType = (typeof EXCHANGE_TYPES)[number];

/** RabbitMQ's durable queue types busgate declares: quorum queues are replicated (Raft) and fsync before they confirm. */
export const QUEUE_TYPES = ['classic', 'quorum'] as const;
export type QueueType = (typeof QUEUE_TYPES)[number];

const reconnectSchema = Type.Object(
  {
    initialDelayMs: Type.Integer({ minimum: 0, default: 200 }),
    maxDelayMs: Type.Integer({ minimum: 1, default: 10_000 }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Backoff after a lost connection: exponential from initialDelayMs, jittered, capped at maxDelayMs.',
  },
);

export type ReconnectOptions = Readonly<Static<typeof reconnectSchema>>;

export const optionsSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^amqps?://',
      default: 'amqp://guest:guest@127.0.0.1:5672',
      description:
        "AMQP URL (env AMQP_URL), or a cluster's nodes as a comma-separated list of them: a lost connection reconnects to the next node. Passwords are never logged nor shown in /ready.",
    }),
    heartbeatSeconds: Type.Integer({
      minimum: 0,
      maximum: 600,
      default: 15,
      description: 'AMQP heartbeat; a silent connection is declared dead after about two of them. 0 disables.',
    }),
    reconnect: reconnectSchema,
    prefetch: Type.Integer({
      minimum: 1,
      maximum: 65535,
      default: 16,
      description: 'Unacknowledged messages each consumer or responder may hold at once.',
    }),
    declare: Type.Boolean({
      default: false,
      description:
        'Declare the missing exchanges and queues of routes with a fixed destination (durable) when busgate connects, before their routes are served. Never on the send path; templated destinations are not declared.',
    }),
    queueType: Type.Union(
      QUEUE_TYPES.map((type) => Type.Literal(type)),
      {
        default: 'classic',
        description:
          "Type of the point-to-point queues busgate declares (declare: true, or a consumer of a missing queue). quorum is RabbitMQ's recommended type for data safety. An existing queue is used as it is.",
      },
    ),
    connectTimeoutMs: Type.Integer({ minimum: 1, default: 5_000, description: 'How long one TCP + AMQP handshake attempt may take.' }),
    closeTimeoutMs: Type.Integer({
      minimum: 0,
      default: 5_000,
      description: 'How long close() waits for unconfirmed publishes and pending replies.',
    }),
    maxMessageBytes: Type.Integer({
      minimum: 1,
      default: DEFAULT_MAX_MESSAGE_BYTES,
      description:
        "The server's max_message_size (AMQP does not announce it; RabbitMQ's default is 128 MiB): larger bodies are refused with 413 before sending.",
    }),
  },
  { additionalProperties: false },
);

export type RabbitMqOptions = Readonly<Static<typeof optionsSchema>>;

export const routeOptionsSchema = Type.Object(
  {
    exchangeType: Type.Optional(
      Type.Union(
        EXCHANGE_TYPES.map((type) => Type.Literal(type)),
        { description: 'Exchange type used when the plugin declares the exchange (declare: true) and to pick a binding key for subscribers. Default topic.' },
      ),
    ),
    routingKey: Type.Optional(Type.String({ maxLength: 255, description: 'Static routing key used when the route renders no key.' })),
    queueType: Type.Optional(
      Type.Union(
        QUEUE_TYPES.map((type) => Type.Literal(type)),
        { description: "This point-to-point route's queue type when busgate declares the queue; default: the broker's queueType." },
      ),
    ),
  },
  { additionalProperties: false },
);

/** The route options the plugin reads; anything else was already refused by routeOptionsSchema. */
export type RouteOptions = Readonly<Static<typeof routeOptionsSchema>>;

/**
 * The core validated the options and filled the schema's defaults before create(); create()
 * called directly (tests, embedders) gets the same defaults from the same schema here. The
 * reconnect ceiling is never below its start.
 */
export function resolveOptions(raw: Readonly<Record<string, unknown>>): RabbitMqOptions {
  const filled = Value.Default(optionsSchema, structuredClone(raw)) as RabbitMqOptions;
  const initialDelayMs = numberOr(filled.reconnect.initialDelayMs, 200);
  return {
    ...filled,
    reconnect: { initialDelayMs, maxDelayMs: Math.max(initialDelayMs, numberOr(filled.reconnect.maxDelayMs, 10_000)) },
    prefetch: Math.max(1, numberOr(filled.prefetch, 16)),
  };
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fallback;
}
