/**
 * `node dist/bench/kafka-rr-clients.js [seconds]`: Kafka request-reply with the client alone (the
 * B2 of kafka/request-reply), kafkajs against @platformatic/kafka on the requester's side. Each
 * requester produces requests the plugin's way (idempotent, acks=all, one coalesced batch in
 * flight) with reply-to and correlation-id headers, and reads the replies from a reply topic of
 * its own with a consumer group of its own. The responder is the bench's consumer process (the
 * Kafka plugin's respond(), echoing), the same for both. 50 callers each await their reply;
 * the runs alternate between the clients, two rounds, and print round trips per second and the
 * requester process's CPU per round trip (both requesters live in this process; the idle one's
 * consumer only long-polls).
 *
 * This says whether the request-reply path, whose daemon spends most of its time in the Kafka
 * client (README, "Kafka request-reply"), would get cheaper with the other client's consumer.
 * @platformatic/kafka is not a dependency: `npm i --no-save @platformatic/kafka` first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import type { ConsumerArgs } from './consumer.js';
import { closedLoop } from './lib/closed-loop.js';
import { Coalescer } from './lib/coalescer.js';
import { connectedProducer } from './lib/kafkajs-producer.js';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const SECONDS = Number(process.argv[2] ?? 3);
const CALLERS = 50;
const RUN = randomUUID().slice(0, 8);
const REQUESTS = `bench.kafka-rr-clients.${RUN}.requests`;
const replyTopicOf = (client: string): string => `bench.kafka-rr-clients.${RUN}.replies-${client}`;
const VALUE = JSON.stringify({ orderId: 'bench-000001', note: 'x'.repeat(460) });
const REPLY_WAIT_MS = 10_000;

interface Requester {
  readonly name: string;
  /** Resolves when the reply to one request has come back. */
  readonly roundTrip: () => Promise<void>;
  readonly close: () => Promise<void>;
}

/** Correlation ids waiting for their reply, shared by both clients' consumers. */
class Waiting {
  private readonly waiting = new Map<string, () => void>();

