/**
 * `node dist/bench/kafka-clients.js [seconds]`: the Kafka client alone (B2), kafkajs against
 * @platformatic/kafka, same broker, same settings: idempotent producer, acks=all, 256-byte value,
 * three headers, 50 concurrent callers each awaiting its own acknowledgement. Two ways to send:
 * "coalesced" (the plugin's way: one batch in flight, the rest queued for the next) and "single"
 * (each caller sends its own message; whatever batching the client does itself). Runs alternate
 * between the clients, two rounds, and print acknowledged messages per second. Each way of sending
 * has a topic of its own, and every run compares what was acknowledged with how far the topic's
 * log grew: an idempotent producer that gives two concurrent requests the same sequence number has
 * the broker drop the second as a duplicate and answer it with success (seen with
 * @platformatic/kafka 1.35.0, single sends), which only this count shows.
 *
 * @platformatic/kafka is not a dependency: `npm i --no-save @platformatic/kafka` first.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import kafkajs from 'kafkajs';
import { closedLoop } from './lib/closed-loop.js';
import { Coalescer } from './lib/coalescer.js';
import { connectedProducer } from './lib/kafkajs-producer.js';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const RUN = randomUUID().slice(0, 8);
const SECONDS = Number(process.argv[2] ?? 3);
/** KAFKA_IDEMPOTENT=0 measures both clients without the idempotent producer (acks=all still). */
const IDEMPOTENT = process.env.KAFKA_IDEMPOTENT !== '0';
const CALLERS = 50;
const VALUE = 'x'.repeat(256);
const headers = (): Record<string, string> => ({ 'x-source': 'bench', 'busgate-id': randomUUID(), 'content-type': 'application/json' });

interface Side {
  readonly name: string;
  /** The side's own topic: its log's growth is what the broker really kept of the side's sends. */
  readonly topic: string;
  readonly send: () => Promise<void>;
  readonly close: () => Promise<void>;
}

/** How far the topic's log reaches (one partition). */
type LogEnd = (topic: string) => Promise<number>;

/**
 * Acknowledged messages per second, or why the side failed (the first error's code); with the
 * number of acknowledged messages the log does not hold, when there are any.
 */
async function rate(side: Side, seconds: number, logEnd: LogEnd): Promise<string> {
  const before = await logEnd(side.topic);
  const { done: acknowledged, failure } = await closedLoop(CALLERS, seconds, side.send);
  const missing = acknowledged - ((await logEnd(side.topic)) - before);
  const lost = missing > 0 ? ` (${missing} acknowledged, not in the log)` : '';
  if (failure === undefined) return `${Math.round(acknowledged / seconds)}${lost}`;
  const inner = (failure as { errors?: Array<{ errors?: Array<{ apiId?: string }> }> }).errors?.[0]?.errors?.[0]?.apiId;
  return `failed: ${inner ?? (failure instanceof Error ? failure.message : JSON.stringify(failure))} after ${acknowledged} acknowledged${lost}`;
}

function topicOf(side: string): string {
  return `bench.kafka-clients.${RUN}.${side}`;
}

const SIDES = ['kafkajs-coalesced', 'kafkajs-single', 'platformatic-coalesced', 'platformatic-single'];

async function kafkajsSides(): Promise<Side[]> {
  const kafka = new kafkajs.Kafka({ clientId: 'busgate-bench-clients', brokers: BROKERS, logLevel: kafkajs.logLevel.WARN });
  const producer = await connectedProducer(kafka, IDEMPOTENT);
  const singleProducer = await connectedProducer(kafka, IDEMPOTENT);
  const coalesced = topicOf('kafkajs-coalesced');
  const single = topicOf('kafkajs-single');
  const coalescer = new Coalescer<kafkajs.Message>((messages) => producer.sendBatch({ acks: -1, topicMessages: [{ topic: coalesced, messages }] }));
  const close = async (): Promise<void> => void (await Promise.all([producer.disconnect(), singleProducer.disconnect()]));
  return [
    { name: 'kafkajs coalesced', topic: coalesced, send: () => coalescer.send({ value: VALUE, headers: headers() }), close: async () => undefined },
    {
      name: 'kafkajs single',
      topic: single,
      send: async () => void (await singleProducer.send({ acks: -1, topic: single, messages: [{ value: VALUE, headers: headers() }] })),
      close,
    },
  ];
}

async function platformaticSides(): Promise<Side[]> {
  const name = '@platformatic/kafka';
  type Producer = {
    send(options: { messages: Array<{ topic: string; value: string; headers: Record<string, string> }>; acks?: number }): Promise<unknown>;
    close(): Promise<void>;
  };
  let module: { Producer: new (options: Record<string, unknown>) => Producer; stringSerializers: unknown; ProduceAcks: { ALL: number } };
  try {
    module = (await import(name)) as typeof module;
  } catch {
    console.log(`${name} is not installed: npm i --no-save ${name}`);
    return [];
  }
  // A producer per way of sending: each starts from its own producer id and sequence numbers.
  const newProducer = (): Producer =>
    new module.Producer({
      clientId: 'busgate-bench-clients-p',
      bootstrapBrokers: BROKERS,
      idempotent: IDEMPOTENT,
      acks: module.ProduceAcks.ALL,
      serializers: module.stringSerializers,
      autocreateTopics: false,
    });
  const producer = newProducer();
  const singleProducer = newProducer();
  const coalescer = new Coalescer<{ topic: string; value: string; headers: Record<string, string> }>((messages) =>
    producer.send({ messages, acks: module.ProduceAcks.ALL }),
  );
  const coalesced = topicOf('platformatic-coalesced');
  const single = topicOf('platformatic-single');
  return [
    {
      name: `${name} coalesced`,
      topic: coalesced,
      send: () => coalescer.send({ topic: coalesced, value: VALUE, headers: headers() }),
      close: async () => undefined,
    },
    {
      name: `${name} single`,
      topic: single,
      send: async () => void (await singleProducer.send({ messages: [{ topic: single, value: VALUE, headers: headers() }], acks: module.ProduceAcks.ALL })),
      close: async () => void (await Promise.all([producer.close(), singleProducer.close()])),
    },
  ];
}

async function main(): Promise<void> {
  const admin = new kafkajs.Kafka({ clientId: 'busgate-bench-clients-admin', brokers: BROKERS, logLevel: kafkajs.logLevel.WARN }).admin();
  await admin.connect();
  const topics = SIDES.map(topicOf);
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
  const logEnd: LogEnd = async (topic) => Number((await admin.fetchTopicOffsets(topic))[0]!.high);
  const sides = [...(await kafkajsSides()), ...(await platformaticSides())];
  const results = new Map<string, string[]>(sides.map((s) => [s.name, []]));
  // The warm-up (connections, metadata, producer id) is printed too: it is each producer's first burst.
  for (const side of sides) results.get(side.name)!.push(`warm-up ${await rate(side, 1, logEnd)}`);
  for (let round = 0; round < 2; round++) {
    for (const side of sides) results.get(side.name)!.push(await rate(side, SECONDS, logEnd));
  }
  for (const side of sides) await side.close();
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
  console.log(
    `Kafka client alone, ${CALLERS} callers, acks=all, ${IDEMPOTENT ? 'idempotent' : 'not idempotent'}, 1 s warm-up, then ${SECONDS} s x 2 rounds alternating; load average ${os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
  );
  for (const [name, runs] of results) console.log(`  ${name.padEnd(32)} ${runs.join(' | ')} msg/s`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.dir(error, { depth: 8 });
    process.exit(1);
  },
);
