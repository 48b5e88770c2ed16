/**
 * The tap (issue #16, items 4 and 5): a development aid, off by default and refused in production
 * configs unless explicitly allowed; when on, a client may only tap destinations of routes it may
 * use; and a client that goes away, at any moment, leaves no consumer behind to eat messages.
 */
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { BrokerInstanceConfig } from '../../core/config.js';
import { loadConfig } from '../../core/config.js';
import { StartupError } from '../../core/errors.js';
import { sleep, startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { deleteKafkaTopics, deleteRabbitQueues, onRabbitChannel } from '../support/clean-up.js';
import { deleteStreamsHolding } from '../support/nats-streams.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const KAFKA = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';

describe('tap: a development aid, off by default', () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-tap-'));

  it('is off in the shipped config/default.yaml', () => {
    expect(loadConfig({ env: {}, cwd: REPO, args: [] }).tapEnabled).to.equal(false);
  });

  it('is refused at start-up with NODE_ENV=production unless tap.allowInProduction', () => {
    let refused: unknown;
    try {
      loadConfig({ env: { NODE_ENV: 'production', TAP_ENABLED: 'true' }, cwd: empty, args: [] });
    } catch (error) {
      refused = error;
    }
    expect(refused).to.be.instanceOf(StartupError);
    expect((refused as StartupError).code).to.equal('config_invalid');
    expect((refused as StartupError).details.join('\n')).to.include('tap.allowInProduction');
    const allowed = loadConfig({ env: { NODE_ENV: 'production', TAP_ENABLED: 'true', TAP_ALLOW_IN_PRODUCTION: 'true' }, cwd: empty, args: [] });
    expect(allowed.tapEnabled).to.equal(true);
  });
});

interface AbortCase {
  readonly name: string;
  readonly instance: BrokerInstanceConfig;
  readonly taps: number;
  readonly destination: (prefix: string) => string;
  /** Consumers the broker still has on the destination, where it can tell. */
  readonly consumers?: (destination: string) => Promise<number>;
  /** Removes what the test made on the shared broker. */
  readonly cleanUp?: (destination: string) => Promise<void>;
}

const rabbitConsumers = (queue: string): Promise<number> => onRabbitChannel(AMQP_URL, async (channel) => (await channel.checkQueue(queue)).consumerCount);

const ABORT_CASES: readonly AbortCase[] = [
  { name: 'memory', instance: { plugin: 'memory', options: {} }, taps: 90, destination: (p) => `${p}.jobs` },
  {
    name: 'nats',
    instance: { plugin: 'nats', options: { url: NATS_URL } },
    taps: 90,
    destination: (p) => `${p}.jobs`,
    cleanUp: (subject) => deleteStreamsHolding(NATS_URL, [subject]),
  },
  {
    name: 'rabbitmq',
    instance: { plugin: 'rabbitmq', options: { url: AMQP_URL, declare: true } },
    taps: 90,
    destination: (p) => `${p}-jobs`,
    consumers: rabbitConsumers,
    cleanUp: (queue) => deleteRabbitQueues(AMQP_URL, [queue]),
  },
  // A Kafka group join takes seconds; fewer taps still cover every moment of giving up.
  {
    name: 'kafka',
    instance: { plugin: 'kafka', options: { brokers: [KAFKA], createTopics: true } },
    taps: 6,
    destination: (p) => `${p}-jobs`,
    cleanUp: (topic) => deleteKafkaTopics(KAFKA, topic),
  },
];

/** Opens a tap and gives up on it after `afterMs` (0: before the answer could arrive). */
function abortedTap(port: number, pathname: string, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    setTimeout(() => req.destroy(), afterMs);
  });
}

for (const broker of ABORT_CASES) {
  describe(`tap on ${broker.name}: point-to-point, and clients that give up leave no consumer behind`, function () {
    this.timeout(120_000);
    let daemon: TestDaemon;
    const prefix = `tap${randomUUID().slice(0, 8)}`;
    const destination = broker.destination(prefix);

    before(async function () {
      if (broker.name !== 'memory') await requireBroker(this, broker.name, brokerEndpoints[broker.name as 'nats' | 'kafka' | 'rabbitmq']());
      daemon = await startTestDaemon({
        routes: `routes:\n  - name: jobs\n    path: /jobs\n    broker: ${broker.name}\n    mode: point-to-point\n    destination: "${destination}"\n`,
        brokers: { [broker.name]: broker.instance },
        overrides: { tapEnabled: true },
      });
      // The destination exists before the taps (a queue, a stream, a topic).
      const first = await daemon.post('/jobs', 'setup');
      expect(first.status, await first.text()).to.equal(202);
      const drained: string[] = [];
      const sub = await daemon.brokers.get(broker.name)!.subscribe(destination, { mode: 'point-to-point' }, (m) => {
        drained.push(m.payload.toString());
        return Promise.resolve();
      });
      const until = Date.now() + 30_000;
      while (drained.length === 0 && Date.now() < until) await sleep(50);
      await sub.close();
    });
    after(async () => {
      await daemon?.shutdown('done');
      await broker.cleanUp?.(destination);
    });

    it('a point-to-point tap opened while messages wait streams them', async () => {
      const sent = ['waiting-0', 'waiting-1', 'waiting-2'];
      for (const body of sent) expect((await daemon.post('/jobs', body)).status).to.equal(202);
      const controller = new AbortController();
      const res = await fetch(`${daemon.url}/tap/${broker.name}/${destination}?mode=point-to-point`, { signal: controller.signal });
      expect(res.status).to.equal(200);
      const reader = res.body!.getReader();
      let text = '';
      const until = Date.now() + 30_000;
      while (sent.some((body) => !text.includes(body)) && Date.now() < until) {
        const chunk = await Promise.race([reader.read(), sleep(1000).then(() => undefined)]);
        if (chunk?.value) text += Buffer.from(chunk.value).toString();
      }
      controller.abort();
      for (const body of sent) expect(text).to.include(`"body":"${body}"`);
    });

    it(`${broker.taps} point-to-point taps given up at random moments; then every message reaches the real consumer`, async () => {
      const pathname = `/tap/${broker.name}/${destination}?mode=point-to-point`;
      for (let i = 0; i < broker.taps; i += 1) {
        // 0-2 ms: while the tap subscribes; later: once it streams.
        await abortedTap(daemon.port, pathname, i % 3 === 0 ? 0 : i % 3 === 1 ? 2 : 40 + (i % 7) * 10);
      }
      if (broker.consumers) {
        let left = await broker.consumers(destination);
        const until = Date.now() + 10_000;
        while (left > 0 && Date.now() < until) {
          await sleep(100);
          left = await broker.consumers(destination);
        }
        expect(left, 'consumers left on the queue after the taps').to.equal(0);
      }
      const sent: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        const res = await daemon.post('/jobs', `after-${i}`);
        expect(res.status, await res.text()).to.equal(202);
        sent.push(`after-${i}`);
      }
      const received: string[] = [];
      const sub = await daemon.brokers.get(broker.name)!.subscribe(destination, { mode: 'point-to-point' }, (m) => {
        received.push(m.payload.toString());
        return Promise.resolve();
      });
      const until = Date.now() + 30_000;
      while (received.length < sent.length && Date.now() < until) await sleep(50);
      await sub.close();
      expect([...received].sort()).to.deep.equal(sent);
    });
  });
}