  add(id: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no reply within ${REPLY_WAIT_MS} ms`));
      }, REPLY_WAIT_MS);
      this.waiting.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  settle(id: string | undefined): void {
    if (id === undefined) return;
    this.waiting.get(id)?.();
    this.waiting.delete(id);
  }
}

const requestHeaders = (id: string, replyTo: string): Record<string, string> => ({
  'x-source': 'bench',
  'busgate-id': id,
  'content-type': 'application/json',
  'reply-to': replyTo,
  'correlation-id': id,
});

async function kafkajsRequester(): Promise<Requester> {
  const kafka = new kafkajs.Kafka({ clientId: 'busgate-bench-rr-kafkajs', brokers: BROKERS, logLevel: kafkajs.logLevel.WARN });
  const replies = replyTopicOf('kafkajs');
  const producer = await connectedProducer(kafka);
  const batcher = new Coalescer<kafkajs.Message>((messages) => producer.sendBatch({ acks: -1, topicMessages: [{ topic: REQUESTS, messages }] }));
  const waiting = new Waiting();
  // The settings of the plugin's reply consumer (plugins/kafka/group-consumer.ts).
  const consumer = kafka.consumer({ groupId: `busgate-bench-rr-${randomUUID()}`, maxWaitTimeInMs: 500, heartbeatInterval: 1000, sessionTimeout: 6000 });
  await consumer.connect();
  await consumer.subscribe({ topics: [replies], fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({ eachMessage: async ({ message }) => waiting.settle(message.headers?.['correlation-id']?.toString()) });
  await joined;
  return {
    name: `kafkajs ${version('kafkajs')}`,
    roundTrip: async () => {
      const id = randomUUID();
      const replied = waiting.add(id);
      await batcher.send({ value: VALUE, headers: requestHeaders(id, replies) });
      await replied;
    },
    close: async () => {
      await consumer.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    },
  };
}

/** The part of @platformatic/kafka used here, typed for this file (it is not a dependency). */
interface PlatformaticModule {
  readonly Producer: new (options: Record<string, unknown>) => {
    send(options: { messages: Array<{ topic: string; value: string; headers: Record<string, string> }>; acks?: number }): Promise<unknown>;
    close(): Promise<void>;
  };
  readonly Consumer: new (options: Record<string, unknown>) => {
    consume(options: Record<string, unknown>): Promise<NodeJS.EventEmitter & { close(): Promise<void> }>;
    close(force?: boolean): Promise<void>;
  };
  readonly stringSerializers: unknown;
  readonly stringDeserializers: unknown;
  readonly ProduceAcks: { readonly ALL: number };
}

async function platformaticRequester(): Promise<Requester | undefined> {
  const name = '@platformatic/kafka';
  let module: PlatformaticModule;
  try {
    module = (await import(name)) as PlatformaticModule;
  } catch {
    console.log(`${name} is not installed: npm i --no-save ${name}`);
    return undefined;
  }
  const replies = replyTopicOf('platformatic');
  const producer = new module.Producer({
    clientId: 'busgate-bench-rr-platformatic',
    bootstrapBrokers: BROKERS,
    idempotent: true,
    acks: module.ProduceAcks.ALL,
    serializers: module.stringSerializers,
    autocreateTopics: false,
  });
  // One batch in flight at a time: the only pattern its idempotent producer handles (README, "Kafka client").
  const batcher = new Coalescer<{ topic: string; value: string; headers: Record<string, string> }>((messages) =>
    producer.send({ messages, acks: module.ProduceAcks.ALL }),
  );
  const waiting = new Waiting();
  const consumer = new module.Consumer({
    groupId: `busgate-bench-rr-${randomUUID()}`,
    clientId: 'busgate-bench-rr-platformatic-replies',
    bootstrapBrokers: BROKERS,
    deserializers: module.stringDeserializers,
    maxWaitTime: 500,
    sessionTimeout: 6000,
    heartbeatInterval: 1000,
  });
  const stream = await consumer.consume({ topics: [replies], mode: 'latest', autocommit: true });
  stream.on('data', (message: { headers: Map<string, string> }) => waiting.settle(message.headers.get('correlation-id')));
  // The stream starts at the end once its first fetch has resolved offsets.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return {
    name: `${name} ${version(name)}`,
    roundTrip: async () => {
      const id = randomUUID();
      const replied = waiting.add(id);
      await batcher.send({ topic: REQUESTS, value: VALUE, headers: requestHeaders(id, replies) });
      await replied;
    },
    close: async () => {
      await stream.close().catch(() => undefined);
      await consumer.close(true).catch(() => undefined);
      await producer.close().catch(() => undefined);
    },
  };
}

/** The installed version: the nearest package.json named `pkg` above its entry point (its exports may hide it). */
function version(pkg: string): string {
  try {
    for (let dir = path.dirname(createRequire(import.meta.url).resolve(pkg)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const file = path.join(dir, 'package.json');
      if (!fs.existsSync(file)) continue;
      const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === pkg) return manifest.version ?? '?';
    }
  } catch {
    // not installed: the caller has said so already
  }
  return '?';
}

/** Round trips per second and the process's CPU per round trip; the callers stop at the first failure. */
async function run(requester: Requester, seconds: number): Promise<string> {
  const cpu = process.cpuUsage();
  const { done, failure } = await closedLoop(CALLERS, seconds, requester.roundTrip);
  const used = process.cpuUsage(cpu);
  const perRoundTrip = Math.round((used.user + used.system) / Math.max(1, done));
  const result = `${Math.round(done / seconds)}/s, ${perRoundTrip} µs CPU each`;
  return failure === undefined ? result : `${result}; failed: ${failure instanceof Error ? failure.message : JSON.stringify(failure)}`;
}

async function startResponder(): Promise<ChildProcess> {
  const args: ConsumerArgs = {
    broker: 'kafka',
    cases: [{ mode: 'request-reply', destination: REQUESTS }],
    endpoints: { kafkaBrokers: BROKERS.join(','), natsUrl: '', amqpUrl: '' },
    kafkaTopics: [REQUESTS, replyTopicOf('kafkajs'), replyTopicOf('platformatic'), 'bench.consumer-replies'],
  };
  const child = spawn(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'consumer.js'), JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the responder exited (${code}) before it was ready`)));
  });
  return child;
}

async function main(): Promise<void> {
  const responder = await startResponder();
  const requesters = [await kafkajsRequester(), await platformaticRequester()].filter((r): r is Requester => r !== undefined);
  const results = new Map<string, string[]>(requesters.map((r) => [r.name, []]));
  for (const requester of requesters) results.get(requester.name)!.push(`warm-up ${await run(requester, 1)}`);
  for (let round = 0; round < 2; round++) {
    for (const requester of requesters) results.get(requester.name)!.push(await run(requester, SECONDS));
  }
  for (const requester of requesters) await requester.close();
  responder.kill('SIGTERM');
  const admin = new kafkajs.Kafka({ clientId: 'busgate-bench-rr-admin', brokers: BROKERS, logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [REQUESTS, replyTopicOf('kafkajs'), replyTopicOf('platformatic')] }).catch(() => undefined);
  await admin.disconnect();
  console.log(
    `Kafka request-reply, the requester's client alone, ${CALLERS} callers, 1 s warm-up, then ${SECONDS} s x 2 rounds alternating; load average ${os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
  );
  for (const [name, runs] of results) console.log(`  ${name.padEnd(28)} ${runs.join(' | ')}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.dir(error, { depth: 6 });
    process.exit(1);
  },
);
