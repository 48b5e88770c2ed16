/**
 * B2: the broker client alone, no HTTP and no busgate code in the send path, at the same
 * concurrency as the HTTP runs (one "slot" = one caller awaiting its acknowledgement or reply, as
 * one HTTP connection does). Same library, same settings and the same acknowledgement the plugin
 * waits for:
 *   nats pubsub            core publish, answered by a flush shared by every publish written before it
 *   nats persistent-pubsub JetStream publish, awaiting the PubAck (msgID set)
 *   nats point-to-point    JetStream publish into the work-queue stream, awaiting the PubAck
 *   nats request-reply     nc.request round trip
 *   rabbitmq pubsub / p2p  confirm channel, persistent + mandatory, many confirms in flight, 'drain' honoured
 *   rabbitmq request-reply direct reply-to on a confirm channel, awaiting the reply
 *   kafka pubsub / p2p     idempotent producer, acks=-1, concurrent sends coalesced into one
 *                          sendBatch (at most 500 records, 1 ms linger, one batch in flight)
 *   kafka request-reply    the same producer with reply-to/correlation-id headers, replies read by
 *                          a consumer of a reply topic (maxWaitTimeInMs 500, as the plugin's)
 *   memory                 the embedded plugin called in-process (there is no other client)
 * Closed loop for capacity, then open loop at 50% and 80% of it, for each case in turn (one
 * client per case). Prints `BENCH_RESULT [json per case]`.
 *
 *   node dist/bench/b2.js '{"broker":"nats","cases":[{"mode":"pubsub","destination":"bench.pubsub"}],...}'
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect as natsConnect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import amqp from 'amqplib';
import kafkajs, { type Message } from 'kafkajs';
import { Coalescer } from './lib/coalescer.js';
import { connectedProducer } from './lib/kafkajs-producer.js';
import winston from 'winston';
import memoryPlugin from '../plugins/memory/index.js';
import type { BrokerPlugin, SendContext } from '../core/plugins/contract.js';
import { closedLoop, openLoop, type Slot } from './lib/loadgen.js';
import type { B2Args, B2Output } from './lib/types.js';

// Read from the package folder directly: some packages do not export their package.json.
const versionOf = (pkg: string): string => {
  try {
    const main = fileURLToPath(import.meta.resolve(pkg));
    const root = main.slice(0, main.lastIndexOf(`/node_modules/${pkg}/`) + `/node_modules/${pkg}/`.length);
    return (JSON.parse(fs.readFileSync(`${root}package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
};

type Case = B2Args['cases'][number];

interface Client {
  readonly description: string;
  readonly client: string;
  readonly server?: string;
  op(): Promise<void>;
  close(): Promise<void>;
}

const CONTENT_TYPE = 'application/json';

// ------------------------------------------------------------------------------------------- NATS
/** Every publish written before a flush's PING is covered by it; later ones wait for the next. */
class SharedFlush {
  private running = false;
  private waiting: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];

  constructor(private readonly nc: NatsConnection) {}

  after(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.running) this.run();
    });
  }

  private run(): void {
    const batch = this.waiting;
    this.waiting = [];
    this.running = true;
    this.nc
      .flush()
      .then(
        () => {
          for (const w of batch) w.resolve();
        },
        (error: unknown) => {
          for (const w of batch) w.reject(error);
        },
      )
      .finally(() => {
        this.running = false;
        if (this.waiting.length > 0) this.run();
      });
  }
}

async function natsClient(args: B2Args, c: Case): Promise<Client> {
  const nc = await natsConnect({ servers: args.endpoints.natsUrl.split(','), name: 'busgate-bench-b2' });
  const payload = Buffer.from(args.body);
  const js = jetstream(nc, { timeout: 5000 });
  const flusher = new SharedFlush(nc);
  const headersFor = (id: string) => {
    const h = natsHeaders();
    h.set('x-source', 'bench');
    h.set('busgate-id', id);
    h.set('content-type', CONTENT_TYPE);
    return h;
  };
  const common = {
    client: `@nats-io/transport-node ${versionOf('@nats-io/transport-node')}, @nats-io/jetstream ${versionOf('@nats-io/jetstream')}`,
    server: `nats-server ${nc.info?.version ?? '?'}`,
    close: () => nc.close(),
  };
  switch (c.mode) {
    case 'pubsub':
      return {
        ...common,
        description: 'core publish + shared flush',
        op: async () => {
          nc.publish(c.destination, payload, { headers: headersFor(randomUUID()) });
          await flusher.after();
        },
      };
    case 'persistent-pubsub':
    case 'point-to-point':
      return {
        ...common,
        description: 'JetStream publish, PubAck awaited',
        op: async () => {
          const id = randomUUID();
          await js.publish(c.destination, payload, { msgID: id, headers: headersFor(id), timeout: 5000 });
        },
      };
    case 'request-reply':
      return {
        ...common,
        description: 'nc.request round trip to a queue-group responder',
        op: async () => {
          await nc.request(c.destination, payload, { timeout: 5000, headers: headersFor(randomUUID()) });
        },
      };
  }
}

