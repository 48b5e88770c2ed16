/**
 * The MQTT plugin (packages/plugin-mqtt) against the real Mosquitto, called directly: what the
 * conformance suite does not pin down. Loaded by package name at run time, as the daemon does
 * (the root build compiles these tests before the plugin's own build). Every test uses its own
 * topics and client ids; durable sessions expire a minute after the run.
 */
import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import { expect } from 'chai';
import winston from 'winston';
import { BusgateError } from '../../core/errors.js';
import { catalogOf } from '../../core/brokers/instances.js';
import { lintRoutes } from '../../core/routes/lint.js';
import type { BrokerPlugin, InboundMessage, OutboundMessage, PluginFactory, SendContext } from '../../core/plugins/contract.js';
import { eventually } from '../support/daemon.js';
import { endpointOf, requireBroker } from '../support/require-broker.js';
import { PrivateMosquitto, requirePrivateBroker } from '../faults/support/private-brokers.js';

const url = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const logger = winston.createLogger({ silent: true });
const PACKAGE = 'busgate-plugin-mqtt';

describe('MQTT plugin (busgate-plugin-mqtt)', function () {
  this.timeout(30_000);
  let factory: PluginFactory<Record<string, unknown>>;
  const open: BrokerPlugin[] = [];

  before(async function () {
    await requireBroker(this, 'mqtt', endpointOf(url, 1883));
    factory = ((await import(PACKAGE)) as { default: PluginFactory<Record<string, unknown>> }).default;
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((plugin) => plugin.close()));
  });

  /** A connected plugin with the options as the core hands them over: validated, defaults filled. */
  async function connected(overrides: Record<string, unknown> = {}): Promise<BrokerPlugin> {
    const options: Record<string, unknown> = { url, queueSessionExpirySeconds: 60, ...overrides };
    const validate = new Ajv({ useDefaults: true, strict: false }).compile(factory.optionsSchema);
    if (!validate(options)) throw new Error(`bad test options: ${JSON.stringify(validate.errors)}`);
    const plugin = factory.create(options, { name: 'mqtt', instanceId: 'test', logger });
    open.push(plugin);
    await plugin.connect(new AbortController().signal);
    return plugin;
  }

  const topic = (label: string): string => `busgate/test/${label}/${randomUUID().slice(0, 8)}`;
  const message = (body: string): OutboundMessage => ({ id: randomUUID(), payload: Buffer.from(body), headers: {} });
  const context = (): SendContext => ({ signal: new AbortController().signal, timeoutMs: 3000, options: {} });

  async function rejection(work: Promise<unknown>): Promise<BusgateError> {
    try {
      await work;
    } catch (error) {
      expect(error).to.be.instanceOf(BusgateError, "the plugin throws the daemon's own error class");
      return error as BusgateError;
    }
    throw new Error('expected a rejection');
  }

  it('declares the MQTT topic rules: no wildcards, no $ topics, one level per templated value', () => {
    for (const bad of ['sensors/#', 'a/+/b', '$SYS/broker', '']) expect(factory.checkDestination?.(bad), bad).to.be.a('string');
    expect(factory.checkDestination?.('x'.repeat(65_536))).to.match(/65535 bytes/);
    expect(factory.checkDestination?.('orders/eu/created')).to.equal(undefined);
    for (const bad of ['a/b', '+', '#', '$share', 'a.b', 'é']) expect(factory.isSafeToken?.(bad, 'destination'), bad).to.equal(false);
    expect(factory.isSafeToken?.('tenant-42_x', 'destination')).to.equal(true);
  });

  it('has those rules applied to the routes file: a wildcard destination is a lint problem, not a 400 per request', () => {
    const catalog = catalogOf(new Map([['mqtt', { name: 'mqtt', factory, options: {} }]]));
    const lint = (destination: string): string[] =>
      lintRoutes(`routes:\n  - path: /s/:id\n    broker: mqtt\n    mode: pubsub\n    destination: "${destination}"\n`, catalog).problems.map(
        (p) => `${p.line}:${p.col} ${p.code}`,
      );
    expect(lint('sensors/#')).to.deep.equal(['5:18 bad_destination']);
    expect(lint('sensors/+/{id}')).to.deep.equal(['5:18 bad_destination']);
    expect(lint('sensors/{id}/temperature')).to.deep.equal([]);
  });

  it('point-to-point: with no session holding the topic, the broker kept nothing, so it is 502, not 202', async () => {
    const plugin = await connected({ clientId: `t-${randomUUID().slice(0, 8)}` });
    const error = await rejection(plugin.enqueue(topic('nobody'), message('lost?'), context()));
    expect(error.code).to.equal('broker_rejected');
    expect(error.message).to.match(/start a point-to-point consumer/);
  });

  it('point-to-point: a consumer session outlives a restart of the plugin, with what was sent meanwhile', async () => {
    const clientId = `t-${randomUUID().slice(0, 8)}`;
    const queue = topic('restart');
    const first = await connected({ clientId });
    await (await first.subscribe(queue, { mode: 'point-to-point' }, () => Promise.resolve())).close();
    await first.close();

    const second = await connected({ clientId });
    for (const body of ['one', 'two', 'three']) await second.enqueue(queue, message(body), context());
    const received: string[] = [];
    await second.subscribe(queue, { mode: 'point-to-point' }, (m: InboundMessage) => {
      received.push(m.payload.toString());
      return Promise.resolve();
    });
    await eventually(() => received.length === 3, 5000, 'the three queued messages');
    expect(received).to.deep.equal(['one', 'two', 'three']);
  });

  it('point-to-point: instances with different client ids compete through the shared subscription', async () => {
    const queue = topic('compete');
    const inboxes: string[][] = [[], []];
    for (const inbox of inboxes) {
      const plugin = await connected({ clientId: `t-${randomUUID().slice(0, 8)}` });
      await plugin.subscribe(queue, { mode: 'point-to-point' }, (m) => {
        inbox.push(m.payload.toString());
        return Promise.resolve();
      });
    }
    const sender = await connected();
    const sent = Array.from({ length: 10 }, (_, i) => `job-${i}`);
    for (const body of sent) await sender.enqueue(queue, message(body), context());
    await eventually(() => inboxes[0]!.length + inboxes[1]!.length >= sent.length, 5000, 'every job');
    expect([...inboxes[0]!, ...inboxes[1]!].sort()).to.deep.equal([...sent].sort());
    expect(inboxes[0], 'the broker shares the jobs out').to.not.be.empty;
    expect(inboxes[1], 'the broker shares the jobs out').to.not.be.empty;
  });

  it('point-to-point: a consumer that fails a message gets it offered again, and it is not lost', async () => {
    const plugin = await connected({ clientId: `t-${randomUUID().slice(0, 8)}` });
    const queue = topic('retry');
    let attempts = 0;
    const taken: string[] = [];
    await plugin.subscribe(queue, { mode: 'point-to-point' }, (m) => {
      attempts += 1;
      if (attempts === 1) return Promise.reject(new Error('not now'));
      taken.push(m.payload.toString());
      return Promise.resolve();
    });
    await plugin.enqueue(queue, message('retry me'), context());
    await eventually(() => taken.length === 1, 5000, 'the second attempt');
    expect(taken).to.deep.equal(['retry me']);
    expect(attempts).to.equal(2);
  });

  it('pubsub: a subscriber that fails a message gets it offered again, never a PUBACK that drops it', async () => {
    const plugin = await connected();
    const where = topic('pubsub-retry');
    let attempts = 0;
    await plugin.subscribe(where, { mode: 'pubsub' }, () => {
      attempts += 1;
      return attempts === 1 ? Promise.reject(new Error('not now')) : Promise.resolve();
    });
    await plugin.publish(where, message('again'), context());
    await eventually(() => attempts === 2, 5000, 'the second attempt');
  });

  it('egress groups: each group gets every message, and the members of one group (other replicas) share them', async () => {
    const where = topic('groups');
    const [a, b] = [await connected({ clientId: `t-${randomUUID().slice(0, 8)}` }), await connected({ clientId: `t-${randomUUID().slice(0, 8)}` })];
    const inboxes: Record<string, string[]> = { x1: [], x2: [], y: [] };
    const into = (name: string) => (m: InboundMessage) => {
      inboxes[name]!.push(m.payload.toString());
      return Promise.resolve();
    };
    const gx = `gx-${randomUUID().slice(0, 8)}`;
    await a.subscribe(where, { mode: 'pubsub', group: gx }, into('x1'));
    await b.subscribe(where, { mode: 'pubsub', group: gx }, into('x2'));
    await a.subscribe(where, { mode: 'point-to-point', group: `gy-${randomUUID().slice(0, 8)}` }, into('y'));
    const sent = Array.from({ length: 10 }, (_, i) => `m-${i}`);
    for (const body of sent) await a.publish(where, message(body), context());
    await eventually(() => inboxes.x1!.length + inboxes.x2!.length === 10 && inboxes.y!.length === 10, 5000, 'both groups');
    expect([...inboxes.x1!, ...inboxes.x2!].sort()).to.deep.equal([...sent].sort());
    expect(inboxes.y).to.deep.equal(sent);
    expect(await rejection(a.subscribe(where, { mode: 'pubsub', group: 'a/b' }, into('y')))).to.include({ code: 'broker_rejected' });
  });

  it('egress: a handler may hold a message far longer than the keepalive without the connection dropping or a redelivery', async () => {
    const plugin = await connected({ clientId: `t-${randomUUID().slice(0, 8)}`, keepaliveSeconds: 1 });
    const where = topic('hold');
    const calls: string[] = [];
    await plugin.subscribe(where, { mode: 'point-to-point', group: `hold-${randomUUID().slice(0, 8)}` }, async (m) => {
      calls.push(m.payload.toString());
      // 1.5 keepalives is when mqtt.js gives up on a connection that reads no PINGRESP.
      if (calls.length === 1) await new Promise((resolve) => setTimeout(resolve, 4000));
    });
    await plugin.enqueue(where, message('held'), context());
    await plugin.enqueue(where, message('next'), context());
    await eventually(() => calls.length === 2, 10_000, 'the message after the held one');
    // A dropped connection would bring "held" again (it was not acknowledged when it dropped).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(calls).to.deep.equal(['held', 'next']);
  });

  it('keeps headers, content type, the message id and the key through MQTT 5 properties', async () => {
    const plugin = await connected();
    const where = topic('props');
    const received: InboundMessage[] = [];
    await plugin.subscribe(where, { mode: 'pubsub' }, (m) => {
      received.push(m);
      return Promise.resolve();
    });
    const sent: OutboundMessage = { ...message('{}'), headers: { 'x-tenant': 'acme' }, contentType: 'application/json', key: 'k1' };
    const receipt = await plugin.publish(where, sent, context());
    expect(receipt).to.include({ id: sent.id, subscribed: true });
    await eventually(() => received.length === 1, 5000, 'the message');
    expect(received[0]).to.deep.include({ destination: where, contentType: 'application/json', key: 'k1' });
    expect(received[0]!.headers).to.deep.equal({ 'x-tenant': 'acme', 'busgate-id': sent.id });
  });

  it('point-to-point: a live consumer takes messages again after the broker restarts (its shared subscription renewed)', async function () {
    requirePrivateBroker(this, 'mqtt');
    const broker = await PrivateMosquitto.create();
    try {
      await broker.start();
      const privateUrl = `mqtt://127.0.0.1:${broker.port}`;
      const queue = topic('restarted');
      const consumer = await connected({ url: privateUrl, clientId: `t-${randomUUID().slice(0, 8)}`, reconnectPeriodMs: 200 });
      const taken: string[] = [];
      await consumer.subscribe(queue, { mode: 'point-to-point' }, (m) => {
        taken.push(m.payload.toString());
        return Promise.resolve();
      });
      const sender = await connected({ url: privateUrl, reconnectPeriodMs: 200 });
      await sender.enqueue(queue, message('before'), context());
      await eventually(() => taken.length === 1, 5000, 'the message before the restart');

      broker.kill();
      await broker.restart();
      // The sender is refused (502: nobody subscribed yet, or 503: not reconnected) until the
      // consumer has renewed its subscription; then the message is taken.
      await eventually(() => sender.health().up, 10_000, 'the sender reconnected');
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await sender.enqueue(queue, message('after'), context());
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      await eventually(() => taken.includes('after'), 5000, 'the message after the restart');
    } finally {
      await broker.dispose();
    }
  });

  it('answers 503 shutting_down at once after close (the kit closed-plugin error), and close is idempotent', async () => {
    const plugin = await connected();
    await plugin.close();
    await plugin.close();
    expect(plugin.health().up).to.equal(false);
    const error = await rejection(plugin.publish(topic('closed'), message('x'), context()));
    expect(error.code).to.equal('shutting_down');
  });
});
