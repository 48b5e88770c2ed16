import { expect } from 'chai';
import { BusgateError } from '../../core/errors.js';
import { createLogger, maskSecrets } from '../../core/observability/logger.js';
import { Metrics } from '../../core/observability/metrics.js';
import type { BrokerPlugin, PluginFactory } from '../../core/plugins/contract.js';
import { BrokerInstance } from '../../core/brokers/instance.js';

function fakePlugin(behaviour: { publish: () => Promise<{ id: string }> }): { plugin: BrokerPlugin; calls: () => number } {
  let calls = 0;
  const unused = (): never => {
    throw new Error('not used');
  };
  const plugin: BrokerPlugin = {
    connect: () => Promise.resolve(),
    publish: () => {
      calls += 1;
      return behaviour.publish();
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
    const broker = new BrokerInstance('fake', factoryOf(fake.plugin), {}, {
      logger,
      metrics: metrics(),
      maxInFlight: 10,
      circuit: { threshold: 3, initialCooldownMs: 5000, maxCooldownMs: 5000 },
    });
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
    const fake = fakePlugin({ publish: () => new Promise(() => undefined) });
    const broker = new BrokerInstance('fake', factoryOf(fake.plugin), {}, { logger, metrics: metrics(), maxInFlight: 10 });
    await broker.start(100);
    const started = Date.now();
    expect((await codeOf(broker.send(request))).code).to.equal('broker_timeout');
    expect(Date.now() - started).to.be.within(150, 1000);
    await broker.close();
  });

  it('turns an unexpected plugin exception into internal_error', async () => {
    const fake = fakePlugin({ publish: () => Promise.reject(new TypeError('oops')) });
    const broker = new BrokerInstance('fake', factoryOf(fake.plugin), {}, { logger, metrics: metrics(), maxInFlight: 10 });
    await broker.start(100);
    expect((await codeOf(broker.send(request))).code).to.equal('internal_error');
    await broker.close();
  });
});

describe('secret masking', () => {
  it('masks passwords in URLs and Authorization values wherever they appear', () => {
    expect(maskSecrets('connect amqp://guest:s3cret@rabbit:5672/vh failed')).to.equal('connect amqp://guest:***@rabbit:5672/vh failed');
    expect(maskSecrets('nats://u:p@a:4222,nats://b:4222')).to.equal('nats://u:***@a:4222,nats://b:4222');
    expect(maskSecrets('Authorization: Bearer abc.def-123')).to.equal('Authorization: Bearer ***');
  });
});
