/**
 * The visible message id is scoped by client (issue #16, after item 6): it used to be the client's
 * Idempotency-Key as sent, so two clients using the same key published two messages with one id
 * (`busgate-id` on the broker, AMQP message-id, `webhook-id` at egress), and a consumer or webhook
 * endpoint deduping on that id dropped one client's message as the other's duplicate. Now the id
 * is derived from client, route and key: another client's identical key gives another id, and the
 * same client's retry gives the same id, on every replica.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { BrokerInstanceConfig } from '../../core/config.js';
import { messageIdOf } from '../../core/egress/delivery.js';
import type { InboundMessage } from '../../core/plugins/contract.js';
import { deleteKafkaTopics, deleteRabbitQueues } from '../support/clean-up.js';
import { eventually, startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { deleteStreamsHolding } from '../support/nats-streams.js';
import { brokerEndpoints, endpointOf, requireBroker } from '../support/require-broker.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const ALICE = 'alice-secret-0123456789abcdef';
const BOB = 'bob-secret-0123456789abcdef00';
const API_KEYS = new Map([
  ['alice', ALICE],
  ['bob', BOB],
]);
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const KAFKA = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface BrokerCase {
  readonly name: 'memory' | 'nats' | 'rabbitmq' | 'kafka' | 'mqtt';
  readonly instance: BrokerInstanceConfig;
  /** point-to-point where messages wait for a consumer; pubsub on MQTT (subscribed first). */
  readonly mode: 'pubsub' | 'point-to-point';
  readonly destination: (prefix: string) => string;
  readonly cleanUp?: (destination: string) => Promise<void>;
}

const CASES: readonly BrokerCase[] = [
  { name: 'memory', instance: { plugin: 'memory', options: {} }, mode: 'point-to-point', destination: (p) => `${p}.jobs` },
  {
    name: 'nats',
    instance: { plugin: 'nats', options: { url: NATS_URL } },
    mode: 'point-to-point',
    destination: (p) => `${p}.jobs`,
    cleanUp: (subject) => deleteStreamsHolding(NATS_URL, [subject]),
  },
  {
    name: 'rabbitmq',
    instance: { plugin: 'rabbitmq', options: { url: AMQP_URL, declare: true } },
    mode: 'point-to-point',
    destination: (p) => `${p}-jobs`,
    cleanUp: (queue) => deleteRabbitQueues(AMQP_URL, [queue]),
  },
  {
    name: 'kafka',
    instance: { plugin: 'kafka', options: { brokers: [KAFKA], createTopics: true } },
    mode: 'point-to-point',
    destination: (p) => `${p}-jobs`,
    cleanUp: (topic) => deleteKafkaTopics(KAFKA, topic),
  },
  {
    name: 'mqtt',
    instance: { plugin: 'busgate-plugin-mqtt', options: { url: MQTT_URL, clientId: `busgate-ids-${randomUUID().slice(0, 8)}` } },
    mode: 'pubsub',
    destination: (p) => `${p}/jobs`,
  },
];

interface Receipt {
  readonly id: string;
}

for (const broker of CASES) {
  describe(`message ids on ${broker.name}: scoped by client, stable across one client's retries`, function () {
    this.timeout(60_000);
    const prefix = `ids${randomUUID().slice(0, 8)}`;
    const destination = broker.destination(prefix);
    let daemon: TestDaemon;

    before(async function () {
      if (broker.name === 'mqtt') await requireBroker(this, 'mqtt', endpointOf(MQTT_URL, 1883));
      else if (broker.name !== 'memory') await requireBroker(this, broker.name, brokerEndpoints[broker.name]());
      daemon = await startTestDaemon({
        routes: `routes:\n  - name: jobs\n    path: /jobs\n    broker: ${broker.name}\n    mode: ${broker.mode}\n    destination: "${destination}"\n`,
        brokers: { [broker.name]: broker.instance },
        overrides: { apiKeys: API_KEYS },
      });
    });
    after(async () => {
      await daemon?.shutdown('done');
      await broker.cleanUp?.(destination).catch(() => undefined);
    });

    it("two clients sending the same Idempotency-Key publish messages with different ids (busgate-id, webhook-id's source)", async () => {
      const received: InboundMessage[] = [];
      const subscription = await daemon.brokers.get(broker.name)!.subscribe(destination, { mode: broker.mode }, (message) => {
        received.push(message);
        return Promise.resolve();
      });
      try {
        const key = `order-${prefix}`;
        const alice = await daemon.post('/jobs', 'from alice', { 'x-api-key': ALICE, 'idempotency-key': key });
        expect(alice.status, await alice.clone().text()).to.equal(202);
        const bob = await daemon.post('/jobs', 'from bob', { 'x-api-key': BOB, 'idempotency-key': key });
        expect(bob.status, await bob.clone().text()).to.equal(202);
        const aliceId = ((await alice.json()) as Receipt).id;
        const bobId = ((await bob.json()) as Receipt).id;
        expect(aliceId).to.not.equal(bobId);
        expect(aliceId).to.match(UUID);
        expect(alice.headers.get('x-busgate-id')).to.equal(aliceId);

        await eventually(() => received.length >= 2, 30_000, 'both messages');
        const idOf = (body: string): string => messageIdOf(received.find((message) => message.payload.toString() === body)!);
        // What a consumer, and egress as webhook-id, sees: each client's own id, never the bare key.
        expect(idOf('from alice')).to.equal(aliceId);
        expect(idOf('from bob')).to.equal(bobId);
        // The key itself still travels, in its own header.
        expect(received.map((message) => message.headers['idempotency-key'])).to.deep.equal([key, key]);
      } finally {
        await subscription.close();
      }
    });
  });
}

