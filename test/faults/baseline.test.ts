/**
 * Delivery ledger baselines, per broker and mode, on the shared brokers (no faults): N requests,
 * each with a unique key, then a real consumer; every 2xx key must be at the consumer, no refused
 * key may be, and with nothing going wrong every request is acknowledged exactly once.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import amqplib from 'amqplib';
import kafkajs from 'kafkajs';
import type { BrokerInstanceConfig } from '../../core/config.js';
import type { BrokerInstance } from '../../core/brokers/instance.js';
import type { Subscription } from '../../core/plugins/contract.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { Collector, drained, Ledger } from './ledger.js';
import { SuiteResults } from './support/results.js';
import { LONG, watchUnhandledRejections } from './support/scenario.js';
import { deleteStreamsHolding } from '../support/nats-streams.js';

const N = LONG ? 5000 : 500;
const CONCURRENCY = 20;
const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const kafkaBrokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

interface Case {
  readonly broker: 'memory' | 'nats' | 'rabbitmq' | 'kafka';
  readonly mode: 'pubsub' | 'point-to-point';
  readonly label: string;
  readonly instance: BrokerInstanceConfig;
  destination(run: string): string;
  readonly routeOptions?: string;
  /** A live subscriber before sending (pubsub), or undefined to drain afterwards. */
  before?(broker: BrokerInstance, destination: string, collector: Collector): Promise<Subscription>;
  /** Drains after sending. */
  after?(broker: BrokerInstance, destination: string, collector: Collector): Promise<Subscription>;
  cleanup?(destination: string): Promise<void>;
}

const subscribe =
  (mode: 'pubsub' | 'point-to-point', options?: Record<string, unknown>) => (broker: BrokerInstance, destination: string, collector: Collector) =>
    broker.subscribe(destination, { mode, ...(options ? { options } : {}) }, collector.handler);

const deleteNatsStreams = (subject: string): Promise<void> => deleteStreamsHolding(natsUrl, [subject]);