// --------------------------------------------------------------------------------------- RabbitMQ
async function rabbitClient(args: B2Args, c: Case): Promise<Client> {
  const model = await amqp.connect(args.endpoints.amqpUrl, { noDelay: true });
  model.on('error', () => undefined);
  const channel = await model.createConfirmChannel();
  channel.on('error', () => undefined);
  const payload = Buffer.from(args.body);
  let drained: Promise<void> | undefined;
  let release: (() => void) | undefined;
  channel.on('drain', () => {
    drained = undefined;
    release?.();
  });
  const publish = async (exchange: string, routingKey: string, options: amqp.Options.Publish, settled?: () => void): Promise<void> => {
    while (drained) await drained;
    await new Promise<void>((resolve, reject) => {
      const writable = channel.publish(exchange, routingKey, payload, options, (error: unknown) => {
        if (error) reject(error instanceof Error ? error : new Error('publish not confirmed', { cause: error }));
        else resolve();
        settled?.();
      });
      if (!writable && !drained) drained = new Promise((r) => (release = r));
    });
  };
  const properties = (id: string): amqp.Options.Publish => ({
    persistent: true,
    mandatory: true,
    messageId: id,
    contentType: CONTENT_TYPE,
    headers: { 'x-source': 'bench' },
  });
  const server = `RabbitMQ ${String(model.connection.serverProperties.version ?? '?')}`;
  const common = { client: `amqplib ${versionOf('amqplib')}`, server, close: () => model.close().catch(() => undefined) };
  switch (c.mode) {
    case 'pubsub':
      return {
        ...common,
        description: 'confirm channel publish to the exchange, confirm awaited',
        op: () => publish(c.destination, '', properties(randomUUID())),
      };
    case 'point-to-point':
      return {
        ...common,
        description: 'confirm channel publish to the queue, confirm awaited',
        op: () => publish('', c.destination, properties(randomUUID())),
      };
    case 'request-reply': {
      const waiting = new Map<string, () => void>();
      await channel.consume(
        'amq.rabbitmq.reply-to',
        (message) => {
          const id = message?.properties.correlationId as string | undefined;
          if (id !== undefined) {
            waiting.get(id)?.();
            waiting.delete(id);
          }
        },
        { noAck: true },
      );
      return {
        ...common,
        description: 'direct reply-to request on a confirm channel, reply awaited',
        op: async () => {
          const id = randomUUID();
          const replied = new Promise<void>((resolve) => waiting.set(id, resolve));
          await publish('', c.destination, { ...properties(id), persistent: false, replyTo: 'amq.rabbitmq.reply-to', correlationId: id, expiration: '5000' });
          await withTimeout(replied, 5000, () => waiting.delete(id));
        },
      };
    }
    default:
      throw new Error(`rabbitmq has no ${c.mode}`);
  }
}

// ------------------------------------------------------------------------------------------ Kafka
async function kafkaClient(args: B2Args, c: Case): Promise<Client> {
  const { Kafka, logLevel } = kafkajs;
  const kafka = new Kafka({ clientId: 'busgate-bench-b2', brokers: args.endpoints.kafkaBrokers.split(','), logLevel: logLevel.WARN });
  const producer = await connectedProducer(kafka);
  const payload = Buffer.from(args.body);
  const batcher = new Coalescer<Message>((messages) => producer.sendBatch({ acks: -1, topicMessages: [{ topic: c.destination, messages }] }));
  const headers = (id: string): Record<string, string> => ({ 'x-source': 'bench', 'busgate-id': id, 'content-type': CONTENT_TYPE });
  const common = { client: `kafkajs ${versionOf('kafkajs')}` };
  if (c.mode !== 'request-reply') {
    return {
      ...common,
      description: 'producer.sendBatch acks=-1 (idempotent), concurrent sends coalesced',
      op: () => batcher.send({ value: payload, headers: headers(randomUUID()) }),
      close: () => producer.disconnect(),
    };
  }
  const waiting = new Map<string, () => void>();
  const consumer = kafka.consumer({ groupId: `busgate-bench-b2-${randomUUID()}`, maxWaitTimeInMs: 500, heartbeatInterval: 1000, sessionTimeout: 10_000 });
  await consumer.connect();
  await consumer.subscribe({ topics: [args.kafkaReplyTopic], fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    eachMessage: async ({ message }) => {
      const id = message.headers?.['correlation-id']?.toString();
      if (id !== undefined) {
        waiting.get(id)?.();
        waiting.delete(id);
      }
    },
  });
  await withTimeout(joined, 30_000);
  // The new group starts at the end of the reply topic once its first fetch has resolved offsets.
  await new Promise((resolve) => setTimeout(resolve, 300));
  return {
    ...common,
    description: 'coalesced produce with reply-to/correlation-id, reply read from a reply topic',
    op: async () => {
      const id = randomUUID();
      const replied = new Promise<void>((resolve) => waiting.set(id, resolve));
      await batcher.send({ value: payload, headers: { ...headers(id), 'reply-to': args.kafkaReplyTopic, 'correlation-id': id } });
      await withTimeout(replied, 5000, () => waiting.delete(id));
    },
    close: async () => {
      await consumer.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    },
  };
}

