/**
 * The RabbitMQ plugin against a real broker (RabbitMQ 3.10 in development). Every test uses its own
 * exchanges and queues and deletes them; the shared server itself is never stopped.
 */
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import winston from 'winston';
import { BusgateError, type ErrorCode } from '../../core/errors.js';
import type { BrokerPlugin, InboundMessage, OutboundMessage, RouteTarget, SendContext } from '../../core/plugins/contract.js';
import { startResponder } from '../../examples/responders/rabbitmq-responder.js';
import rabbitmq from '../../plugins/rabbitmq/index.js';
import { DEFINITIONS_BARRIER_PREFIX, flushDefinitions } from '../../plugins/rabbitmq/topology.js';
import { eventually, sleep } from '../support/net.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const run = promisify(execFile);

const logger = winston.createLogger({
  level: 'debug',
  silent: process.env.RABBITMQ_TEST_LOG === undefined,
  transports: [new winston.transports.Console()],
});

describe('rabbitmq plugin (real broker)', function () {
  let admin: ChannelModel;
  const plugins: BrokerPlugin[] = [];
  const exchanges: string[] = [];
  const queues: string[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  before(async function () {
    await requireBroker(this, 'rabbitmq', brokerEndpoints.rabbitmq());
    admin = await connect(AMQP_URL);
    admin.on('error', () => undefined);
  });

  after(async () => {
    await admin?.close().catch(() => undefined);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await Promise.all(plugins.splice(0).map((plugin) => plugin.close()));
    for (const exchange of exchanges.splice(0)) await onAdmin((ch) => ch.deleteExchange(exchange)).catch(() => undefined);
    for (const queue of queues.splice(0)) await onAdmin((ch) => ch.deleteQueue(queue)).catch(() => undefined);
  });

  /** A fresh admin channel per call: a failed operation closes its channel. */
  async function onAdmin<T>(work: (channel: Channel) => Promise<T>): Promise<T> {
    const channel = await admin.createChannel();
    channel.on('error', () => undefined);
    try {
      return await work(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  function name(kind: string): string {
    return `busgate-test-${kind}-${randomUUID().slice(0, 8)}`;
  }

  async function exchange(type: 'topic' | 'fanout' | 'direct'): Promise<string> {
    const exchangeName = name(`x-${type}`);
    exchanges.push(exchangeName);
    await onAdmin((ch) => ch.assertExchange(exchangeName, type, { durable: false, autoDelete: false }));
    return exchangeName;
  }

  async function queue(): Promise<string> {
    const queueName = name('q');
    queues.push(queueName);
    await onAdmin((ch) => ch.assertQueue(queueName, { durable: true }));
    return queueName;
  }

  function unusedQueueName(): string {
    const queueName = name('q');
    queues.push(queueName);
    return queueName;
  }

  async function messageCount(queueName: string): Promise<number> {
    return (await onAdmin((ch) => ch.checkQueue(queueName))).messageCount;
  }

  async function plugin(options: Record<string, unknown> = {}, instance = name('broker')): Promise<BrokerPlugin> {
    const created = rabbitmq.create({ url: AMQP_URL, ...options }, { name: instance, instanceId: 'test', logger });
    plugins.push(created);
    await created.connect(AbortSignal.timeout(5000));
    return created;
  }

  function message(body: string, extra: Partial<OutboundMessage> = {}): OutboundMessage {
    return { id: randomUUID(), payload: Buffer.from(body), headers: {}, contentType: 'text/plain', ...extra };
  }

  function context(timeoutMs = 3000, options: Record<string, unknown> = {}): SendContext {
    return { signal: new AbortController().signal, timeoutMs, options };
  }

  async function failure(operation: Promise<unknown>, code: ErrorCode): Promise<BusgateError> {
    try {
      await operation;
    } catch (error) {
      expect(error, String(error)).to.be.instanceOf(BusgateError);
      expect((error as BusgateError).code, (error as BusgateError).message).to.equal(code);
      return error as BusgateError;
    }
    expect.fail(`expected ${code}, but it succeeded`);
  }

  describe('pubsub', () => {
    it('fans a message out to every subscriber and returns a receipt after the confirm', async () => {
      const bus = await plugin();
      const topic = await exchange('topic');
      const seen: InboundMessage[][] = [[], []];
      for (const inbox of seen) {
        const subscription = await bus.subscribe(topic, { mode: 'pubsub' }, async (m) => {
          inbox.push(m);
        });
        cleanups.push(() => subscription.close());
      }
      const sent = message('{"order":42}', { contentType: 'application/json', headers: { 'x-trace': 't-1' }, key: 'order-created' });
      const receipt = await bus.publish(topic, sent, context());
      expect(receipt).to.deep.equal({ id: sent.id, exchange: topic, routingKey: 'order-created' });
      await eventually(() => seen.every((inbox) => inbox.length === 1));
      for (const [received] of seen) {
        expect(received!.payload.toString()).to.equal('{"order":42}');
        expect(received!.contentType).to.equal('application/json');
        expect(received!.headers['x-trace']).to.equal('t-1');
        expect(received!.key).to.equal('order-created');
        expect(received!.destination).to.equal(topic);
      }
    });

    it('uses the route routingKey when the route renders no key', async () => {
      const bus = await plugin();
      const direct = await exchange('direct');
      const bound = await queue();
      await onAdmin((ch) => ch.bindQueue(bound, direct, 'static-key'));
      const receipt = await bus.publish(direct, message('x'), context(3000, { routingKey: 'static-key' }));
      expect(receipt.routingKey).to.equal('static-key');
      expect(await messageCount(bound)).to.equal(1);
    });

    it('rejects an unroutable message with broker_rejected and stores nothing', async () => {
      const bus = await plugin();
      const direct = await exchange('direct');
      const bound = await queue();
      await onAdmin((ch) => ch.bindQueue(bound, direct, 'wanted'));
      const error = await failure(bus.publish(direct, message('lost', { key: 'unwanted' }), context()), 'broker_rejected');
      expect(error.message).to.match(/unroutable/);
      expect(await messageCount(bound)).to.equal(0);
      await bus.publish(direct, message('kept', { key: 'wanted' }), context());
      expect(await messageCount(bound)).to.equal(1);
    });

    it('fails fast on a missing exchange without disturbing publishes to other exchanges', async () => {
      const bus = await plugin();
      const fanout = await exchange('fanout');
      const bound = await queue();
      await onAdmin((ch) => ch.bindQueue(bound, fanout, ''));
      const missing = name('missing');

      const started = Date.now();
      const others = Array.from({ length: 50 }, (_, i) => bus.publish(fanout, message(`m${i}`), context()));
      const error = await failure(bus.publish(missing, message('nowhere'), context()), 'broker_rejected');
      expect(Date.now() - started).to.be.below(1000);
      expect(error.message).to.include(missing);
      await Promise.all(others);
      await bus.publish(fanout, message('after'), context());
      expect(await messageCount(bound)).to.equal(51);
      expect(bus.health().up).to.equal(true);
    });

    it('recovers when an exchange it already checked is deleted', async () => {
      const bus = await plugin();
      const doomed = await exchange('fanout');
      const survivor = await exchange('fanout');
      const bound = await queue();
      await onAdmin(async (ch) => {
        await ch.bindQueue(bound, doomed, '');
        await ch.bindQueue(bound, survivor, '');
      });
      await bus.publish(doomed, message('first'), context());
      await onAdmin((ch) => ch.deleteExchange(doomed));

      // The cached check lets this one through; the broker closes the channel with 404.
      await failure(bus.publish(doomed, message('second'), context()), 'broker_rejected');
      await bus.publish(survivor, message('third'), context());
      // The cache entry is gone: the passive check answers now.
      await failure(bus.publish(doomed, message('fourth'), context()), 'broker_rejected');
      expect(await messageCount(bound)).to.equal(2);
    });

    it('declares a missing exchange with declare: true', async () => {
      const bus = await plugin({ declare: true });
      const declared = name('declared');
      exchanges.push(declared);
      const seen: InboundMessage[] = [];
      const subscription = await bus.subscribe(declared, { mode: 'pubsub', options: { exchangeType: 'fanout' } }, async (m) => {
        seen.push(m);
      });
      cleanups.push(() => subscription.close());
      await bus.publish(declared, message('hello'), context(3000, { exchangeType: 'fanout' }));
      await eventually(() => seen.length === 1);
    });

    it('confirms 300 concurrent publishes', async () => {
      const bus = await plugin();
      const fanout = await exchange('fanout');
      const bound = await queue();
      await onAdmin((ch) => ch.bindQueue(bound, fanout, ''));
      const receipts = await Promise.all(Array.from({ length: 300 }, (_, i) => bus.publish(fanout, message(`payload-${i}`), context())));
      expect(new Set(receipts.map((r) => r.id)).size).to.equal(300);
      expect(await messageCount(bound)).to.equal(300);
    });
  });

  describe('point-to-point', () => {
    it('gives each message to exactly one of two consumers', async () => {
      const bus = await plugin();
      const work = unusedQueueName();
      const received: string[][] = [[], []];
      for (const inbox of received) {
        const subscription = await bus.subscribe(work, { mode: 'point-to-point' }, async (m) => {
          inbox.push(m.payload.toString());
          await sleep(5);
        });
        cleanups.push(() => subscription.close());
      }
      const sent = Array.from({ length: 40 }, (_, i) => `job-${i}`);
      const receipts = await Promise.all(sent.map((body) => bus.enqueue(work, message(body), context())));
      expect(receipts[0]).to.have.keys('id', 'queue');
      expect(receipts[0]!.queue).to.equal(work);
      await eventually(() => received[0]!.length + received[1]!.length === sent.length);
      await sleep(100);
      const all = [...received[0]!, ...received[1]!];
      expect(all.sort()).to.deep.equal([...sent].sort());
      expect(received[0]!.length).to.be.above(0);
      expect(received[1]!.length).to.be.above(0);
    });

    it('keeps a message until a consumer appears', async () => {
      const bus = await plugin();
      const work = await queue();
      await bus.enqueue(work, message('waiting'), context());
      expect(await messageCount(work)).to.equal(1);
      const seen: string[] = [];
      const subscription = await bus.subscribe(work, { mode: 'point-to-point' }, async (m) => {
        seen.push(m.payload.toString());
      });
      cleanups.push(() => subscription.close());
      await eventually(() => seen.length === 1);
      expect(seen).to.deep.equal(['waiting']);
    });

    it('redelivers a message whose handler rejected', async () => {
      const bus = await plugin();
      const work = unusedQueueName();
      let attempts = 0;
      const subscription = await bus.subscribe(work, { mode: 'point-to-point' }, async () => {
        attempts += 1;
        if (attempts === 1) throw new Error('not yet');
      });
      cleanups.push(() => subscription.close());
      await bus.enqueue(work, message('retry me'), context());
      await eventually(() => attempts === 2);
    });

    it('rejects a message for a missing queue with broker_rejected', async () => {
      const bus = await plugin();
      const error = await failure(bus.enqueue(name('no-queue'), message('x'), context()), 'broker_rejected');
      expect(error.message).to.match(/no queue/);
    });

    it('refuses reserved amq.* queue names', async () => {
      const bus = await plugin();
      await failure(bus.enqueue('amq.rabbitmq.reply-to.forged', message('x'), context()), 'broker_rejected');
    });
  });

  describe('request-reply', () => {
    it('round-trips through a standalone amqplib responder with headers and content type intact', async () => {
      const bus = await plugin();
      const requests = await queue();
      const responder = await startResponder(AMQP_URL, requests);
      cleanups.push(() => responder.close());
      const reply = await bus.request(requests, message('{"q":1}', { contentType: 'application/json', headers: { 'x-trace': 'abc' } }), context(3000));
      expect(reply.payload.toString()).to.equal('{"q":1}');
      expect(reply.contentType).to.equal('application/json');
      expect(reply.headers['x-trace']).to.equal('abc');
      expect(reply.headers['x-responder']).to.equal('rabbitmq-example');
    });

    it('answers through respond() and keeps concurrent replies apart', async () => {
      const bus = await plugin();
      const requests = unusedQueueName();
      const responder = await bus.respond(requests, async (m) => ({
        payload: Buffer.from(m.payload.toString().toUpperCase()),
        headers: { 'x-seen': m.headers['x-n'] ?? '' },
        contentType: 'text/plain',
      }));
      cleanups.push(() => responder.close());
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) => bus.request(requests, message(`hi ${i}`, { headers: { 'x-n': String(i) } }), context())),
      );
      replies.forEach((reply, i) => {
        expect(reply.payload.toString()).to.equal(`HI ${i}`);
        expect(reply.headers['x-seen']).to.equal(String(i));
      });
    });

    it('answers no_responders when no queue has the name', async () => {
      const bus = await plugin();
      const started = Date.now();
      await failure(bus.request(name('nobody'), message('hello?'), context(3000)), 'no_responders');
      expect(Date.now() - started).to.be.below(1000);
    });

    it('answers reply_timeout when the responder is too slow', async () => {
      const bus = await plugin();
      const requests = unusedQueueName();
      const responder = await bus.respond(requests, async () => {
        await sleep(1000);
        return { payload: Buffer.from('late'), headers: {} };
      });
      cleanups.push(() => responder.close());
      const started = Date.now();
      await failure(bus.request(requests, message('hurry'), context(300)), 'reply_timeout');
      expect(Date.now() - started).to.be.within(250, 900);
    });
  });

  describe('connection', () => {
    it('answers broker_unavailable quickly when nothing listens, without leaking the password', async () => {
      const bus = rabbitmq.create({ url: 'amqp://busgate:s3cr3t-pw@127.0.0.1:1' }, { name: 'closed-port', instanceId: 'test', logger });
      plugins.push(bus);
      const started = Date.now();
      const error = await failure(bus.connect(AbortSignal.timeout(5000)), 'broker_unavailable');
      expect(Date.now() - started).to.be.below(2000);
      expect(error.message).not.to.include('s3cr3t');
      await failure(bus.publish('anything', message('x'), context()), 'broker_unavailable');
      const health = bus.health();
      expect(health.up).to.equal(false);
      expect(health.detail).not.to.include('s3cr3t');
    });

    it('close() finishes in-flight publishes, is idempotent, and refuses later sends', async () => {
      const bus = await plugin();
      const fanout = await exchange('fanout');
      const bound = await queue();
      await onAdmin((ch) => ch.bindQueue(bound, fanout, ''));
      const inFlight = Array.from({ length: 50 }, (_, i) => bus.publish(fanout, message(`m${i}`), context()));
      const closed = bus.close();
      await Promise.all([closed, bus.close()]);
      expect((await Promise.allSettled(inFlight)).every((r) => r.status === 'fulfilled')).to.equal(true);
      expect(await messageCount(bound)).to.equal(50);
      await failure(bus.publish(fanout, message('late'), context()), 'shutting_down');
      expect(bus.health().up).to.equal(false);
      await bus.close();
    });

    it('reconnects after the server closes its connection; in-flight publishes fail with broker_unavailable', async function () {
      this.timeout(20000);
      const instance = name('reconnect');
      const bus = await plugin({ reconnect: { initialDelayMs: 100, maxDelayMs: 400 } }, instance);
      const work = unusedQueueName();
      const received = new Set<string>();
      const subscription = await bus.subscribe(work, { mode: 'point-to-point' }, async (m) => {
        received.add(m.payload.toString());
      });
      cleanups.push(() => subscription.close());

      const confirmed: string[] = [];
      const notSent: string[] = [];
      const unknown: string[] = [];
      const otherErrors: string[] = [];
      let stop = false;
      let cut = false;
      let okAfterCut = 0;
      const stream = (async () => {
        while (!stop) {
          const batch = Array.from({ length: 25 }, () => randomUUID());
          const outcomes = await Promise.allSettled(batch.map((id) => bus.enqueue(work, message(id, { id }), context())));
          outcomes.forEach((outcome, i) => {
            const id = batch[i]!;
            if (outcome.status === 'fulfilled') {
              confirmed.push(id);
              if (cut) okAfterCut += 1;
            } else if (outcome.reason instanceof BusgateError && outcome.reason.code === 'broker_unavailable') {
              (/nothing was sent/.test(outcome.reason.message) ? notSent : unknown).push(id);
            } else {
              otherErrors.push(String(outcome.reason));
            }
          });
          if (outcomes.some((o) => o.status === 'rejected')) await sleep(20);
        }
      })();

      await eventually(() => confirmed.length > 100);
      await closeServerSide(`busgate ${instance}`);
      cut = true;
      await eventually(() => !bus.health().up, 5000).catch(() => undefined);
      await eventually(() => bus.health().up && okAfterCut > 100, 10000);
      stop = true;
      await stream;

      expect(otherErrors).to.deep.equal([]);
      expect(notSent.length + unknown.length, 'sends during the outage must fail').to.be.above(0);
      // Every confirmed message reaches the re-established consumer; none that was never sent does.
      await eventually(() => confirmed.every((id) => received.has(id)), 10000);
      expect(notSent.filter((id) => received.has(id))).to.deep.equal([]);
      if (process.env.RABBITMQ_TEST_LOG !== undefined) {
        console.log(`confirmed ${confirmed.length}, not sent ${notSent.length}, outcome unknown ${unknown.length}`);
      }
    });
  });

  describe('preflight', () => {
    /** Whether the broker has it, asked passively on an admin channel of its own. */
    async function present(kind: 'exchange' | 'queue', what: string): Promise<boolean> {
      return onAdmin((ch) => (kind === 'exchange' ? ch.checkExchange(what) : ch.checkQueue(what))).then(
        () => true,
        () => false,
      );
    }

    it('pubsub: an existing exchange is ok; a missing one fails with declare off', async () => {
      const bus = await plugin();
      const topic = await exchange('topic');
      expect(await bus.preflight!('pubsub', topic, {})).to.deep.equal({ ok: true, detail: `exchange ${topic} exists` });
      const missing = name('pf-missing');
      const result = await bus.preflight!('pubsub', missing, {});
      expect(result.ok).to.equal(false);
      expect(result.detail).to.include(missing);
      // The failed passive check closed only its own channel: publishing still works.
      const bound = await queue();
      await onAdmin((ch) => ch.bindQueue(bound, topic, '#'));
      await bus.publish(topic, message('still fine'), context());
      expect(await messageCount(bound)).to.equal(1);
    });

    it('pubsub: a missing exchange is ok with declare on, and the check does not declare it', async () => {
      const bus = await plugin({ declare: true });
      const missing = name('pf-later');
      exchanges.push(missing);
      const result = await bus.preflight!('pubsub', missing, { exchangeType: 'fanout' });
      expect(result.ok).to.equal(true);
      expect(result.detail).to.include('fanout').and.include('declare: true');
      expect(await present('exchange', missing)).to.equal(false);
    });

    it('point-to-point: an existing queue is ok with its message and consumer counts', async () => {
      const bus = await plugin();
      const work = await queue();
      await bus.enqueue(work, message('waiting'), context());
      expect(await bus.preflight!('point-to-point', work, {})).to.deep.equal({
        ok: true,
        detail: `queue ${work} exists: 1 message(s) ready, 0 consumer(s)`,
      });
    });

    it('point-to-point: a missing queue fails with declare off, is ok with declare on, and is not declared', async () => {
      const missing = unusedQueueName();
      const strict = await plugin();
      const refused = await strict.preflight!('point-to-point', missing, {});
      expect(refused.ok).to.equal(false);
      expect(refused.detail).to.include(missing);
      const lenient = await plugin({ declare: true });
      const later = await lenient.preflight!('point-to-point', missing, {});
      expect(later.ok).to.equal(true);
      expect(later.detail).to.include('declare: true');
      expect(await present('queue', missing)).to.equal(false);
      const reserved = await strict.preflight!('point-to-point', 'amq.rabbitmq.reply-to', {});
      expect(reserved.ok).to.equal(false);
    });

    it('request-reply: ok with a consumer on the queue; fails without one or without the queue', async () => {
      const bus = await plugin();
      const idle = await queue();
      expect(await bus.preflight!('request-reply', idle, {})).to.deep.equal({ ok: false, detail: `no consumer on queue ${idle} (0 request(s) waiting)` });
      const missing = name('pf-nobody');
      const gone = await bus.preflight!('request-reply', missing, {});
      expect(gone.ok).to.equal(false);
      expect(gone.detail).to.include(missing);

      const requests = unusedQueueName();
      let handled = 0;
      const responder = await bus.respond(requests, async () => {
        handled += 1;
        return { payload: Buffer.from('x'), headers: {} };
      });
      cleanups.push(() => responder.close());
      const answered = await bus.preflight!('request-reply', requests, {});
      expect(answered).to.deep.equal({ ok: true, detail: `queue ${requests}: 0 message(s) ready, 1 consumer(s)` });
      expect(handled, 'preflight sends no request').to.equal(0);
      // The shared channels survived the failed passive checks.
      const reply = await bus.request(requests, message('ping'), context());
      expect(reply.payload.toString()).to.equal('x');
      expect(bus.health().up).to.equal(true);
    });
  });

  describe('declare: true (topology declared before the routes are served)', () => {
    function target(mode: RouteTarget['mode'], destination: string, options: Record<string, unknown> = {}): RouteTarget {
      return { route: `test ${destination}`, mode, destination, isStatic: !destination.includes('{'), options };
    }

    /** Whether `queue` is of `type`: a declare with another x-queue-type fails with 406. */
    async function queueIs(queueName: string, type: 'classic' | 'quorum'): Promise<boolean> {
      return onAdmin((ch) => ch.assertQueue(queueName, { durable: true, arguments: { 'x-queue-type': type } })).then(
        () => true,
        () => false,
      );
    }

    it('declares the fixed destinations of its routes in prepare(), and nothing on the send path', async () => {
      const bus = await plugin({ declare: true });
      const work = unusedQueueName();
      const topic = name('x-declared');
      exchanges.push(topic);
      const templated = `${name('q')}-{id}`;
      await bus.prepare!(
        [target('point-to-point', work), target('pubsub', topic, { exchangeType: 'fanout' }), target('point-to-point', templated)],
        AbortSignal.timeout(5000),
      );
      expect(await messageCount(work), 'the queue exists before any send').to.equal(0);
      await onAdmin((ch) => ch.checkExchange(topic));
      await bus.enqueue(work, message('first'), context());
      expect(await messageCount(work)).to.equal(1);

      // A destination no route names in full (a templated one) is never declared by a send.
      const rendered = unusedQueueName();
      const refused = await failure(bus.enqueue(rendered, message('x'), context()), 'broker_rejected');
      expect(refused.message)
        .to.match(/no queue/)
        .and.match(/declare: true/);
      const exists = await onAdmin((ch) => ch.checkQueue(rendered)).then(
        () => true,
        () => false,
      );
      expect(exists, 'the send path declared nothing').to.equal(false);
    });

    it('writes the declarations to disk with a barrier exchange it deletes again', async () => {
      const connection = await connect(AMQP_URL);
      try {
        const barrier = await flushDefinitions(connection);
        expect(barrier.startsWith(DEFINITIONS_BARRIER_PREFIX)).to.equal(true);
        const { stdout } = await run('rabbitmqctl', ['list_exchanges', '-q', '--no-table-headers', 'name']);
        expect(stdout.split('\n'), 'the barrier exchange is gone').to.not.include(barrier);
      } finally {
        await connection.close();
      }
    });

    it('declares nothing with declare: false', async () => {
      const bus = await plugin();
      const work = unusedQueueName();
      await bus.prepare!([target('point-to-point', work)], AbortSignal.timeout(5000));
      const exists = await onAdmin((ch) => ch.checkQueue(work)).then(
        () => true,
        () => false,
      );
      expect(exists).to.equal(false);
    });

    it('declares quorum queues with queueType: quorum, and a route option overrides it', async () => {
      const bus = await plugin({ declare: true, queueType: 'quorum' });
      const replicated = unusedQueueName();
      const plain = unusedQueueName();
      await bus.prepare!([target('point-to-point', replicated), target('point-to-point', plain, { queueType: 'classic' })], AbortSignal.timeout(5000));
      expect(await queueIs(replicated, 'quorum'), `${replicated} is a quorum queue`).to.equal(true);
      expect(await queueIs(plain, 'classic'), `${plain} is a classic queue`).to.equal(true);
      const receipt = await bus.enqueue(replicated, message('kept by Raft'), context());
      expect(receipt.queue).to.equal(replicated);
      expect(await messageCount(replicated)).to.equal(1);
    });

    it('uses an existing queue as it is, whatever its type', async () => {
      const bus = await plugin({ declare: true, queueType: 'quorum' });
      const work = await queue();
      await bus.prepare!([target('point-to-point', work)], AbortSignal.timeout(5000));
      expect(await queueIs(work, 'classic')).to.equal(true);
    });

    it('declares again on a new connection, before it serves', async () => {
      const instance = name('redeclare');
      const bus = await plugin({ declare: true, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } }, instance);
      const work = unusedQueueName();
      await bus.prepare!([target('point-to-point', work)], AbortSignal.timeout(5000));
      await onAdmin((ch) => ch.deleteQueue(work));
      await closeServerSide(`busgate ${instance}`);
      await eventually(() => !bus.health().up, 5000).catch(() => undefined);
      await eventually(() => bus.health().up, 10000);
      expect(await messageCount(work), 'declared again before the connection counted as up').to.equal(0);
      await bus.enqueue(work, message('after the reconnect'), context());
    });
  });

  async function closeServerSide(connectionName: string): Promise<void> {
    const { stdout } = await run('rabbitmqctl', ['list_connections', '-q', '--no-table-headers', 'pid', 'client_properties']);
    const line = stdout.split('\n').find((l) => l.includes(`"${connectionName}"`));
    if (line === undefined) throw new Error(`no connection named ${connectionName}`);
    const pid = line.split('\t')[0]!;
    await run('rabbitmqctl', ['close_connection', pid, 'busgate reconnect test']);
  }
});
