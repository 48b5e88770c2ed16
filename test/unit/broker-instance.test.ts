import { expect } from 'chai';
import { BusgateError } from '../../core/errors.js';
import { createLogger, maskSecrets } from '../../core/observability/logger.js';
import { Metrics } from '../../core/observability/metrics.js';
import type { BrokerPlugin, Logger, PluginContext, PluginFactory, RouteTarget, SendContext } from '../../core/plugins/contract.js';
import { withFields } from '../../core/brokers/kit.js';
import { BrokerInstance, ownedBytes } from '../../core/brokers/instance.js';

function fakePlugin(behaviour: { publish: (context: SendContext) => Promise<{ id: string }> }): { plugin: BrokerPlugin; calls: () => number } {
  let calls = 0;
  const unused = (): never => {
    throw new Error('not used');
  };
  const plugin: BrokerPlugin = {
    connect: () => Promise.resolve(),
    publish: (_destination, _message, context) => {
      calls += 1;
      return behaviour.publish(context);
    },
    enqueue: unused,
    request: unused,
    subscribe: unused,
    respond: unused,
    health: () => ({ up: true }),
    close: () => Promise.resolve(),
  };
  return { plugin, calls: () => calls };
}

function factoryOf(plugin: BrokerPlugin): PluginFactory<never> {
  return { apiVersion: 1, name: 'fake', modes: ['pubsub'], optionsSchema: {}, create: () => plugin } as unknown as PluginFactory<never>;
}
const metrics = (): Metrics => new Metrics({ defaultMetrics: false, brokerStatus: () => new Map() });
const logger = createLogger({ level: 'error', format: 'json', silent: true });
const request = { mode: 'pubsub' as const, destination: 'd', message: { id: '1', payload: Buffer.alloc(0), headers: {} }, timeoutMs: 200, options: {} };

/** Symbol.for gives every copy of busgate the same brand; this stands for another copy's. */
const OTHER_COPY_BRAND: unique symbol = Symbol.for('busgate.error');

async function codeOf(promise: Promise<unknown>): Promise<BusgateError> {
  try {
    await promise;
  } catch (error) {
    return error as BusgateError;
  }
  return expect.fail('expected a failure');
}

