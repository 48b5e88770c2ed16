/**
 * The Kafka plugin's options: the JSON Schemas the core validates (and fills defaults from) and the
 * TypeScript shapes the plugin reads afterwards. README.md documents every field; keep them in step.
 */
import type { JsonSchema } from '../../core/plugins/contract.js';

type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';
/** One member per mechanism, the shape kafkajs's SASLOptions union takes. */
export type KafkaSasl = {
  [M in SaslMechanism]: { readonly mechanism: M; readonly username: string; readonly password: string };
}[SaslMechanism];

export interface KafkaOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly ssl?: boolean;
  readonly sasl?: KafkaSasl;
  readonly replyTopic: string;
  readonly createTopics: boolean;
  readonly newTopicPartitions?: number;
  readonly batch: { readonly maxMessages: number; readonly lingerMs: number; readonly maxBytes: number };
  readonly connectionTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    brokers: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', minLength: 1 },
      default: ['127.0.0.1:9092'],
      description: 'Bootstrap brokers as host:port (the KAFKA_BROKERS environment variable fills this).',
    },
    clientId: { type: 'string', minLength: 1, default: 'busgate' },
    ssl: { type: 'boolean', description: 'Connect with TLS using the system trust store.' },
    sasl: {
      type: 'object',
      additionalProperties: false,
      required: ['mechanism', 'username', 'password'],
      properties: {
        mechanism: { enum: ['plain', 'scram-sha-256', 'scram-sha-512'] },
        username: { type: 'string' },
        password: { type: 'string' },
      },
    },
    replyTopic: {
      type: 'string',
      pattern: '^[A-Za-z0-9._-]{1,249}$',
      default: 'busgate.replies',
      description: 'Topic this daemon reads request-reply answers from; may be shared by instances.',
    },
    createTopics: {
      type: 'boolean',
      default: false,
      description: 'Create missing topics (including the reply topic). For development and tests.',
    },
    newTopicPartitions: {
      type: 'integer',
      minimum: 1,
      description: 'Partitions of topics created by createTopics; absent: the broker default.',
    },
    batch: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxMessages: { type: 'integer', minimum: 1, default: 500 },
        // 0: an idle producer sends at once; while a send is in flight, new messages gather anyway.
        lingerMs: { type: 'integer', minimum: 0, default: 0 },
        // Like the Java producer's max.request.size: no produce request (nor record batch) is
        // larger, and the broker's message.max.bytes, read at connect time, lowers it further.
        maxBytes: { type: 'integer', minimum: 1024, default: 1_048_576 },
      },
    },
    connectionTimeoutMs: { type: 'integer', minimum: 100, default: 1000 },
    requestTimeoutMs: { type: 'integer', minimum: 100, default: 5000 },
  },
};

export interface KafkaRouteOptions {
  /** Produce every message of the route to this partition instead of hashing the key. */
  readonly partition?: number;
  /** Consumer group of point-to-point subscribers (default `busgate.<topic>`). */
  readonly group?: string;
}

export const routeOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    partition: { type: 'integer', minimum: 0 },
    group: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,249}$' },
  },
};

/** Route options arrive validated by the core; this only narrows their type. */
export function routeOptionsFrom(options: Readonly<Record<string, unknown>> | undefined): KafkaRouteOptions {
  const partition = options?.partition;
  const group = options?.group;
  return {
    ...(typeof partition === 'number' ? { partition } : {}),
    ...(typeof group === 'string' ? { group } : {}),
  };
}
