/**
 * `node dist/bench/kafka-clients.js [seconds]`: the Kafka client alone (B2), kafkajs against
 * @platformatic/kafka, same broker, same settings: idempotent producer, acks=all, 256-byte value,
 * three headers, 50 concurrent callers each awaiting its own acknowledgement. Two ways to send:
 * "coalesced" (the plugin's way: one batch in flight, the rest queued for the next) and "single"
 * (each caller sends its own message; whatever batching the client does itself). Runs alternate
 * between the clients, two rounds, and print acknowledged messages per second.
 *
 * @platformatic/kafka is not a dependency: `npm i --no-save @platformatic/kafka` first.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import kafkajs from 'kafkajs';
import { Coalescer } from './lib/coalescer.js';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const TOPIC = `bench.kafka-clients.${randomUUID().slice(0, 8)}`;
const SECONDS = Number(process.argv[2] ?? 3);
/** KAFKA_IDEMPOTENT=0 measures both clients without the idempotent producer (acks=all still). */
const IDEMPOTENT = process.env.KAFKA_IDEMPOTENT !== '0';
const CALLERS = 50;
const VALUE = 'x'.repeat(256);
const headers = (): Record<string, string> => ({ 'x-source': 'bench', 'busgate-id': randomUUID(), 'content-type': 'application/json' });

interface Side {
  readonly name: string;
  readonly send: () => Promise<void>;
  readonly close: () => Promise<void>;
}

/** Acknowledged messages per second, or why the side failed (the first error's code). */
async function rate(side: Side, seconds: number): Promise<number | string> {
  try {
    return await closedLoop(side, seconds);
  } catch (error) {
    const inner = (error as { errors?: Array<{ errors?: Array<{ apiId?: string }> }> }).errors?.[0]?.errors?.[0]?.apiId;
    return `failed: ${inner ?? (error instanceof Error ? error.message : String(error))}`;
  }
}

async function closedLoop(side: Side, seconds: number): Promise<number> {
  let done = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() < until) {
        await side.send();
        done += 1;
      }
    }),
  );
  return Math.round(done / seconds);
}

async function kafkajsSides(): Promise<Side[]> {
  const kafka = new kafkajs.Kafka({ clientId: 'busgate-bench-clients', brokers: BROKERS, logLevel: kafkajs.logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({
    idempotent: IDEMPOTENT,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const coalescer = new Coalescer<kafkajs.Message>((messages) => producer.sendBatch({ acks: -1, topicMessages: [{ topic: TOPIC, messages }] }));
  const close = (): Promise<void> => producer.disconnect();
  return [
    { name: 'kafkajs coalesced', send: () => coalescer.send({ value: VALUE, headers: headers() }), close: async () => undefined },
    {
      name: 'kafkajs single',
      send: async () => void (await producer.send({ acks: -1, topic: TOPIC, messages: [{ value: VALUE, headers: headers() }] })),
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
  const producer = new module.Producer({
    clientId: 'busgate-bench-clients-p',
    bootstrapBrokers: BROKERS,
    idempotent: IDEMPOTENT,
    acks: module.ProduceAcks.ALL,
    serializers: module.stringSerializers,
    autocreateTopics: false,
  });
  const coalescer = new Coalescer<{ topic: string; value: string; headers: Record<string, string> }>((messages) =>
    producer.send({ messages, acks: module.ProduceAcks.ALL }),
  );
  return [
    { name: `${name} coalesced`, send: () => coalescer.send({ topic: TOPIC, value: VALUE, headers: headers() }), close: async () => undefined },
    {
      name: `${name} single`,
      send: async () => void (await producer.send({ messages: [{ topic: TOPIC, value: VALUE, headers: headers() }], acks: module.ProduceAcks.ALL })),
      close: () => producer.close(),
    },
  ];
}

async function main(): Promise<void> {
  const sides = [...(await kafkajsSides()), ...(await platformaticSides())];
  const results = new Map<string, Array<number | string>>(sides.map((s) => [s.name, []]));
  for (const side of sides) await rate(side, 1); // warm-up: connections, metadata, producer id
  for (let round = 0; round < 2; round++) {
    for (const side of sides) results.get(side.name)!.push(await rate(side, SECONDS));
  }
  for (const side of sides) await side.close();
  console.log(
    `Kafka client alone, ${CALLERS} callers, acks=all, ${IDEMPOTENT ? 'idempotent' : 'not idempotent'}, ${SECONDS} s x 2 rounds alternating; load average ${os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
  );
  for (const [name, runs] of results) console.log(`  ${name.padEnd(32)} ${runs.join(', ')} msg/s`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.dir(error, { depth: 8 });
    process.exit(1);
  },
);