describe('BrokerInstance', () => {
  it('fails fast with Retry-After once the circuit opens, without calling the plugin', async () => {
    const fake = fakePlugin({ publish: () => Promise.reject(new BusgateError('broker_unavailable', 'down')) });
    const broker = new BrokerInstance(
      'fake',
      factoryOf(fake.plugin),
      {},
      {
        logger,
        metrics: metrics(),
        maxInFlight: 10,
        circuit: { threshold: 3, initialCooldownMs: 5000, maxCooldownMs: 5000 },
      },
    );
    await broker.start(100);
    for (let i = 0; i < 3; i += 1) expect((await codeOf(broker.send(request))).code).to.equal('broker_unavailable');
    const refused = await codeOf(broker.send(request));
    expect(refused.code).to.equal('broker_unavailable');
    expect(refused.retryAfterSeconds).to.equal(5);
    expect(fake.calls()).to.equal(3);
    expect(broker.health().up).to.equal(false);
    await broker.close();
  });

  it('answers broker_timeout at the deadline when the plugin never acknowledges', async () => {
    let pluginSignal: AbortSignal | undefined;
    const fake = fakePlugin({
      publish: (context) => {
        pluginSignal = context.signal;
        return new Promise(() => undefined);
      },
    });
    const broker = new BrokerInstance('fake', factoryOf(fake.plugin), {}, { logger, metrics: metrics(), maxInFlight: 10 });
    await broker.start(100);
    const started = performance.now();
    expect((await codeOf(broker.send(request))).code).to.equal('broker_timeout');
    // Not before the route's deadline (timers never fire early); how late depends on the machine,
    // so no upper bound here: that the plugin was told to stop is what proves the wait ended.
    expect(performance.now() - started).to.be.at.least(request.timeoutMs - 5);
    expect(pluginSignal?.aborted, "the plugin's signal is aborted at the deadline").to.equal(true);
    await broker.close();
  });

  it("serves a broker only after its plugin prepared the routes' targets, and retries a failed prepare", async () => {
    const fake = fakePlugin({ publish: () => Promise.resolve({ id: '1' }) });
    const prepared: Array<readonly RouteTarget[]> = [];
    let failNext = true;
    fake.plugin.prepare = async (targets) => {
      prepared.push(targets);
      if (failNext) {
        failNext = false;
        throw new BusgateError('broker_unavailable', 'cannot declare yet');
      }
    };
    const targets: RouteTarget[] = [{ route: 'orders', mode: 'pubsub', destination: 'orders', isStatic: true, options: {} }];
    const broker = new BrokerInstance(
      'fake',
      factoryOf(fake.plugin),
      {},
      {
        logger,
        metrics: metrics(),
        maxInFlight: 10,
        initialBackoffMs: 10,
        maxBackoffMs: 10,
        targets,
      },
    );
    await broker.start(1000);
    expect(broker.isConnected, 'not connected while the first prepare failed').to.equal(false);
    expect((await codeOf(broker.send(request))).code).to.equal('broker_unavailable');
    expect(fake.calls(), 'nothing sent before the topology is prepared').to.equal(0);
    const deadline = Date.now() + 5000;
    while (!broker.isConnected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(broker.isConnected).to.equal(true);
    expect(prepared).to.deep.equal([targets, targets]);
    await broker.send(request);

    const reloaded: RouteTarget[] = [...targets, { route: 'jobs', mode: 'pubsub', destination: 'jobs.{id}', isStatic: false, options: {} }];
    await broker.retarget(reloaded);
    expect(prepared.at(-1)).to.equal(reloaded);
    await broker.close();
  });

  it('turns an unexpected plugin exception into internal_error', async () => {
    const fake = fakePlugin({ publish: () => Promise.reject(new TypeError('oops')) });
    const broker = new BrokerInstance('fake', factoryOf(fake.plugin), {}, { logger, metrics: metrics(), maxInFlight: 10 });
    await broker.start(100);
    expect((await codeOf(broker.send(request))).code).to.equal('internal_error');
    await broker.close();
  });

  it("maps an error from a second copy of busgate by its brand, with this registry's status", async () => {
    // What another copy's BusgateError looks like here: not an instance of ours, but branded.
    class OtherCopyError extends Error {
      readonly [OTHER_COPY_BRAND] = true;
      override readonly name = 'BusgateError';
      readonly status = 500;
      constructor(
        readonly code: string,
        message: string,
      ) {
        super(message);
      }
    }
    const branded = [new OtherCopyError('broker_rejected', 'no such exchange'), { [OTHER_COPY_BRAND]: true, code: 'overloaded', message: 'busy' }];
    const expected = [
      { code: 'broker_rejected', status: 502, retryAfterSeconds: undefined },
      { code: 'overloaded', status: 503, retryAfterSeconds: 1 },
    ];
    for (const [index, thrown] of branded.entries()) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the point: a branded plain object from another copy
      const fake = fakePlugin({ publish: () => Promise.reject(thrown) });
      const broker = new BrokerInstance('fake', factoryOf(fake.plugin), {}, { logger, metrics: metrics(), maxInFlight: 10 });
      await broker.start(100);
      const mapped = await codeOf(broker.send(request));
      expect(mapped).to.be.instanceOf(BusgateError);
      expect({ code: mapped.code, status: mapped.status, retryAfterSeconds: mapped.retryAfterSeconds }).to.deep.equal(expected[index]);
      await broker.close();
    }
    // A code this copy does not know is not a busgate error: a bug worth internal_error.
    const unknown = fakePlugin({ publish: () => Promise.reject(new OtherCopyError('from_the_future', 'x')) });
    const broker = new BrokerInstance('fake', factoryOf(unknown.plugin), {}, { logger, metrics: metrics(), maxInFlight: 10 });
    await broker.start(100);
    expect((await codeOf(broker.send(request))).code).to.equal('internal_error');
    await broker.close();
  });
});

