/**
 * The far side of one bench case, in a process of its own: it prepares the destination (streams,
 * exchanges, queues, topics, left clean from earlier runs), then drains point-to-point queues and
 * answers request-reply with an echo, using the busgate plugin's own subscribe()/respond() (the
 * consumer contract every plugin implements). Prints `READY` once live; exits on SIGTERM.
 *
 *   node dist/bench/consumer.js '{"broker":"nats","cases":[{"mode":"point-to-point","destination":"bench.p2p"}],...}'
 *   node dist/bench/consumer.js '{"tapUrl":"http://127.0.0.1:PORT/tap/memory/bench.p2p?mode=point-to-point"}'
 *
 * What each case gets:
 *   pubsub (nats, kafka, memory)  no subscriber; the publish and its acknowledgement are what is measured
 *   rabbitmq pubsub               a topic exchange bound to one durable queue capped at 10000 messages
 *                                 (overflow drops the oldest): mandatory publishes need a route
 *   nats persistent-pubsub        a stream capturing the subject, capped at 100000 messages
 *   point-to-point                a plugin consumer draining the queue / work-queue stream / group
 *   request-reply                 a plugin responder echoing the request
 *   memory point-to-point         the daemon's own tap (SSE) as the consumer: the queue lives in the daemon
 */
import http from 'node:http';
import { Ajv } from 'ajv';
import amqp from 'amqplib';
import { connect as natsConnect } from '@nats-io/transport-node';
import { DiscardPolicy, RetentionPolicy, StorageType, jetstreamManager } from '@nats-io/jetstream';
import kafkajs from 'kafkajs';
import winston from 'winston';
import type { BrokerPlugin, InboundMessage, PluginFactory, Reply, Subscription } from '../core/plugins/contract.js';
import type { BrokerName, CaseMode, Endpoints } from './lib/types.js';

export interface ConsumerArgs {
  readonly broker?: BrokerName;
  readonly cases?: ReadonlyArray<{ readonly mode: CaseMode; readonly destination: string }>;
  readonly endpoints?: Endpoints;
  readonly natsStreamPrefix?: string;
  readonly persistentStream?: string;
  readonly kafkaTopics?: readonly string[];
  readonly tapUrl?: string;
}

const logger = winston.createLogger({
  level: 'warn',
  transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
});

type Case = NonNullable<ConsumerArgs['cases']>[number];

async function preparedNats(args: ConsumerArgs): Promise<void> {
  const nc = await natsConnect({ servers: args.endpoints!.natsUrl.split(','), name: 'busgate-bench-setup' });
  const jsm = await jetstreamManager(nc);
  for await (const info of jsm.streams.list()) {
    if (info.config.name.startsWith(args.natsStreamPrefix!)) await jsm.streams.delete(info.config.name);
  }
  for (const c of args.cases ?? []) {
    if (c.mode !== 'persistent-pubsub') continue;
    await jsm.streams.add({
      name: args.persistentStream!,
      subjects: [c.destination],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_msgs: 100_000,
      discard: DiscardPolicy.Old,
    });
  }
  await nc.close();
}

async function preparedRabbit(args: ConsumerArgs): Promise<string> {
  const model = await amqp.connect(args.endpoints!.amqpUrl);
  model.on('error', () => undefined);
  const version = String(model.connection.serverProperties.version ?? '?');
  const channel = await model.createChannel();
  channel.on('error', () => undefined);
  for (const c of args.cases ?? []) {
    const dest = c.destination;
    await channel.deleteQueue(`${dest}.sink`).catch(() => undefined);
    await channel.deleteQueue(dest).catch(() => undefined);
    await channel.deleteExchange(dest).catch(() => undefined);
    if (c.mode === 'pubsub') {
      await channel.assertExchange(dest, 'topic', { durable: true });
      await channel.assertQueue(`${dest}.sink`, { durable: true, arguments: { 'x-max-length': 10_000 } });
      await channel.bindQueue(`${dest}.sink`, dest, '#');
    }
  }
  await model.close();
  return version;
}

async function preparedKafka(args: ConsumerArgs): Promise<void> {
  const kafka = new kafkajs.Kafka({ clientId: 'busgate-bench-setup', brokers: args.endpoints!.kafkaBrokers.split(','), logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  const missing = (args.kafkaTopics ?? []).filter((t) => !existing.has(t));
  if (missing.length > 0) await admin.createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, numPartitions: 1 })) });
  await admin.disconnect();
}

async function pluginFor(args: ConsumerArgs): Promise<BrokerPlugin> {
  const module = (await import(`../plugins/${args.broker}/index.js`)) as { default: PluginFactory };
  const factory = module.default;
  const e = args.endpoints!;
  const raw: Record<string, unknown> =
    args.broker === 'nats'
      ? { url: e.natsUrl, streamPrefix: args.natsStreamPrefix }
      : args.broker === 'rabbitmq'
        ? { url: e.amqpUrl, prefetch: 256 }
        : { brokers: e.kafkaBrokers.split(','), createTopics: true, clientId: 'busgate-bench-consumer', replyTopic: 'bench.consumer-replies' };
  const validate = new Ajv({ useDefaults: true, strict: false }).compile(factory.optionsSchema as Record<string, unknown>);
  if (!validate(raw)) throw new Error(`consumer options: ${JSON.stringify(validate.errors)}`);
  const plugin = factory.create(raw, { name: `bench-${args.broker}`, logger });
  await plugin.connect(AbortSignal.timeout(30_000));
  return plugin;
}

const echo = (message: InboundMessage): Promise<Reply> =>
  Promise.resolve({ payload: message.payload, headers: {}, contentType: message.contentType ?? 'application/octet-stream' });

function tap(url: string): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`tap answered ${response.statusCode}`));
        response.resume();
        return;
      }
      response.on('data', () => undefined);
      resolve(async () => void request.destroy());
    });
    request.on('error', reject);
  });
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as ConsumerArgs;
  const closers: Array<() => Promise<void>> = [];
  let server: string | undefined;
  if (args.tapUrl !== undefined) {
    closers.push(await tap(args.tapUrl));
  } else {
    if (args.broker === 'nats') await preparedNats(args);
    if (args.broker === 'rabbitmq') server = await preparedRabbit(args);
    if (args.broker === 'kafka') await preparedKafka(args);
    const served = (args.cases ?? []).filter((c: Case) => c.mode === 'point-to-point' || c.mode === 'request-reply');
    if (served.length > 0) {
      const plugin = await pluginFor(args);
      const subscriptions: Subscription[] = [];
      closers.push(async () => {
        await Promise.allSettled(subscriptions.map((subscription) => subscription.close()));
        await plugin.close();
      });
      for (const c of served) {
        subscriptions.push(
          c.mode === 'request-reply'
            ? await plugin.respond(c.destination, echo)
            : await plugin.subscribe(c.destination, { mode: 'point-to-point' }, () => Promise.resolve()),
        );
      }
    }
  }
  process.stdout.write(`READY ${JSON.stringify(server !== undefined ? { server } : {})}\n`);
  // Stay up until told to stop, even with nothing to consume (setup-only cases).
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const stop = (): void => {
    clearInterval(keepAlive);
    setTimeout(() => process.exit(0), 4000).unref();
    void Promise.allSettled(closers.map((close) => close())).finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(`consumer: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
