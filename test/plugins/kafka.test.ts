/**
 * The Kafka plugin against a real Kafka broker (scripts/brokers.sh start kafka), called directly
 * (no HTTP, no core). Every test uses topics of its own; createTopics makes them on first use.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Ajv } from 'ajv';
import { expect } from 'chai';
import kafkajs, { type Admin, type Kafka, type Producer, type ProducerBatch, type RecordMetadata } from 'kafkajs';
import winston from 'winston';
import { BusgateError } from '../../core/errors.js';
import type { BrokerPlugin, InboundMessage, OutboundMessage, PreflightResult, SendContext } from '../../core/plugins/contract.js';
import kafka from '../../plugins/kafka/index.js';
import { BatchingProducer, type KafkaReceipt } from '../../plugins/kafka/batching-producer.js';
import { HealthBoard } from '../../plugins/kafka/health-board.js';
import type { KafkaOptions } from '../../plugins/kafka/options.js';
import { groupsReading, judgeReaders } from '../../plugins/kafka/preflight.js';
import { startKafkaResponder } from '../../examples/responders/kafka-responder.js';
import { eventually, sleep } from '../support/net.js';
import { UNSETTLED_BOUND_MS, untilGroupsSettle } from '../support/settled-groups.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';

// BUSGATE_TEST_LOGS=1 shows the plugin's (and kafkajs's) warnings while debugging a failure.
const logger = winston.createLogger({
  level: 'warn',
  silent: process.env.BUSGATE_TEST_LOGS !== '1',
  transports: [new winston.transports.Console({ format: winston.format.simple() })],
});
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

/** The options as the core would hand them over: validated, defaults filled in. */
function pluginOptions(overrides: Record<string, unknown> = {}): KafkaOptions {
  const validate = new Ajv({ useDefaults: true, strict: false }).compile(kafka.optionsSchema);
  const options: Record<string, unknown> = { brokers, createTopics: true, replyTopic: unique('replies'), ...overrides };
  if (!validate(options)) throw new Error(`bad test options: ${JSON.stringify(validate.errors)}`);
  return options as unknown as KafkaOptions;
}

function unique(label: string): string {
  return `busgate-test.${label}.${randomUUID().slice(0, 8)}`;
}

function message(body: string, extra: Partial<OutboundMessage> = {}): OutboundMessage {
  return { id: randomUUID(), payload: Buffer.from(body), headers: {}, ...extra };
}

function sendContext(timeoutMs = 10_000, options: Record<string, unknown> = {}): SendContext {
  return { signal: AbortSignal.timeout(timeoutMs), timeoutMs, options };
}