describe('BrokerInstance: the one door', () => {
  it("aborts the plugin's signal with the typed error the client gets", async () => {
    let seen: unknown;
    const fake = fakePlugin({ publish: () => new Promise(() => undefined) });
    const plugin: BrokerPlugin = {
      ...fake.plugin,
      publish: (_d, _m, context) =>
        new Promise((_, reject) => {
          context.signal.addEventListener('abort', () => {
            seen = context.signal.reason;
            reject(context.signal.reason as Error);
          });
        }),
    };
    const broker = new BrokerInstance('fake', factoryOf(plugin), {}, { logger, metrics: metrics(), maxInFlight: 10 });
    await broker.start(100);
    expect((await codeOf(broker.send(request))).code).to.equal('broker_timeout');
    expect(seen).to.be.instanceOf(BusgateError);
    expect((seen as BusgateError).code).to.equal('broker_timeout');
    await broker.close();
  });

  it('subscribes through the connection state, counts deliveries, and closes subscriptions with itself', async () => {
    const closed: string[] = [];
    let deliver: ((payload: string) => Promise<void>) | undefined;
    const fake = fakePlugin({ publish: () => Promise.resolve({ id: '1' }) });
    let connect: () => void = () => undefined;
    const plugin: BrokerPlugin = {
      ...fake.plugin,
      connect: () => new Promise<void>((resolve) => (connect = resolve)),
      subscribe: (destination, _options, onMessage) => {
        deliver = (payload) => onMessage({ destination, payload: Buffer.from(payload), headers: {} });
        return Promise.resolve({ close: () => Promise.resolve(void closed.push(destination)) });
      },
    };
    const counters = metrics();
    const broker = new BrokerInstance('fake', factoryOf(plugin), {}, { logger, metrics: counters, maxInFlight: 10 });
    await broker.start(20);
    const early = await codeOf(broker.subscribe('orders', { mode: 'pubsub' }, () => Promise.resolve()));
    expect(early.code).to.equal('broker_unavailable');
    connect();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const subscription = await broker.subscribe('orders', { mode: 'pubsub' }, (m) =>
      m.payload.toString() === 'bad' ? Promise.reject(new Error('no')) : Promise.resolve(),
    );
    await deliver!('good');
    await deliver!('bad').catch(() => undefined);
    const consumed = (await counters.consumed.get()).values.map((v) => `${v.labels.outcome}=${v.value}`).sort();
    expect(consumed).to.deep.equal(['handed_back=1', 'ok=1']);
    await broker.close();
    expect(closed).to.deep.equal(['orders']);
    await subscription.close();
    expect(closed, 'closing twice closes once').to.deep.equal(['orders']);
    expect((await codeOf(broker.subscribe('orders', { mode: 'pubsub' }, () => Promise.resolve()))).code).to.equal('shutting_down');
  });

  it('turns a preflight that throws into a failed line, and says when the plugin has no check', async () => {
    const fake = fakePlugin({ publish: () => Promise.resolve({ id: '1' }) });
    const without = new BrokerInstance('fake', factoryOf(fake.plugin), {}, { logger, metrics: metrics(), maxInFlight: 10 });
    await without.start(100);
    expect(await without.preflight('pubsub', 'd', {})).to.deep.equal({ ok: true, detail: 'connected (the plugin has no destination check)' });
    await without.close();
    const throwing = new BrokerInstance(
      'fake',
      factoryOf({ ...fake.plugin, preflight: () => Promise.reject(new BusgateError('broker_unavailable', 'gone')) }),
      {},
      {
        logger,
        metrics: metrics(),
        maxInFlight: 10,
      },
    );
    await throwing.start(100);
    expect(await throwing.preflight('pubsub', 'd', {})).to.deep.equal({ ok: false, detail: 'gone' });
    await throwing.close();
  });
});

