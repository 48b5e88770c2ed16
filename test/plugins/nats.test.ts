/**
 * The NATS plugin against a real nats-server with JetStream, called directly (no HTTP, no core).
 * Every test uses its own subjects; every stream a test creates is deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Ajv } from 'ajv';
import { expect } from 'chai';
import winston from 'winston';
import { connect, headers as natsHeaders, NatsConnectionImpl, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, RetentionPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { BusgateError } from '../../core/errors.js';
import type { BrokerPlugin, InboundMessage, OutboundMessage, SendContext } from '../../core/plugins/contract.js';
import nats from '../../plugins/nats/index.js';
import { FlushCoalescer } from '../../plugins/nats/flush-coalescer.js';
import { PublishBatch } from '../../plugins/nats/publish-batch.js';
import { toNatsHeaders } from '../../plugins/nats/messages.js';
import type { NatsOptions } from '../../plugins/nats/options.js';
import { streamNameFor } from '../../plugins/nats/names.js';
import { startNatsResponder } from '../../examples/responders/nats-responder.js';
import { eventually, sleep } from '../support/net.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';

const logger = winston.createLogger({ silent: true });
const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** The options as the core would hand them over: validated, defaults filled in. */
function pluginOptions(overrides: Partial<NatsOptions> = {}): NatsOptions {
  const validate = new Ajv({ useDefaults: true, strict: false }).compile(nats.optionsSchema);
  const options: Record<string, unknown> = { url: natsUrl, ...overrides };
  if (!validate(options)) throw new Error(`bad test options: ${JSON.stringify(validate.errors)}`);
  return options as unknown as NatsOptions;
}

function unique(label: string): string {
  return `busgate.test.${label}.${randomUUID().slice(0, 8)}`;
}

function message(body: string, extra: Partial<OutboundMessage> = {}): OutboundMessage {
  return { id: randomUUID(), payload: Buffer.from(body), headers: {}, ...extra };
}

function sendContext(options: Record<string, unknown> = {}, timeoutMs = 3000): SendContext {
  return { signal: new AbortController().signal, timeoutMs, options };
}

