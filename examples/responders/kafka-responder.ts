/**
 * A standalone responder for busgate request-reply routes on Kafka. It needs only kafkajs, no
 * busgate code: this is the whole contract.
 *
 *   - Consume the route's topic in a consumer group, so that several copies share the load.
 *   - Each request carries two headers: `reply-to` (the topic busgate reads replies from) and
 *     `correlation-id` (which request this is).
 *   - Produce the reply to the `reply-to` topic with the same `correlation-id` header. Set
 *     `content-type` for the reply body's media type; other reply headers travel back to the
 *     HTTP client with the reply. Requests also carry `busgate-id` and, when known, `content-type`.
 *   - Kafka cannot tell busgate that nobody consumes a topic: without a responder the HTTP client
 *     gets 504 reply_timeout, never a quick 503.
 *
 * Run it:  node dist/examples/responders/kafka-responder.js <topic> [brokers]
 * This one echoes the request back as JSON.
 */
import { pathToFileURL } from 'node:url';
import kafkajs, { type IHeaders, type KafkaMessage } from 'kafkajs';

const { Kafka, Partitioners, logLevel } = kafkajs;

export interface KafkaResponderOptions {
  /** Comma-separated host:port list; defaults to KAFKA_BROKERS or 127.0.0.1:9092. */
  readonly brokers?: string;
  readonly topic: string;
  /** Responders in one group split the requests between them. */
  readonly group?: string;
  /**
   * Where a new group starts. Production responders want only new requests (false); a test with
   * a fresh topic can read it all, so no request races the group's first fetch.
   */
  readonly fromBeginning?: boolean;
}

export interface KafkaResponder {
  close(): Promise<void>;
}

export async function startKafkaResponder(options: KafkaResponderOptions): Promise<KafkaResponder> {
  const brokers = (options.brokers ?? process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const kafka = new Kafka({ clientId: 'busgate-example-responder', brokers, logLevel: logLevel.WARN });
  const producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({ groupId: options.group ?? `example-responders.${options.topic}` });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [options.topic], fromBeginning: options.fromBeginning ?? false });

  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      const replyTo = text(message.headers, 'reply-to');
      const correlationId = text(message.headers, 'correlation-id');
      // Not a request (a plain publish to the same topic): nothing to answer.
      if (replyTo === undefined || correlationId === undefined) return;
      await producer.send({
        topic: replyTo,
        acks: -1,
        messages: [{ value: JSON.stringify(echo(topic, message)), headers: replyHeadersFor(correlationId) }],
      });
    },
  });
  await joined;
  return {
    close: async () => {
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}

function echo(topic: string, message: KafkaMessage): Record<string, unknown> {
  return {
    echo: message.value?.toString() ?? '',
    topic,
    busgateId: text(message.headers, 'busgate-id') ?? null,
    contentType: text(message.headers, 'content-type') ?? null,
  };
}

function replyHeadersFor(correlationId: string): IHeaders {
  return { 'correlation-id': correlationId, 'content-type': 'application/json', 'x-responder': 'kafka-example' };
}

function text(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value[0] : value)?.toString();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [topic, brokers] = process.argv.slice(2);
  if (topic === undefined) {
    console.error('usage: node dist/examples/responders/kafka-responder.js <topic> [brokers]');
    process.exit(2);
  }
  const responder = await startKafkaResponder({ topic, ...(brokers !== undefined ? { brokers } : {}) }).catch((error: unknown) => {
    // e.g. "This server does not host this topic-partition": the topic does not exist yet.
    console.error(`kafka-responder: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
  console.log(`answering requests on Kafka topic "${topic}"; Ctrl-C stops`);
  const stop = (): void => {
    void responder.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