async function deleteAmqp(name: string): Promise<void> {
  const connection = await amqplib.connect(amqpUrl);
  try {
    for (const remove of [(c: amqplib.Channel) => c.deleteQueue(name), (c: amqplib.Channel) => c.deleteExchange(name)]) {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await remove(channel).catch(() => undefined);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function deleteKafkaTopic(topic: string): Promise<void> {
  const admin = new kafkajs.Kafka({ brokers: kafkaBrokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic], timeout: 5000 });
  } finally {
    await admin.disconnect();
  }
}

/** A persistent pubsub stream is created by the operator, not by busgate: the test plays that part. */
const natsPersistentStream = (subject: string): string => `LEDGER_${subject.replace(/[^A-Za-z0-9_-]/g, '_')}`;

const cases: Case[] = [
  {
    broker: 'memory',
    mode: 'pubsub',
    label: 'pubsub (live subscriber)',
    instance: { plugin: 'memory', options: {} },
    destination: (run) => `ledger.pubsub.${run}`,
    before: subscribe('pubsub'),
  },
  {
    broker: 'memory',
    mode: 'point-to-point',
    label: 'point-to-point',
    instance: { plugin: 'memory', options: {} },
    destination: (run) => `ledger.p2p.${run}`,
    after: subscribe('point-to-point'),
  },
  {
    broker: 'nats',
    mode: 'pubsub',
    label: 'core pubsub (live subscriber)',
    instance: { plugin: 'nats', options: { url: natsUrl } },
    destination: (run) => `ledger.core.${run}`,
    before: subscribe('pubsub'),
  },
  {
    broker: 'nats',
    mode: 'pubsub',
    label: 'persistent pubsub (JetStream)',
    instance: { plugin: 'nats', options: { url: natsUrl } },
    destination: (run) => `ledger.persistent.${run}`,
    routeOptions: '{ persistent: true }',
    async before(_plugin, subject) {
      const nc = await connect({ servers: natsUrl });
      try {
        await (await jetstreamManager(nc)).streams.add({ name: natsPersistentStream(subject), subjects: [subject] });
      } finally {
        await nc.close();
      }
      return { close: () => Promise.resolve() };
    },
    async after(_plugin, subject, collector) {
      // Read the whole stream with an ordered consumer of our own.
      const nc = await connect({ servers: natsUrl });
      const consumer = await jetstream(nc).consumers.get(natsPersistentStream(subject));
      const messages = await consumer.consume();
      const loop = (async () => {
        for await (const message of messages) collector.add(message.data);
      })();
      return {
        close: async () => {
          await messages.close();
          await loop.catch(() => undefined);
          await nc.close();
        },
      };
    },
    cleanup: deleteNatsStreams,
  },
  {
    broker: 'nats',
    mode: 'point-to-point',
    label: 'point-to-point (JetStream work queue)',
    instance: { plugin: 'nats', options: { url: natsUrl } },
    destination: (run) => `ledger.p2p.${run}`,
    after: subscribe('point-to-point'),
    cleanup: deleteNatsStreams,
  },
  {
    broker: 'rabbitmq',
    mode: 'pubsub',
    label: 'pubsub (live subscriber queue)',
    instance: { plugin: 'rabbitmq', options: { url: amqpUrl, declare: true } },
    destination: (run) => `ledger-pubsub-${run}`,
    routeOptions: '{ exchangeType: fanout }',
    before: subscribe('pubsub', { exchangeType: 'fanout' }),
    cleanup: deleteAmqp,
  },
  {
    broker: 'rabbitmq',
    mode: 'point-to-point',
    label: 'point-to-point (durable queue)',
    instance: { plugin: 'rabbitmq', options: { url: amqpUrl, declare: true } },
    destination: (run) => `ledger-p2p-${run}`,
    after: subscribe('point-to-point'),
    cleanup: deleteAmqp,
  },
  {
    broker: 'kafka',
    mode: 'pubsub',
    label: 'pubsub (read back from the start)',
    instance: { plugin: 'kafka', options: { brokers: kafkaBrokers, createTopics: true } },
    destination: (run) => `ledger.pubsub.${run}`,
    // A fresh group from the earliest offset reads everything that was stored.
    after: (plugin, topic, collector) => plugin.subscribe(topic, { mode: 'point-to-point', options: { group: `ledger-${randomUUID()}` } }, collector.handler),
    cleanup: deleteKafkaTopic,
  },
  {
    broker: 'kafka',
    mode: 'point-to-point',
    label: 'point-to-point (consumer group)',
    instance: { plugin: 'kafka', options: { brokers: kafkaBrokers, createTopics: true } },
    destination: (run) => `ledger.p2p.${run}`,
    after: subscribe('point-to-point'),
    cleanup: deleteKafkaTopic,
  },
];

describe(`delivery ledger baseline: ${N} requests per broker and mode`, function () {
  this.timeout(120_000);
  const results = new SuiteResults('ledger baseline');
  const rejections = watchUnhandledRejections();

  before(() => results.begin());
  after(() => {
    rejections.stop();
    results.write();
  });

  for (const c of cases) {
    it(`${c.broker} ${c.label}: every 2xx key is consumed, nothing lost`, async function () {
      if (c.broker !== 'memory') await requireBroker(this, c.broker, brokerEndpoints[c.broker]());
      const run = randomUUID().slice(0, 8);
      const destination = c.destination(run);
      let daemon: TestDaemon | undefined;
      const subscriptions: Subscription[] = [];
      try {
        daemon = await startTestDaemon({
          brokers: { target: c.instance },
          routes: `routes:\n  - name: ledger\n    path: /ledger\n    broker: target\n    mode: ${c.mode}\n    destination: "${destination}"\n${c.routeOptions ? `    options: ${c.routeOptions}\n` : ''}`,
        });
        const broker = daemon.brokers.get('target')!;
        const collector = new Collector();
        if (c.before) subscriptions.push(await c.before(broker, destination, collector));
        const ledger = new Ledger({ baseUrl: daemon.url, path: '/ledger' });
        await ledger.sendMany(N, CONCURRENCY);
        if (c.after) subscriptions.push(await c.after(broker, destination, collector));
        await drained(ledger, collector, 30_000, 500);
        const result = ledger.compare(collector, true);
        results.add({
          broker: c.broker,
          mode: c.mode,
          scenario: `baseline: ${c.label}`,
          sent: result.sent,
          faultsInjected: 0,
          acknowledged: result.acknowledged,
          lostAcknowledged: result.lostAcknowledged,
          unknownOutcome: result.unknownOutcome,
          refused: result.refused,
          duplicates: result.duplicates,
          passed: false,
        });
        expect(result.lostAcknowledged, `lost: ${result.examples.lost.join(', ')} — ${JSON.stringify(result.answers)}`).to.equal(0);
        expect(result.refusedButDelivered).to.equal(0);
        expect(result.answers, 'with nothing going wrong, every request is acknowledged').to.deep.equal({ '202': N });
        expect(result.duplicates, 'delivered once each').to.equal(0);
        expect(rejections.seen.map(String)).to.deep.equal([]);
        results.markPassed(`baseline: ${c.label}`);
      } finally {
        await Promise.all(subscriptions.map((s) => s.close().catch(() => undefined)));
        await daemon?.shutdown('ledger baseline done').catch(() => undefined);
        await c.cleanup?.(destination).catch(() => undefined);
      }
    });
  }
});