describe("message ids: one client's retry keeps its id, on any replica", function () {
  this.timeout(30_000);
  const routes = `routes:\n  - name: jobs\n    path: /jobs\n    broker: memory\n    mode: point-to-point\n    destination: jobs\n    batch: true\n`;
  const daemons: TestDaemon[] = [];
  const start = async (): Promise<TestDaemon> => {
    const daemon = await startTestDaemon({ routes, brokers: { memory: { plugin: 'memory', options: {} } }, overrides: { apiKeys: API_KEYS } });
    daemons.push(daemon);
    return daemon;
  };
  after(async () => {
    for (const daemon of daemons) await daemon.shutdown('done');
  });

  it('the same client and key give the same id on two replicas (no shared store), another client another', async () => {
    const [first, second] = [await start(), await start()];
    const idFrom = async (daemon: TestDaemon, secret: string): Promise<string> => {
      const res = await daemon.post('/jobs', 'body', { 'x-api-key': secret, 'idempotency-key': 'retry-1' });
      expect(res.status).to.equal(202);
      expect(res.headers.get('idempotent-replayed')).to.equal(null);
      return ((await res.json()) as Receipt).id;
    };
    const aliceFirst = await idFrom(first, ALICE);
    expect(await idFrom(second, ALICE)).to.equal(aliceFirst);
    expect(await idFrom(second, BOB)).to.not.equal(aliceFirst);
  });

  it("a batch's entry ids are scoped too: another client's batch with the same key shares none", async () => {
    const daemon = daemons[0] ?? (await start());
    const ids = async (secret: string): Promise<string[]> => {
      const res = await daemon.post('/jobs', '{"n":1}\n{"n":2}\n', {
        'x-api-key': secret,
        'idempotency-key': 'batch-1',
        'content-type': 'application/x-ndjson',
      });
      expect(res.status).to.equal(202);
      return ((await res.json()) as { entries: Array<{ receipt: Receipt }> }).entries.map((entry) => entry.receipt.id);
    };
    const alice = await ids(ALICE);
    const bob = await ids(BOB);
    expect(new Set(alice).size).to.equal(2);
    expect(alice.filter((id) => bob.includes(id))).to.deep.equal([]);
  });
});

describe('message ids at egress: webhook-id differs for two clients with one key', function () {
  this.timeout(30_000);
  const receiver = new WebhookReceiver();
  let daemon: TestDaemon;

  before(async () => {
    await receiver.start();
    daemon = await startTestDaemon({
      routes: `routes:
  - name: jobs
    path: /jobs
    broker: memory
    mode: point-to-point
    destination: hooked
subscriptions:
  - name: hooked
    broker: memory
    source: hooked
    mode: point-to-point
    deliver: { url: ${receiver.url('/hook')} }
    deadLetter: hooked-dlq
`,
      brokers: { memory: { plugin: 'memory', options: {} } },
      overrides: { apiKeys: API_KEYS },
    });
  });
  after(async () => {
    await daemon?.shutdown('done');
    await receiver.stop();
  });

  it('an endpoint deduping on webhook-id receives both clients’ messages', async () => {
    for (const [secret, body] of [
      [ALICE, 'from alice'],
      [BOB, 'from bob'],
    ] as const) {
      const res = await daemon.post('/jobs', body, { 'x-api-key': secret, 'idempotency-key': 'same-key' });
      expect(res.status).to.equal(202);
    }
    await eventually(() => receiver.received.length >= 2, 10_000, 'two webhooks');
    const byId = new Map(receiver.received.map((hook) => [hook.headers['webhook-id'], hook.body.toString()]));
    expect([...byId.values()].sort()).to.deep.equal(['from alice', 'from bob']);
  });
});