async function rejection(promise: Promise<unknown>): Promise<BusgateError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(BusgateError);
    return error as BusgateError;
  }
  throw new Error('expected a rejection');
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('kafka plugin (real broker)', function () {
  this.timeout(30_000);
  const opened: BrokerPlugin[] = [];
  const closers: (() => Promise<void>)[] = [];

  before(async function () {
    this.timeout(10_000);
    await requireBroker(this, 'kafka', brokerEndpoints.kafka());
  });

  afterEach(async () => {
    await Promise.allSettled(closers.splice(0).map((close) => close()));
    await Promise.allSettled(opened.splice(0).map((plugin) => plugin.close()));
  });

  async function connected(overrides: Record<string, unknown> = {}): Promise<BrokerPlugin> {
    const plugin = kafka.create(pluginOptions(overrides), { name: 'kafka', instanceId: 'test', logger });
    opened.push(plugin);
    await plugin.connect(AbortSignal.timeout(15_000));
    return plugin;
  }

  it('publishes with a receipt that names topic, partition and offset', async () => {
    const plugin = await connected();
    const topic = unique('receipt');
    const first = message('one');
    const receipt = (await plugin.publish(topic, first, sendContext())) as KafkaReceipt;
    expect(receipt).to.deep.equal({ id: first.id, topic, partition: 0, offset: '0' });
    const second = (await plugin.enqueue(topic, message('two'), sendContext())) as KafkaReceipt;
    expect(second.offset).to.equal('1');
    expect(plugin.health().up).to.equal(true);
  });

  it('delivers a pubsub message to every subscriber, with key, headers and content type', async () => {
    const plugin = await connected();
    const topic = unique('fanout');
    const seen: [InboundMessage[], InboundMessage[]] = [[], []];
    for (const inbox of seen) {
      const subscription = await plugin.subscribe(topic, { mode: 'pubsub' }, async (m) => {
        inbox.push(m);
      });
      closers.push(() => subscription.close());
    }
    const sent = message('hello', { key: 'customer-7', contentType: 'text/plain', headers: { 'x-tenant': 'acme' } });
    await plugin.publish(topic, sent, sendContext());
    await eventually(() => seen.every((inbox) => inbox.length === 1), 10_000);
    for (const [got] of seen) {
      expect(got!.payload.toString()).to.equal('hello');
      expect(got!.key).to.equal('customer-7');
      expect(got!.contentType).to.equal('text/plain');
      expect(got!.headers).to.include({ 'x-tenant': 'acme', 'busgate-id': sent.id });
    }
  });

  it('gives each point-to-point message to exactly one member of the group', async () => {
    const plugin = await connected({ newTopicPartitions: 2 });
    const topic = unique('queue');
    const received: [string[], string[]] = [[], []];
    for (const inbox of received) {
      const subscription = await plugin.subscribe(topic, { mode: 'point-to-point' }, async (m) => {
        inbox.push(m.payload.toString());
      });
      closers.push(() => subscription.close());
    }
    const sent = Array.from({ length: 20 }, (_, i) => `job-${i}`);
    await Promise.all(sent.map((body, i) => plugin.enqueue(topic, message(body, { key: `k${i}` }), sendContext())));
    await eventually(() => received[0].length + received[1].length >= sent.length, 10_000);
    await sleep(500); // room for a duplicate to show up
    const all = [...received[0], ...received[1]];
    expect(all).to.have.length(sent.length);
    expect(new Set(all)).to.have.property('size', sent.length);
    expect(received[0], 'both members got work').to.not.be.empty;
    expect(received[1], 'both members got work').to.not.be.empty;
  });

  it('redelivers a point-to-point message whose handler rejected', async () => {
    const plugin = await connected();
    const topic = unique('retry');
    const attempts: string[] = [];
    const subscription = await plugin.subscribe(topic, { mode: 'point-to-point' }, async (m) => {
      attempts.push(m.payload.toString());
      if (attempts.length === 1) throw new Error('not yet');
    });
    closers.push(() => subscription.close());
    await plugin.enqueue(topic, message('flaky'), sendContext());
    await plugin.enqueue(topic, message('after'), sendContext());
    await eventually(() => attempts.length >= 3, 10_000);
    expect(attempts.slice(0, 3)).to.deep.equal(['flaky', 'flaky', 'after']);
  });

  it('keeps point-to-point messages enqueued before the first consumer came', async () => {
    const plugin = await connected();
    const topic = unique('backlog');
    await plugin.enqueue(topic, message('early'), sendContext());
    const got: string[] = [];
    const subscription = await plugin.subscribe(topic, { mode: 'point-to-point' }, async (m) => {
      got.push(m.payload.toString());
    });
    closers.push(() => subscription.close());
    await eventually(() => got.length === 1, 10_000);
    expect(got).to.deep.equal(['early']);
  });

  it('backlog: a new pubsub group counts only what came after it joined; a new work-queue group everything kept', async () => {
    const plugin = await connected();
    const topic = unique('lag');
    for (const body of ['old-1', 'old-2', 'old-3']) await plugin.enqueue(topic, message(body), sendContext());
    // Handlers held until the checks are done: nothing is committed, so the lag is counted from the start point.
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    closers.push(() => Promise.resolve(release()));
    const never = (): Promise<void> => gate;
    const fresh = await plugin.subscribe(topic, { mode: 'pubsub', group: `lag-pubsub-${topic}` }, never);
    closers.push(() => fresh.close());
    expect(await fresh.backlog?.()).to.equal(0);
    const queue = await plugin.subscribe(topic, { mode: 'point-to-point', group: `lag-queue-${topic}` }, never);
    closers.push(() => queue.close());
    expect(await queue.backlog?.()).to.equal(3);
    release();
  });

  it('commits settled offsets while a long batch is still being handled, not only at its end', async () => {
    const plugin = await connected();
    const topic = unique('commit');
    const total = 100;
    for (let i = 0; i < total; i += 1) await plugin.enqueue(topic, message(`m-${i}`), sendContext());
    let settled = 0;
    // One fetch brings all of them (one batch); two at a time, 100 ms each: the batch lasts 5 s or more.
    const subscription = await plugin.subscribe(topic, { mode: 'point-to-point', group: `commit-${topic}`, maxInFlight: 2 }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      settled += 1;
    });
    closers.push(() => subscription.close());
    let committedWhileRunning = false;
    await eventually(() => settled >= 20, 20_000, 'twenty settled');
    const deadline = Date.now() + 10_000;
    while (!committedWhileRunning && settled < total && Date.now() < deadline) {
      const backlog = await subscription.backlog?.();
      // A crash now would bring back only what is not committed.
      if (backlog !== undefined && backlog < total && settled < total) committedWhileRunning = true;
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(committedWhileRunning, `a commit before the batch ended (settled ${settled} of ${total})`).to.equal(true);
  });

  it('round-trips request-reply through respond()', async () => {
    const plugin = await connected();
    const topic = unique('rpc');
    const responder = await plugin.respond(topic, async (request) => ({
      payload: Buffer.from(`pong:${request.payload.toString()}`),
      headers: { 'x-answered-by': 'test' },
      contentType: 'text/plain',
    }));
    closers.push(() => responder.close());
    const reply = await plugin.request(topic, message('ping', { contentType: 'text/plain' }), sendContext());
    expect(reply.payload.toString()).to.equal('pong:ping');
    expect(reply.contentType).to.equal('text/plain');
    expect(reply.headers).to.deep.equal({ 'x-answered-by': 'test' });
  });

  for (const concurrency of [8, 1]) {
    it(`respond() holds at most responderConcurrency (${concurrency}) requests at once, and answers them all`, async () => {
      const plugin = await connected({ responderConcurrency: concurrency });
      const topic = unique('rpc-window');
      let holding = 0;
      let mostHeld = 0;
      const release: (() => void)[] = [];
      const responder = await plugin.respond(topic, async (request) => {
        holding += 1;
        mostHeld = Math.max(mostHeld, holding);
        // Hold every request until as many as the window allows are in hand (or a moment passed).
        await new Promise<void>((resolve) => {
          release.push(resolve);
          if (release.length >= concurrency) release.splice(0).forEach((wake) => wake());
          else setTimeout(resolve, 300);
        });
        holding -= 1;
        return { payload: Buffer.from(`re:${request.payload.toString()}`), headers: {} };
      });
      closers.push(() => responder.close());
      const bodies = Array.from({ length: 16 }, (_, i) => `r${i}`);
      const replies = await Promise.all(bodies.map((body) => plugin.request(topic, message(body), sendContext(20_000))));
      expect(replies.map((reply) => reply.payload.toString())).to.deep.equal(bodies.map((body) => `re:${body}`));
      if (concurrency === 1) expect(mostHeld).to.equal(1);
      else expect(mostHeld, 'requests served at once').to.be.within(2, concurrency);
    });
  }

  it('answers through the standalone example responder (the documented contract)', async () => {
    const plugin = await connected();
    const topic = unique('example');
    await plugin.publish(topic, message('not a request'), sendContext()); // creates the topic; ignored
    const responder = await startKafkaResponder({ brokers: brokers.join(','), topic, fromBeginning: true });
    closers.push(() => responder.close());
    const request = message('hi', { contentType: 'text/plain' });
    const reply = await plugin.request(topic, request, sendContext(15_000));
    expect(reply.contentType).to.equal('application/json');
    expect(reply.headers).to.deep.equal({ 'x-responder': 'kafka-example' });
    expect(JSON.parse(reply.payload.toString())).to.deep.equal({
      echo: 'hi',
      topic,
      busgateId: request.id,
      contentType: 'text/plain',
    });
  });

  it('keeps requests apart that share a message id (a reused Idempotency-Key)', async () => {
    const plugin = await connected();
    const topic = unique('same-id');
    const seen: InboundMessage[] = [];
    const responder = await plugin.respond(topic, async (request) => {
      seen.push(request);
      return { payload: Buffer.from(`re:${request.payload.toString()}`), headers: {} };
    });
    closers.push(() => responder.close());
    const id = randomUUID();
    const replies = await Promise.all(['first', 'second'].map((body) => plugin.request(topic, message(body, { id }), sendContext())));
    expect(replies.map((r) => r.payload.toString())).to.deep.equal(['re:first', 're:second']);
    expect(seen.map((r) => r.headers['busgate-id'])).to.deep.equal([id, id]);
    const correlationIds = seen.map((r) => r.headers['correlation-id']);
    expect(new Set(correlationIds).size, 'one correlation id per request').to.equal(2);
    expect(correlationIds).to.not.include(id);
  });

  for (const shared of [true, false]) {
    it(`serves two daemons ${shared ? 'sharing one reply topic' : 'with a reply topic each'}`, async () => {
      const replyTopic = unique('shared-replies');
      const [a, b] = await Promise.all([
        connected(shared ? { replyTopic, clientId: 'daemon-a' } : { clientId: 'daemon-a' }),
        connected(shared ? { replyTopic, clientId: 'daemon-b' } : { clientId: 'daemon-b' }),
      ]);
      const topic = unique('rpc2');
      const responder = await a.respond(topic, async (request) => ({
        payload: Buffer.from(`re:${request.payload.toString()}`),
        headers: {},
      }));
      closers.push(() => responder.close());
      const asks = [a, b, a, b, b, a].map((daemon, i) =>
        daemon.request(topic, message(`${daemon === a ? 'a' : 'b'}${i}`), sendContext()).then((r) => r.payload.toString()),
      );
      expect(await Promise.all(asks)).to.deep.equal(['re:a0', 're:b1', 're:a2', 're:b3', 're:b4', 're:a5']);
    });
  }

  it('coalesces 200 concurrent publishes, each with its own offset', async () => {
    const plugin = await connected();
    const topic = unique('burst');
    await plugin.publish(topic, message('warm-up'), sendContext());
    const started = Date.now();
    const receipts = (await Promise.all(Array.from({ length: 200 }, (_, i) => plugin.publish(topic, message(`m${i}`), sendContext())))) as KafkaReceipt[];
    expect(Date.now() - started).to.be.below(5000);
    const offsets = receipts.map((r) => Number(r.offset)).sort((x, y) => x - y);
    expect(offsets).to.deep.equal(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('answers reply_timeout when nobody responds in time', async () => {
    const plugin = await connected();
    const started = Date.now();
    const error = await rejection(plugin.request(unique('nobody'), message('hello?'), sendContext(800)));
    expect(error.code).to.equal('reply_timeout');
    expect(Date.now() - started).to.be.below(3000);
  });

  it('refuses an unknown topic when it may not create topics', async () => {
    const plugin = await connected({ createTopics: false, replyTopic: 'busgate-test.absent-replies' });
    const error = await rejection(plugin.publish(unique('absent'), message('x'), sendContext()));
    expect(error.code).to.equal('broker_rejected');
    expect(error.message).to.match(/does not exist/);
    const rpc = await rejection(plugin.request(unique('absent'), message('x'), sendContext()));
    expect(rpc.code).to.equal('broker_rejected');
  });

  it('answers broker_timeout, never a receipt, when the caller has already given up', async () => {
    const plugin = await connected();
    const context: SendContext = { signal: AbortSignal.abort(), timeoutMs: 1000, options: {} };
    const error = await rejection(plugin.publish(unique('late'), message('x'), context));
    expect(error.code).to.equal('broker_timeout');
  });

  it('fails fast with broker_unavailable when the cluster is not there', async () => {
    const port = await closedPort();
    const plugin = kafka.create(pluginOptions({ brokers: [`127.0.0.1:${port}`] }), { name: 'kafka', instanceId: 'test', logger });
    opened.push(plugin);
    let started = Date.now();
    const onConnect = await rejection(plugin.connect(AbortSignal.timeout(20_000)));
    expect(onConnect.code).to.equal('broker_unavailable');
    expect(Date.now() - started).to.be.below(5000);
    started = Date.now();
    const onPublish = await rejection(plugin.publish('anything', message('x'), sendContext(20_000)));
    expect(onPublish.code).to.equal('broker_unavailable');
    expect(Date.now() - started).to.be.below(5000);
    expect(plugin.health().up).to.equal(false);
  });

  it('closes idempotently and refuses work afterwards', async () => {
    const plugin = await connected();
    const topic = unique('closing');
    const subscription = await plugin.subscribe(topic, { mode: 'pubsub' }, async () => undefined);
    await Promise.all([plugin.close(), plugin.close()]);
    await plugin.close();
    await subscription.close();
    const error = await rejection(plugin.publish(topic, message('x'), sendContext()));
    expect(error.code).to.equal('shutting_down');
  });

  it('fails a waiting request when the plugin closes', async () => {
    const plugin = await connected();
    const pending = rejection(plugin.request(unique('never'), message('x'), sendContext()));
    await sleep(300);
    await plugin.close();
    const error = await pending;
    expect(error.code).to.equal('shutting_down');
  });

  describe('preflight', () => {
    // A client of the test's own, to create topics and to look at the cluster behind the plugin's back.
    let admin: Admin;
    const created: string[] = [];

    before(async () => {
      admin = new kafkajs.Kafka({ clientId: 'busgate-test-preflight', brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
      await admin.connect();
    });

    after(async () => {
      if (admin === undefined) return;
      await admin.deleteTopics({ topics: created }).catch(() => undefined);
      await admin.disconnect();
    });

    async function topicWith(label: string, partitions: number): Promise<string> {
      const topic = unique(label);
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
      created.push(topic);
      return topic;
    }

    async function exists(topic: string): Promise<boolean> {
      return (await admin.listTopics()).includes(topic);
    }

    /** The plugin as `check --live` would have it: topics are never created on its behalf. */
    function strict(overrides: Record<string, unknown> = {}): Promise<BrokerPlugin> {
      return connected({ createTopics: false, replyTopic: unique('pf-replies-absent'), ...overrides });
    }

    it('pubsub and point-to-point: an existing topic is ok with its partition count and the route partition', async () => {
      const bus = await strict();
      const topic = await topicWith('pf-orders', 3);
      for (const mode of ['pubsub', 'point-to-point'] as const) {
        expect(await bus.preflight!(mode, topic, {})).to.deep.equal({ ok: true, detail: `topic ${topic}: 3 partition(s)` });
      }
      expect(await bus.preflight!('point-to-point', topic, { partition: 2 })).to.deep.equal({
        ok: true,
        detail: `topic ${topic}: 3 partition(s), partition 2 exists`,
      });
      expect(await bus.preflight!('pubsub', topic, { partition: 3 })).to.deep.equal({
        ok: false,
        detail: `topic ${topic} has 3 partition(s) (0-2): the route's partition 3 does not exist`,
      });
    });

    it('pubsub and point-to-point: a missing topic fails with createTopics off, is ok with it on, and is not created', async () => {
      const missing = unique('pf-missing');
      const refusing = await strict();
      for (const mode of ['pubsub', 'point-to-point'] as const) {
        const refused = await refusing.preflight!(mode, missing, {});
        expect(refused.ok).to.equal(false);
        expect(refused.detail).to.equal(`Kafka topic "${missing}" does not exist; create it, or set the broker option createTopics for development`);
      }
      const creating = await connected({ createTopics: true, newTopicPartitions: 2 });
      expect(await creating.preflight!('pubsub', missing, {})).to.deep.equal({
        ok: true,
        detail: `topic ${missing} does not exist; it will be created on first use (createTopics)`,
      });
      expect((await creating.preflight!('point-to-point', missing, { partition: 1 })).ok).to.equal(true);
      const tooFar = await creating.preflight!('point-to-point', missing, { partition: 2 });
      expect(tooFar.ok).to.equal(false);
      expect(tooFar.detail).to.include("the route's partition 2 would not exist");
      expect(await exists(missing), 'preflight created the topic').to.equal(false);
      const badName = await refusing.preflight!('pubsub', '__consumer_offsets', {});
      expect(badName.ok).to.equal(false);
      expect(badName.detail).to.match(/reserved/);
    });

    it('request-reply: fails while no consumer group reads the topic, is ok with a responder, and sends nothing', async function () {
      this.timeout(UNSETTLED_BOUND_MS + 30_000);
      const replyTopic = await topicWith('pf-replies', 1);
      const bus = await strict({ replyTopic });
      const requests = await topicWith('pf-rpc', 2);
      expectNoReader(await settled(() => bus.preflight!('request-reply', requests, {})), requests);
      // Nothing joined a group for the request topic, nothing was produced to it.
      expect((await admin.listGroups()).groups.filter((g) => g.groupId.includes(requests))).to.deep.equal([]);
      expect((await admin.fetchTopicOffsets(requests)).map((p) => p.high)).to.deep.equal(['0', '0']);

      let handled = 0;
      const responder = await bus.respond(requests, async () => {
        handled += 1;
        return { payload: Buffer.from('x'), headers: {} };
      });
      closers.push(() => responder.close());
      const started = Date.now();
      expect(await bus.preflight!('request-reply', requests, {})).to.deep.equal({
        ok: true,
        detail: `topic ${requests}: 2 partition(s); reply topic ${replyTopic}: 1 partition(s); read by consumer group(s) busgate.responders.${requests} (1 member(s))`,
      });
      expect(Date.now() - started).to.be.below(5000);
      expect(handled, 'preflight sends no request').to.equal(0);
      expect((await admin.fetchTopicOffsets(requests)).map((p) => p.high)).to.deep.equal(['0', '0']);
      // The route's partition applies to the request topic as it does to sends.
      const outOfRange = await bus.preflight!('request-reply', requests, { partition: 7 });
      expect(outOfRange.ok).to.equal(false);
      expect(outOfRange.detail).to.include('partition 7 does not exist');
    });

    it('request-reply: fails on a missing request or reply topic with createTopics off, and creates neither', async function () {
      this.timeout(UNSETTLED_BOUND_MS + 30_000);
      const replyTopic = unique('pf-replies-gone');
      const bus = await strict({ replyTopic });
      const requests = await topicWith('pf-rpc-noreply', 1);
      expect(await bus.preflight!('request-reply', requests, {})).to.deep.equal({
        ok: false,
        detail: `Kafka reply topic "${replyTopic}" does not exist; create it, or set the broker option createTopics for development`,
      });
      const missing = unique('pf-rpc-missing');
      const refused = await bus.preflight!('request-reply', missing, {});
      expect(refused.ok).to.equal(false);
      expect(refused.detail).to.include(`Kafka topic "${missing}" does not exist`);
      // With createTopics on, missing topics pass the topic check; nobody reads the new one yet.
      const creating = await connected({ createTopics: true });
      expectNoReader(await settled(() => creating.preflight!('request-reply', missing, {})), missing);
      expect(await exists(replyTopic)).to.equal(false);
      expect(await exists(missing)).to.equal(false);
    });

    it('request-reply: says so, ok, when the consumer groups cannot be listed in time or at all', async () => {
      const hanging = { listGroups: () => new Promise<never>(() => undefined), describeGroups: () => new Promise<never>(() => undefined) };
      const started = Date.now();
      const slow = await groupsReading(hanging, 'orders', 200);
      expect(Date.now() - started).to.be.below(1000);
      expect(slow).to.deep.equal({ kind: 'unknown', reason: 'the cluster did not list and describe its consumer groups within 200 ms' });
      const denied = {
        listGroups: () => Promise.reject(new Error('Not authorized to access group: Cluster authorization failed')),
        describeGroups: () => Promise.reject(new Error('unused')),
      };
      const verdict = judgeReaders('orders', await groupsReading(denied, 'orders', 200), 'topic orders: 1 partition(s)');
      expect(verdict).to.deep.equal({
        ok: true,
        detail: 'topic orders: 1 partition(s); consumer groups not checked: Not authorized to access group: Cluster authorization failed',
      });
    });

    /** Each check stays within its own bound, however often it is asked again (support/settled-groups.ts). */
    function settled(check: () => Promise<PreflightResult>): Promise<PreflightResult> {
      return untilGroupsSettle(
        async () => {
          const started = Date.now();
          const result = await check();
          expect(Date.now() - started, 'the group check stays bounded').to.be.below(5000);
          return result;
        },
        (result) => result.detail,
      );
    }

    /** The count of groups checked depends on what else runs on the cluster. */
    function expectNoReader(result: PreflightResult, topic: string): void {
      expect(result.ok, result.detail).to.equal(false);
      const name = topic.replace(/[.]/g, '\\.');
      expect(result.detail).to.match(new RegExp(`^no consumer group reads topic ${name} \\(\\d+ consumer group\\(s\\) checked\\): requests would time out$`));
    }
  });
});

describe('kafka topic and key rules (no broker)', () => {
  it('accepts one topic token per templated value and checks whole topic names', () => {
    expect(kafka.isSafeToken!('orders_EU-1', 'destination')).to.equal(true);
    expect(kafka.isSafeToken!('eu.audit', 'destination'), 'a dot would reach another topic family').to.equal(false);
    expect(kafka.isSafeToken!('', 'destination')).to.equal(false);
    expect(kafka.isSafeToken!('customer 42/é', 'key')).to.equal(true);
    expect(kafka.isSafeToken!('a\r\nb', 'key')).to.equal(false);
    expect(kafka.isSafeToken!('k'.repeat(1025), 'key')).to.equal(false);
    expect(kafka.checkDestination!('orders.eu-1_x')).to.equal(undefined);
    expect(kafka.checkDestination!('orders/eu')).to.match(/may only contain/);
    expect(kafka.checkDestination!('t'.repeat(250))).to.match(/at most 249/);
    expect(kafka.checkDestination!('__consumer_offsets')).to.match(/reserved/);
    expect(kafka.checkDestination!('..')).to.match(/not a valid/);
  });

  it('fills every default into the options', () => {
    const options = pluginOptions({ replyTopic: undefined, createTopics: undefined, brokers: undefined });
    expect(options).to.deep.include({
      brokers: ['127.0.0.1:9092'],
      clientId: 'busgate',
      replyTopic: 'busgate.replies',
      createTopics: false,
      batch: { maxMessages: 500, lingerMs: 0, maxBytes: 1_048_576 },
      responderConcurrency: 64,
      connectionTimeoutMs: 1000,
      requestTimeoutMs: 5000,
    });
  });
});

describe('kafka batching producer (no broker)', () => {
  /** A stand-in for kafkajs that acknowledges after a short delay and counts produce requests. */
  function fakeKafka(): { kafka: Kafka; batches: number[] } {
    const batches: number[] = [];
    const nextOffset = new Map<string, number>();
    const producer = {
      connect: async () => undefined,
      disconnect: async () => undefined,
      sendBatch: async ({ topicMessages = [] }: ProducerBatch): Promise<RecordMetadata[]> => {
        await sleep(5);
        batches.push(topicMessages.reduce((n, t) => n + t.messages.length, 0));
        return topicMessages.map(({ topic, messages }) => {
          const base = nextOffset.get(topic) ?? 0;
          nextOffset.set(topic, base + messages.length);
          return { topicName: topic, partition: 0, errorCode: 0, baseOffset: String(base) };
        });
      },
    };
    // The plugin's partitioner runs inside kafkajs; here every record goes to partition 0.
    const kafka = {
      producer: (config: { createPartitioner: () => (args: object) => number }) => {
        const partitioner = config.createPartitioner();
        const send = producer.sendBatch;
        return {
          ...producer,
          sendBatch: (batch: ProducerBatch) => {
            for (const { topic, messages } of batch.topicMessages ?? []) {
              for (const message of messages) partitioner({ topic, message, partitionMetadata: [{ partitionId: 0, leader: 0 }] });
            }
            return send(batch);
          },
        } as unknown as Producer;
      },
    } as unknown as Kafka;
    return { kafka, batches };
  }

  it('sends concurrent messages in one batch while another is in flight, each caller with its own offset', async () => {
    const { kafka: fake, batches } = fakeKafka();
    const producer = new BatchingProducer(
      fake,
      { maxMessages: 500, lingerMs: 0, maxBatchBytes: () => 1_048_576, stuckAfterMs: 5000, allowAutoTopicCreation: false },
      new HealthBoard('fake', logger),
      logger,
      () => undefined,
    );
    const receipts = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        producer.send({ id: `m${i}`, topic: i % 2 ? 'odd' : 'even', record: { value: `v${i}` }, signal: AbortSignal.timeout(5000) }),
      ),
    );
    // The first goes out at once; the other 199 gather while it is in flight.
    expect(batches).to.deep.equal([1, 199]);
    for (const [i, receipt] of receipts.entries()) {
      expect(receipt).to.deep.equal({ id: `m${i}`, topic: i % 2 ? 'odd' : 'even', partition: 0, offset: String(Math.floor(i / 2)) });
    }
    await producer.close();
  });

  it('rejects a caller whose deadline passes while queued, and sends the rest', async () => {
    const { kafka: fake, batches } = fakeKafka();
    const producer = new BatchingProducer(
      fake,
      { maxMessages: 500, lingerMs: 50, maxBatchBytes: () => 1_048_576, stuckAfterMs: 5000, allowAutoTopicCreation: false },
      new HealthBoard('fake', logger),
      logger,
      () => undefined,
    );
    const controller = new AbortController();
    const dropped = producer.send({ id: 'a', topic: 't', record: { value: 'a' }, signal: controller.signal });
    const kept = producer.send({ id: 'b', topic: 't', record: { value: 'b' }, signal: AbortSignal.timeout(5000) });
    controller.abort();
    const error = await rejection(dropped);
    expect(error.code).to.equal('broker_timeout');
    expect(error.message).to.match(/was not sent/);
    expect((await kept).offset).to.equal('0');
    expect(batches).to.deep.equal([1]);
    await producer.close();
  });
});

describe('kafka health board (no broker)', () => {
  it('answers the same snapshot until a part goes up or down, then the new state', () => {
    const board = new HealthBoard('k1:9092', logger);
    const connecting = board.snapshot();
    expect(connecting).to.deep.equal({ up: false, detail: 'producer: not connected yet' });
    expect(board.snapshot()).to.equal(connecting);
    board.up('producer');
    const up = board.snapshot();
    expect(up).to.deep.equal({ up: true, detail: 'connected to k1:9092' });
    board.up('producer');
    expect(board.snapshot(), 'an up part going up again changes nothing').to.equal(up);
    board.down('replies', 'reply consumer stopped');
    expect(board.snapshot()).to.deep.equal({ up: false, detail: 'replies: reply consumer stopped' });
    board.up('replies');
    expect(board.snapshot()).to.deep.equal({ up: true, detail: 'connected to k1:9092' });
    expect(Object.isFrozen(board.snapshot()), 'shared between callers, so never changed by one').to.equal(true);
  });
});
