/**
 * The Kafka plugin's options: one TypeBox schema per options block. The JSON Schema the core
 * validates (and fills defaults from) and the TypeScript type the plugin reads are the same
 * object, so they cannot drift. README.md documents every field.
 */
import { Type, type Static } from '@sinclair/typebox';

const TOPIC_NAME = '^[A-Za-z0-9._-]{1,249}$';

/** One member per mechanism: the shape kafkajs's SASLOptions union takes. */
const saslWith = <M extends 'plain' | 'scram-sha-256' | 'scram-sha-512'>(mechanism: M) =>
  Type.Object({ mechanism: Type.Literal(mechanism), username: Type.String(), password: Type.String() }, { additionalProperties: false });
const sasl = Type.Union([saslWith('plain'), saslWith('scram-sha-256'), saslWith('scram-sha-512')]);

export const optionsSchema = Type.Object(
  {
    brokers: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      default: ['127.0.0.1:9092'],
      description: 'Bootstrap brokers as host:port (the KAFKA_BROKERS environment variable fills this).',
    }),
    clientId: Type.String({ minLength: 1, default: 'busgate' }),
    ssl: Type.Optional(Type.Boolean({ description: 'Connect with TLS using the system trust store.' })),
    sasl: Type.Optional(sasl),
    replyTopic: Type.String({
      pattern: TOPIC_NAME,
      default: 'busgate.replies',
      description: 'Topic this daemon reads request-reply answers from; may be shared by instances.',
    }),
    createTopics: Type.Boolean({
      default: false,
      description: 'Create missing topics (including the reply topic). For development and tests.',
    }),
    newTopicPartitions: Type.Optional(Type.Integer({ minimum: 1, description: 'Partitions of topics created by createTopics; absent: the broker default.' })),
    batch: Type.Object(
      {
        maxMessages: Type.Integer({ minimum: 1, default: 500 }),
        // 0: an idle producer sends at once; while a send is in flight, new messages gather anyway.
        lingerMs: Type.Integer({ minimum: 0, default: 0 }),
        // Like the Java producer's max.request.size: no produce request (nor record batch) is
        // larger, and the broker's message.max.bytes, read at connect time, lowers it further.
        maxBytes: Type.Integer({ minimum: 1024, default: 1_048_576 }),
      },
      { additionalProperties: false, default: {} },
    ),
    responderConcurrency: Type.Integer({
      minimum: 1,
      maximum: 4096,
      default: 64,
      description:
        'Requests one respond() handler serves at once (over all partitions of its topic). Replies go out as they are ready, not in request order; 1 serves them one by one.',
    }),
    connectionTimeoutMs: Type.Integer({ minimum: 100, default: 1000 }),
    requestTimeoutMs: Type.Integer({ minimum: 100, default: 5000 }),
  },
  { additionalProperties: false },
);

export type KafkaOptions = Readonly<Static<typeof optionsSchema>>;
export type KafkaSasl = Static<typeof sasl>;

export const routeOptionsSchema = Type.Object(
  {
    partition: Type.Optional(Type.Integer({ minimum: 0, description: 'Produce every message of the route to this partition instead of hashing the key.' })),
    group: Type.Optional(Type.String({ pattern: TOPIC_NAME, description: 'Consumer group of point-to-point subscribers (default `busgate.<topic>`).' })),
  },
  { additionalProperties: false },
);

export type KafkaRouteOptions = Readonly<Static<typeof routeOptionsSchema>>;