async function rejection(work: Promise<unknown>): Promise<BusgateError> {
  try {
    await work;
  } catch (error) {
    expect(error).to.be.instanceOf(BusgateError);
    return error as BusgateError;
  }
  throw new Error('expected a rejection');
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

describe('nats plugin: subject rules and flush coalescing', () => {
  it('isSafeToken refuses separators, wildcards, "$" prefixes, whitespace and control chars', () => {
    const safe = nats.isSafeToken!;
    for (const good of ['eu', 'order-42', 'A_b', 'ünï', 'a$b']) expect(safe(good, 'destination'), good).to.equal(true);
    for (const bad of ['', 'a.b', '*', 'a*', '>', 'x>', '$JS', '$SYS', 'a b', 'a\tb', 'a\r\nb', 'a\u0000b']) {
      expect(safe(bad, 'destination'), JSON.stringify(bad)).to.equal(false);
    }
  });

  it('checkDestination refuses empty tokens, wildcards and reserved subjects', () => {
    const check = nats.checkDestination!;
    expect(check('orders.eu.created')).to.equal(undefined);
    for (const bad of ['', 'a..b', '.a', 'a.', 'a.*.b', 'a.>', 'a b', '$JS.API.STREAM.NAMES', '_INBOX.x']) {
      expect(check(bad), JSON.stringify(bad)).to.be.a('string');
    }
  });

  it('one flush in flight serves everything written before it; later writes wait for the next', async () => {
    const flushes: ReturnType<typeof deferred>[] = [];
    const coalescer = new FlushCoalescer(() => {
      const flush = deferred();
      flushes.push(flush);
      return flush.promise;
    });
    const settled: string[] = [];
    const first = coalescer.afterFlush().then(() => settled.push('first'));
    const during = Array.from({ length: 50 }, (_, i) => coalescer.afterFlush().then(() => settled.push(`during${i}`)));
    expect(flushes).to.have.length(1);
    flushes[0]!.resolve();
    await first;
    expect(settled).to.deep.equal(['first']);
    await eventually(() => flushes.length === 2);
    flushes[1]!.resolve();
    await Promise.all(during);
    expect(flushes).to.have.length(2);
    expect(settled).to.have.length(51);
  });

  it("NATS headers: one value per name, the last of two spellings, and busgate's own from the message", () => {
    const plain = toNatsHeaders({ headers: { 'x-a': '1', 'busgate-id': 'forged', 'content-type': 'text/plain' }, id: 'm1' });
    expect([...plain]).to.deep.equal([
      ['x-a', ['1']],
      ['busgate-id', ['m1']],
      ['content-type', ['text/plain']],
    ]);
    const spelled = toNatsHeaders({ headers: { 'X-A': '1', 'x-a': '2', 'Nats-Msg-Id': 'steer' }, id: 'm2', key: 'k' });
    expect([...spelled]).to.deep.equal([
      ['x-a', ['2']],
      ['busgate-id', ['m2']],
      ['busgate-key', ['k']],
    ]);
  });

  /** A publish batch on a fake connection: what it wrote, and its flushes to answer by hand. */
  function fakeBatch(): { batch: PublishBatch; written: string[]; flushes: ReturnType<typeof deferred>[]; lost: AbortController } {
    const written: string[] = [];
    const flushes: ReturnType<typeof deferred>[] = [];
    const lost = new AbortController();
    const connection = {
      publish: (subject: string) => void written.push(subject),
      flush: () => {
        const flush = deferred();
        flushes.push(flush);
        return flush.promise;
      },
    } as unknown as NatsConnection;
    const batch = new PublishBatch(connection, () => lost.signal, {
      deadline: (_signal, subject) => new BusgateError('broker_timeout', `deadline ${subject}`),
      lost: (subject) => new BusgateError('broker_unavailable', `lost ${subject}`),
    });
    return { batch, written, flushes, lost };
  }

  const outcome = (work: Promise<void>): Promise<string> =>
    work.then(
      () => 'ok',
      (error: BusgateError) => error.message,
    );

  it('publish batch: one flush for the messages of a loop turn; a deadline stops only the waits it ends, and sends nothing already late', async () => {
    const { batch, written, flushes } = fakeBatch();
    const shared = new AbortController();
    const other = new AbortController();
    const late = new AbortController();
    const a = outcome(batch.publish('a', Buffer.from('1'), natsHeaders(), shared.signal));
    const b = outcome(batch.publish('b', Buffer.from('2'), natsHeaders(), shared.signal));
    const c = outcome(batch.publish('c', Buffer.from('3'), natsHeaders(), other.signal));
    const d = outcome(batch.publish('d', Buffer.from('4'), natsHeaders(), late.signal));
    late.abort();
    await eventually(() => flushes.length === 1);
    expect(written, 'the late one is never written').to.deep.equal(['a', 'b', 'c']);
    shared.abort();
    expect(await a).to.equal('deadline a');
    expect(await b).to.equal('deadline b');
    flushes[0]!.resolve();
    expect(await c).to.equal('ok');
    expect(await d).to.equal('deadline d');
    expect(flushes).to.have.length(1);
  });

  it('publish batch: a dropped connection ends every wait of the batch with the connection-lost error', async () => {
    const { batch, flushes, lost } = fakeBatch();
    const deadline = new AbortController();
    const waits = ['x', 'y'].map((subject) => outcome(batch.publish(subject, Buffer.from(subject), natsHeaders(), deadline.signal)));
    await eventually(() => flushes.length === 1);
    lost.abort();
    expect(await Promise.all(waits)).to.deep.equal(['lost x', 'lost y']);
    flushes[0]!.resolve(); // a late PONG changes nothing
    deadline.abort();
  });
});

describe('nats plugin (NATS server)', function () {
  let admin: NatsConnection;
  let jsm: JetStreamManager;
  const streams = new Set<string>();
  const plugins: BrokerPlugin[] = [];

  async function open(overrides: Partial<NatsOptions> = {}): Promise<BrokerPlugin> {
    const plugin = nats.create(pluginOptions(overrides), { name: 'nats', instanceId: 'test', logger });
    plugins.push(plugin);
    await plugin.connect(new AbortController().signal);
    return plugin;
  }

  before(async function () {
    await requireBroker(this, 'nats', brokerEndpoints.nats());
    admin = await connect({ servers: natsUrl.split(',') });
    jsm = await jetstreamManager(admin);
  });

  afterEach(async () => {
    await Promise.all(plugins.splice(0).map((plugin) => plugin.close()));
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => undefined);
    streams.clear();
  });

  after(async () => {
    await admin?.close();
  });

  it('core publish reaches every subscriber, and the receipt comes after a coalesced flush', async () => {
    const subject = unique('fanout');
    const consumer = await open();
    const seen: InboundMessage[][] = [[], []];
    for (const inbox of seen) {
      await consumer.subscribe(subject, { mode: 'pubsub' }, async (received) => {
        inbox.push(received);
      });
    }
    const publisher = await open();
    // Count flushes on every connection for the burst; only the publisher's runs meanwhile.
    const original = NatsConnectionImpl.prototype.flush;
    let started = 0;
    let finished = 0;
    NatsConnectionImpl.prototype.flush = function (this: NatsConnectionImpl) {
      started++;
      return original.call(this).finally(() => finished++);
    };
    let receipts;
    const flushedBeforeReceipt: number[] = [];
    try {
      receipts = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          publisher
            .publish(subject, message(`m${i}`, { headers: { 'x-trace': `t${i}`, 'nats-msg-id': 'forged' }, contentType: 'text/plain' }), sendContext())
            .then((receipt) => {
              flushedBeforeReceipt.push(finished);
              return receipt;
            }),
        ),
      );
    } finally {
      NatsConnectionImpl.prototype.flush = original;
    }
    expect(started, 'flushes for 40 publishes').to.be.within(1, 2);
    expect(Math.min(...flushedBeforeReceipt)).to.be.greaterThan(0);
    expect(receipts[0]).to.include({ subject, persisted: false });
    await eventually(() => seen.every((inbox) => inbox.length === 40));
    for (const inbox of seen) {
      const first = inbox.find((m) => m.payload.toString() === 'm0')!;
      expect(first.contentType).to.equal('text/plain');
      expect(first.headers['x-trace']).to.equal('t0');
      expect(first.headers['busgate-id']).to.equal(receipts[0]!.id);
      expect(first.headers).not.to.have.property('nats-msg-id');
    }
  });

  it('persistent publish answers with stream and seq; a repeated msgID is a duplicate stored once', async () => {
    const subject = unique('persist');
    const stream = `BGTEST_${randomUUID().slice(0, 8)}`;
    await jsm.streams.add({ name: stream, subjects: [subject] });
    streams.add(stream);
    const plugin = await open();
    const sent = message('{"n":1}', { contentType: 'application/json' });
    const first = await plugin.publish(subject, sent, sendContext({ persistent: true }));
    const again = await plugin.publish(subject, sent, sendContext({ persistent: true }));
    expect(first).to.deep.equal({ id: sent.id, subject, stream, seq: 1, duplicate: false });
    expect(again).to.deep.equal({ id: sent.id, subject, stream, seq: 1, duplicate: true });
    const info = await jsm.streams.info(stream);
    expect(info.state.messages).to.equal(1);
    const stored = await jsm.streams.getMessage(stream, { seq: 1 });
    expect(stored?.header.get('busgate-id')).to.equal(sent.id);
    expect(stored?.header.get('content-type')).to.equal('application/json');
  });

  it('persistent publish to a subject no stream captures is broker_rejected at once', async () => {
    const subject = unique('nostream');
    // A core listener would otherwise swallow the JetStream publish and leave it waiting.
    const listener = admin.subscribe(subject);
    await admin.flush();
    const plugin = await open();
    const started = Date.now();
    const error = await rejection(plugin.publish(subject, message('x'), sendContext({ persistent: true }, 5000)));
    expect(error.code).to.equal('broker_rejected');
    expect(error.message).to.contain(subject);
    expect(Date.now() - started).to.be.below(1000);
    listener.unsubscribe();
  });

  it('a work queue keeps messages until a consumer comes, then gives each to exactly one of two', async () => {
    const subject = unique('queue');
    const stream = streamNameFor('BUSGATE', subject);
    streams.add(stream);
    const producer = await open();
    // Concurrent first messages share one stream check and creation.
    const early = await Promise.all([0, 1, 2].map((i) => producer.enqueue(subject, message(`early${i}`), sendContext())));
    expect(early.map((r) => r.stream)).to.deep.equal([stream, stream, stream]);
    const info = await jsm.streams.info(stream);
    expect(info.config.retention).to.equal(RetentionPolicy.Workqueue);
    expect(info.state.messages).to.equal(3);

    const deliveries: { by: string; id: string }[] = [];
    for (const name of ['a', 'b']) {
      const worker = await open();
      await worker.subscribe(subject, { mode: 'point-to-point' }, async (received) => {
        deliveries.push({ by: name, id: received.headers['busgate-id']! });
      });
    }
    const later = await Promise.all(Array.from({ length: 27 }, (_, i) => producer.enqueue(subject, message(`later${i}`), sendContext())));
    const sentIds = [...early, ...later].map((r) => r.id);
    await eventually(() => deliveries.length >= 30);
    await sleep(300);
    expect(deliveries).to.have.length(30);
    expect(new Set(deliveries.map((d) => d.id))).to.deep.equal(new Set(sentIds));
    await eventually(async () => (await jsm.streams.info(stream)).state.messages === 0);
  });

  it('a rejected point-to-point message comes back; with createStreams off a missing stream is refused', async () => {
    const subject = unique('redeliver');
    streams.add(streamNameFor('BUSGATE', subject));
    const plugin = await open();
    let attempts = 0;
    await plugin.subscribe(subject, { mode: 'point-to-point' }, async () => {
      attempts++;
      if (attempts === 1) throw new Error('not yet');
    });
    await plugin.enqueue(subject, message('retry me'), sendContext());
    await eventually(() => attempts === 2, 4000);

    const strict = await open({ createStreams: false });
    const error = await rejection(strict.enqueue(unique('strict'), message('x'), sendContext()));
    expect(error.code).to.equal('broker_rejected');
    expect(error.message).to.contain('createStreams');
  });

  it('request-reply round trip keeps payload, headers and content type both ways', async () => {
    const subject = unique('rpc');
    const server = await open();
    let seen: InboundMessage | undefined;
    await server.respond(subject, async (request) => {
      seen = request;
      return {
        payload: Buffer.from(request.payload.toString().toUpperCase()),
        headers: { 'x-answer': 'yes', 'busgate-id': request.headers['busgate-id']! },
        contentType: 'text/x-shout',
      };
    });
    const client = await open();
    const sent = message('hello', { headers: { 'x-question': 'q1' }, contentType: 'text/plain' });
    const reply = await client.request(subject, sent, sendContext({}, 2000));
    expect(reply.payload.toString()).to.equal('HELLO');
    expect(reply.contentType).to.equal('text/x-shout');
    expect(reply.headers).to.include({ 'x-answer': 'yes', 'busgate-id': sent.id });
    expect(seen?.contentType).to.equal('text/plain');
    expect(seen?.headers).to.include({ 'x-question': 'q1', 'busgate-id': sent.id });
  });

  it('works with the standalone example responder', async () => {
    const subject = unique('example');
    const responder = await startNatsResponder({ servers: natsUrl, subject });
    try {
      const client = await open();
      const sent = message('ping', { contentType: 'text/plain' });
      const reply = await client.request(subject, sent, sendContext({}, 2000));
      expect(reply.contentType).to.equal('application/json');
      expect(reply.headers['busgate-id']).to.equal(sent.id);
      expect(JSON.parse(reply.payload.toString())).to.include({ echo: 'ping', busgateId: sent.id, contentType: 'text/plain' });
    } finally {
      await responder.close();
    }
  });

  it('no responder gives no_responders at once; a slow one gives reply_timeout', async () => {
    const client = await open();
    const started = Date.now();
    const none = await rejection(client.request(unique('nobody'), message('x'), sendContext({}, 5000)));
    expect(none.code).to.equal('no_responders');
    expect(Date.now() - started).to.be.below(1000);

    const subject = unique('slow');
    await client.respond(subject, async () => {
      await sleep(800);
      return { payload: Buffer.from('late'), headers: {} };
    });
    const slow = await rejection(client.request(subject, message('x'), sendContext({}, 200)));
    expect(slow.code).to.equal('reply_timeout');
  });

  it('a server that is not there gives broker_unavailable quickly, without leaking credentials', async () => {
    const port = await closedPort();
    const plugin = nats.create(pluginOptions({ url: `nats://alice:s3cret@127.0.0.1:${port}`, connectTimeoutMs: 1000 }), {
      name: 'nats',
      instanceId: 'test',
      logger,
    });
    plugins.push(plugin);
    const started = Date.now();
    const failed = await rejection(plugin.connect(new AbortController().signal));
    expect(failed.code).to.equal('broker_unavailable');
    expect(Date.now() - started).to.be.below(1500);
    const send = await rejection(plugin.publish(unique('x'), message('x'), sendContext()));
    expect(send.code).to.equal('broker_unavailable');
    const health = plugin.health();
    expect(health.up).to.equal(false);
    expect(`${failed.message} ${send.message} ${health.detail}`).not.to.contain('s3cret');
  });

  it('while the connection is down sends fail at once; the plugin reconnects by itself', async () => {
    const proxy = await TcpProxy.start(brokerEndpoints.nats());
    try {
      const plugin = await open({ url: `nats://127.0.0.1:${proxy.port}`, reconnectWaitMs: 50 });
      const subject = unique('drop');
      await plugin.publish(subject, message('before'), sendContext());
      await proxy.cut();
      await eventually(() => !plugin.health().up, 3000);
      for (const send of [
        () => plugin.publish(subject, message('x'), sendContext()),
        () => plugin.enqueue(subject, message('x'), sendContext()),
        () => plugin.request(subject, message('x'), sendContext()),
      ]) {
        const started = Date.now();
        const error = await rejection(send());
        expect(error.code).to.equal('broker_unavailable');
        expect(Date.now() - started).to.be.below(100);
      }
      await proxy.resume();
      await eventually(() => plugin.health().up, 5000);
      const receipt = await plugin.publish(subject, message('after'), sendContext());
      expect(receipt).to.include({ persisted: false });
    } finally {
      await proxy.stop();
    }
  });

  it('a PubAck that does not come in time is broker_timeout; a retry with the same id is a duplicate', async () => {
    const proxy = await TcpProxy.start(brokerEndpoints.nats());
    try {
      const plugin = await open({ url: `nats://127.0.0.1:${proxy.port}` });
      const subject = unique('frozen');
      const receipt = await plugin.enqueue(subject, message('warm-up'), sendContext());
      streams.add(receipt.stream as string);
      proxy.freeze();
      const sent = message('maybe stored');
      const error = await rejection(plugin.enqueue(subject, sent, sendContext({}, 300)));
      expect(error.code).to.equal('broker_timeout');
      expect(error.message).to.contain('may be stored');
      proxy.thaw();
      const retried = await plugin.enqueue(subject, sent, sendContext());
      expect(retried).to.include({ id: sent.id, duplicate: true, seq: 2 });
    } finally {
      await proxy.stop();
    }
  });

  it('close() is idempotent and later sends are refused', async () => {
    const plugin = await open();
    await Promise.all([plugin.close(), plugin.close()]);
    await plugin.close();
    expect(plugin.health().up).to.equal(false);
    const error = await rejection(plugin.publish(unique('closed'), message('x'), sendContext()));
    expect(error.code).to.equal('shutting_down');
  });

  describe('preflight', () => {
    async function streamExists(name: string): Promise<boolean> {
      return jsm.streams.info(name).then(
        () => true,
        () => false,
      );
    }

    it('pubsub: a core subject is ok; a persistent one needs a stream capturing it', async () => {
      const plugin = await open();
      const subject = unique('pf-pub');
      const core = await plugin.preflight!('pubsub', subject, { persistent: false });
      expect(core.ok).to.equal(true);
      expect(core.detail).to.contain('at-most-once');

      const missing = await plugin.preflight!('pubsub', subject, { persistent: true });
      expect(missing.ok).to.equal(false);
      expect(missing.detail).to.contain(subject);

      const stream = `BGTEST_${randomUUID().slice(0, 8)}`;
      await jsm.streams.add({ name: stream, subjects: [subject] });
      streams.add(stream);
      const found = await plugin.preflight!('pubsub', subject, { persistent: true });
      expect(found).to.deep.equal({ ok: true, detail: `stream ${stream}, retention limits, 0 message(s)` });
      const wrong = await plugin.preflight!('pubsub', subject, { persistent: true, stream: 'BGTEST_other' });
      expect(wrong.ok).to.equal(false);
      expect(wrong.detail).to.contain(stream).and.contain('BGTEST_other');
    });

    it('point-to-point: an existing work-queue stream is ok, with its retention', async () => {
      const plugin = await open({ createStreams: false });
      const subject = unique('pf-queue');
      const stream = `BGTEST_${randomUUID().slice(0, 8)}`;
      await jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Workqueue });
      streams.add(stream);
      const result = await plugin.preflight!('point-to-point', subject, { persistent: false, stream });
      expect(result.ok).to.equal(true);
      expect(result.detail).to.contain(stream).and.contain('workqueue');
    });

    it('point-to-point: a missing stream is ok only with createStreams, and is not created by the check', async () => {
      const subject = unique('pf-missing');
      const stream = streamNameFor('BUSGATE', subject);
      streams.add(stream);
      const lenient = await open();
      const later = await lenient.preflight!('point-to-point', subject, { persistent: false });
      expect(later.ok).to.equal(true);
      expect(later.detail).to.contain(stream).and.contain('created on first use');

      const strict = await open({ createStreams: false });
      const refused = await strict.preflight!('point-to-point', subject, { persistent: false });
      expect(refused.ok).to.equal(false);
      expect(refused.detail).to.contain(stream).and.contain('createStreams');
      expect(await streamExists(stream), 'preflight must not create the stream').to.equal(false);
    });

    it('point-to-point: a stream with another retention fails', async () => {
      const plugin = await open();
      const subject = unique('pf-limits');
      const stream = `BGTEST_${randomUUID().slice(0, 8)}`;
      await jsm.streams.add({ name: stream, subjects: [subject] });
      streams.add(stream);
      const result = await plugin.preflight!('point-to-point', subject, { persistent: false, stream });
      expect(result.ok).to.equal(false);
      expect(result.detail).to.contain('retention "limits"');
    });

    it('request-reply: ok with a responder, fail without one; the responder gets no message', async () => {
      const subject = unique('pf-rpc');
      const client = await open();
      const none = await client.preflight!('request-reply', subject, { persistent: false });
      expect(none.ok).to.equal(false);
      expect(none.detail).to.contain('no responder');

      const server = await open();
      let requests = 0;
      await server.respond(subject, async () => {
        requests++;
        return { payload: Buffer.from('x'), headers: {} };
      });
      const answered = await client.preflight!('request-reply', subject, { persistent: false });
      expect(answered).to.deep.equal({ ok: true, detail: 'responders: queue group busgate.responders' });

      // A plain subscription on a wildcard also answers requests.
      const wildcard = admin.subscribe(`${subject.split('.').slice(0, -1).join('.')}.*`);
      await admin.flush();
      const both = await client.preflight!('request-reply', subject, { persistent: false });
      expect(both.detail).to.contain('1 plain subscription(s)');
      wildcard.unsubscribe();
      await sleep(100);
      expect(requests, 'preflight sends nothing to the subject').to.equal(0);
    });
  });
});

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP relay to the real server that a test can cut, freeze and restore, as network faults do. */
class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private readonly held: { to: net.Socket; data: Buffer }[] = [];
  private frozen = false;
  private server: net.Server;

  private constructor(
    private readonly target: { host: string; port: number },
    public port: number,
  ) {
    this.server = this.makeServer();
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target, 0);
    await proxy.listen();
    return proxy;
  }

  /** Drops every connection and refuses new ones. */
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  async resume(): Promise<void> {
    this.server = this.makeServer();
    await this.listen();
  }

  /** The server's answers stop reaching the client (requests still reach the server). */
  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const { to, data } of this.held.splice(0)) to.write(data);
  }

  async stop(): Promise<void> {
    if (this.server.listening) await this.cut();
  }

  private makeServer(): net.Server {
    return net.createServer((client) => {
      const upstream = net.connect(this.target);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.on('data', (data: Buffer) => {
        if (this.frozen) this.held.push({ to: client, data });
        else client.write(data);
      });
    });
  }

  private async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
}