// ----------------------------------------------------------------------------------------- memory
async function memoryClient(args: B2Args, c: Case): Promise<Client> {
  const logger = winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });
  const plugin: BrokerPlugin = memoryPlugin.create(
    { queueLimit: 1_000_000, maxQueuedBytes: Number.MAX_SAFE_INTEGER, echoResponders: [c.destination], unavailable: false },
    { name: 'memory', instanceId: 'bench', logger },
  );
  await plugin.connect(new AbortController().signal);
  const payload = Buffer.from(args.body);
  const context: SendContext = { signal: new AbortController().signal, timeoutMs: 5000, options: {} };
  const message = () => ({ id: randomUUID(), payload, headers: { 'x-source': 'bench' }, contentType: CONTENT_TYPE });
  const common = { client: 'busgate memory plugin (in-process)', close: () => plugin.close() };
  switch (c.mode) {
    case 'pubsub':
      return { ...common, description: 'plugin.publish, no subscriber', op: async () => void (await plugin.publish(c.destination, message(), context)) };
    case 'point-to-point':
      await plugin.subscribe(c.destination, { mode: 'point-to-point' }, () => Promise.resolve());
      return {
        ...common,
        description: 'plugin.enqueue, one in-process consumer',
        op: async () => void (await plugin.enqueue(c.destination, message(), context)),
      };
    case 'request-reply':
      return { ...common, description: 'plugin.request to the echo responder', op: async () => void (await plugin.request(c.destination, message(), context)) };
    default:
      throw new Error(`memory has no ${c.mode}`);
  }
}

function withTimeout<T>(work: Promise<T>, ms: number, onTimeout?: () => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`timed out after ${ms} ms`));
    }, ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

async function measure(args: B2Args, c: Case): Promise<Omit<B2Output, 'peakRssMb'>> {
  const client =
    args.broker === 'nats'
      ? await natsClient(args, c)
      : args.broker === 'rabbitmq'
        ? await rabbitClient(args, c)
        : args.broker === 'kafka'
          ? await kafkaClient(args, c)
          : await memoryClient(args, c);
  let firstError: string | undefined;
  const slots: Slot[] = Array.from({ length: args.concurrency }, () => ({
    send: (done) =>
      client.op().then(
        () => done(true),
        (error: unknown) => {
          firstError ??= error instanceof Error ? error.message : String(error);
          done(false);
        },
      ),
  }));
  const warm = await closedLoop(slots, args.warmMs);
  const cpuBefore = process.cpuUsage();
  const capacity = await closedLoop(slots, args.capacityMs);
  const cpu = process.cpuUsage(cpuBefore);
  const rate = Math.max(1, capacity.rate);
  const open50 = await openLoop(slots, rate * 0.5, args.openMs);
  const open80 = await openLoop(slots, rate * 0.8, args.openMs);
  await withTimeout(client.close(), 5000).catch(() => undefined);
  return {
    mode: c.mode,
    description: client.description,
    client: client.client,
    ...(client.server !== undefined ? { server: client.server } : {}),
    warm,
    capacity,
    open50,
    open80,
    cpuSecondsPerOp: (cpu.user + cpu.system) / 1e6 / Math.max(1, capacity.ok + capacity.failed),
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as B2Args;
  const outputs: B2Output[] = [];
  for (const c of args.cases) {
    try {
      const result = await measure(args, c);
      outputs.push({ ...result, peakRssMb: Math.round(process.resourceUsage().maxRSS / 102.4) / 10 });
    } catch (error) {
      // One failing case must not hide the others' results.
      outputs.push({ mode: c.mode, error: error instanceof Error ? error.message : String(error) } as unknown as B2Output);
    }
  }
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(outputs)}\n`);
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(`b2: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