describe('plugin context', () => {
  it('gives the plugin the instance id and a minimal logger that withFields can label', () => {
    const lines: unknown[][] = [];
    const base: Logger = {
      error: (...line) => lines.push(['error', ...line]),
      warn: (...line) => lines.push(['warn', ...line]),
      info: (...line) => lines.push(['info', ...line]),
      debug: (...line) => lines.push(['debug', ...line]),
    };
    const labelled = withFields(base, { plugin: 'mybroker' });
    labelled.warn('slow', { ms: 5 });
    labelled.debug('quiet');
    expect(lines).to.deep.equal([
      ['warn', 'slow', { plugin: 'mybroker', ms: 5 }],
      ['debug', 'quiet', { plugin: 'mybroker' }],
    ]);
    expect(labelled.isDebugEnabled).to.equal(undefined);
    // winston's logger is one of these Loggers: the daemon passes it as it is.
    const winstonLogger: Logger = logger;
    expect(withFields(winstonLogger, {}).isDebugEnabled?.()).to.equal(false);

    let seen: PluginContext | undefined;
    const { plugin } = fakePlugin({ publish: () => Promise.resolve({ id: '1' }) });
    const factory = { ...factoryOf(plugin), create: (_options: never, context: PluginContext) => ((seen = context), plugin) } as PluginFactory<never>;
    new BrokerInstance('fake', factory, {}, { logger, metrics: metrics(), maxInFlight: 1, instanceId: 'busgate-2' });
    expect(seen?.instanceId).to.equal('busgate-2');
  });
});

describe('secret masking', () => {
  it('masks passwords in URLs and Authorization values wherever they appear', () => {
    expect(maskSecrets('connect amqp://guest:s3cret@rabbit:5672/vh failed')).to.equal('connect amqp://guest:***@rabbit:5672/vh failed');
    expect(maskSecrets('nats://u:p@a:4222,nats://b:4222')).to.equal('nats://u:***@a:4222,nats://b:4222');
    expect(maskSecrets('Authorization: Bearer abc.def-123')).to.equal('Authorization: Bearer ***');
  });

  it('gives a reply a buffer of its own when the plugin hands out a small view of a larger one', async () => {
    // As kafkajs (a fetch response) and amqplib (a socket chunk) do: the view would pin all of it.
    const read = Buffer.alloc(65_536, 0x61);
    const view = read.subarray(1000, 1256);
    const fake = fakePlugin({ publish: () => Promise.reject(new Error('not used')) });
    const plugin: BrokerPlugin = { ...fake.plugin, request: () => Promise.resolve({ payload: view, headers: { a: 'b' }, contentType: 'text/plain' }) };
    const factory = { ...factoryOf(plugin), modes: ['request-reply'] } as unknown as PluginFactory<never>;
    const broker = new BrokerInstance('fake', factory, {}, { logger, metrics: metrics(), maxInFlight: 10 });
    await broker.start(100);
    const result = await broker.send({ ...request, mode: 'request-reply' });
    expect(result.kind).to.equal('reply');
    if (result.kind !== 'reply') return;
    expect(result.reply.payload.equals(view)).to.equal(true);
    expect(result.reply.payload.buffer.byteLength, 'its own buffer').to.equal(256);
    expect(result.reply.headers).to.deep.equal({ a: 'b' });
    expect(result.reply.contentType).to.equal('text/plain');
    await broker.close();
  });

  it('keeps a reply payload that is most of its buffer as it is', () => {
    const whole = Buffer.allocUnsafeSlow(300);
    expect(ownedBytes(whole)).to.equal(whole);
    const most = Buffer.allocUnsafeSlow(300).subarray(0, 200);
    expect(ownedBytes(most)).to.equal(most);
    const small = Buffer.allocUnsafeSlow(300).subarray(0, 100);
    expect(ownedBytes(small)).to.not.equal(small);
    expect(ownedBytes(small).equals(small)).to.equal(true);
  });
});
