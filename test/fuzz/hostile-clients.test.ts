/**
 * Hostile clients against every broker: a request whose subject, topic, key, header or size the
 * broker would answer by closing the connection or the channel must be refused alone, with a 4xx,
 * before anything is sent. The proof is that other clients' requests keep succeeding and the
 * broker's circuit never opens (issue #16, items 1-3).
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import kafkajs from 'kafkajs';
import type { BrokerInstanceConfig } from '../../core/config.js';
import { ERROR_CODES } from '../../core/errors.js';
import { deleteKafkaTopics, deleteRabbitQueues } from '../support/clean-up.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { brokerEndpoints, endpointOf, requireBroker } from '../support/require-broker.js';

interface BrokerCase {
  readonly name: 'memory' | 'nats' | 'kafka' | 'rabbitmq' | 'mqtt';
  readonly instance: BrokerInstanceConfig;
  /** pubsub where it needs nothing set up; point-to-point on RabbitMQ (a declared queue). */
  readonly mode: 'pubsub' | 'point-to-point';
  readonly keyed: boolean;
  /** The broker refuses a message this large by its own limit (read at connect time). */
  readonly refusesBytes?: number;
  /** MQTT topics may be 65,535 bytes: a 5,000-character one is no hostile input there. */
  readonly longDestinationsAllowed?: boolean;
}

const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';

const CASES: readonly BrokerCase[] = [
  { name: 'memory', instance: { plugin: 'memory', options: {} }, mode: 'pubsub', keyed: false },
  {
    name: 'nats',
    instance: { plugin: 'nats', options: { url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' } },
    mode: 'pubsub',
    keyed: false,
    refusesBytes: 1_100_000,
  },
  {
    name: 'kafka',
    instance: { plugin: 'kafka', options: { brokers: [process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'], createTopics: true } },
    mode: 'pubsub',
    keyed: true,
    refusesBytes: 1_100_000,
  },
  {
    name: 'mqtt',
    instance: { plugin: 'busgate-plugin-mqtt', options: { url: MQTT_URL, clientId: `busgate-hostile-${randomUUID().slice(0, 8)}` } },
    mode: 'pubsub',
    keyed: false,
    longDestinationsAllowed: true,
  },
  {
    name: 'rabbitmq',
    instance: { plugin: 'rabbitmq', options: { url: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672', declare: true } },
    mode: 'point-to-point',
    keyed: true,
  },
];

function routesFor(broker: BrokerCase, prefix: string): string {
  return `routes:
  - name: hostile
    path: /hostile/:name
    broker: ${broker.name}
    mode: ${broker.mode}
    destination: "${prefix}-{name}"
    headers: [x-tenant]
${broker.keyed ? '    key: "{header.x-key}"\n' : ''}${['pubsub', 'point-to-point', 'request-reply']
    .map(
      (mode) =>
        `  - name: long-${mode}\n    path: /long-${mode}/:name\n    broker: ${broker.name}\n    mode: ${mode}\n    destination: "${prefix}-{name}"\n    timeout: 500ms\n`,
    )
    .join('')}  - name: good
    path: /good
    broker: ${broker.name}
    mode: ${broker.mode}
    destination: "${prefix}-good"
`;
}

interface Answer {
  readonly status: number;
  readonly code: string | undefined;
}

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  if (response.status < 400) return { status: response.status, code: undefined };
  return { status: response.status, code: (JSON.parse(text) as { error: { code: string } }).error.code };
}

for (const broker of CASES) {
  describe(`hostile clients on ${broker.name}: refused alone, with a 4xx`, function () {
    this.timeout(60_000);
    let daemon: TestDaemon;
    const prefix = `sec${randomUUID().slice(0, 8)}`;
    const baseHeaders: Record<string, string> = broker.keyed ? { 'x-key': 'k' } : {};

    before(async function () {
      const endpoint = broker.name === 'mqtt' ? endpointOf(MQTT_URL, 1883) : broker.name === 'memory' ? undefined : brokerEndpoints[broker.name]();
      if (endpoint) await requireBroker(this, broker.name, endpoint);
      daemon = await startTestDaemon({
        routes: routesFor(broker, prefix),
        brokers: { [broker.name]: broker.instance },
        overrides: { bodyLimit: '4mb', limits: { maxHeaders: 100, maxHeaderBytes: 200_000, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 } },
      });
      const warm = await daemon.post('/good', 'warm-up', baseHeaders);
      expect(warm.status, await warm.text()).to.equal(202);
    });
    after(async () => {
      await daemon?.shutdown('done');
      if (broker.name === 'kafka') await deleteKafkaTopics(process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', prefix).catch(() => undefined);
      if (broker.name === 'rabbitmq')
        await deleteRabbitQueues(
          process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
          ['good', 'h', 'ct', 'k', 'big'].map((name) => `${prefix}-${name}`),
        ).catch(() => undefined);
    });

    /** A hostile request gets a documented 4xx (or 2xx when the broker takes it), then others still get 202. */
    async function refusedAlone(path: string, body: string | Buffer, headers: Record<string, string>): Promise<Answer> {
      const hostile = await answerOf(await daemon.post(path, body, { ...baseHeaders, ...headers }));
      const context = `${path.slice(0, 60)} -> ${JSON.stringify(hostile)}`;
      expect(hostile.status, context).to.be.below(500);
      if (hostile.code !== undefined) expect(ERROR_CODES[hostile.code as keyof typeof ERROR_CODES]?.status, context).to.equal(hostile.status);
      const good = await answerOf(await daemon.post('/good', 'good', baseHeaders));
      expect(good.status, `a good request after ${context}: ${JSON.stringify(good)}`).to.equal(202);
      const ready = await fetch(`${daemon.url}/ready`);
      expect(ready.status, `/ready after ${context}`).to.equal(200);
      return hostile;
    }

    if (!broker.longDestinationsAllowed) {
      it('a 5,000-character path parameter', async () => {
        for (let i = 0; i < 6; i += 1) {
          const answer = await refusedAlone(`/hostile/${'B'.repeat(5000)}`, 'x', {});
          expect(answer.status).to.be.within(400, 499);
        }
      });

      it('a 5,000-character path parameter, in every mode', async () => {
        for (const mode of ['pubsub', 'point-to-point', 'request-reply']) {
          for (let i = 0; i < 3; i += 1) {
            const answer = await refusedAlone(`/long-${mode}/${'C'.repeat(5000)}`, 'x', {});
            expect(answer.status, mode).to.be.within(400, 499);
          }
        }
      });
    }

    it('a 140,000-byte forwarded header value (over the RabbitMQ frame_max and the MQTT string limit)', async () => {
      for (let i = 0; i < 6; i += 1) await refusedAlone('/hostile/h', 'x', { 'x-tenant': 'v'.repeat(140_000) });
    });

    it('a Content-Type over 255 bytes', async () => {
      for (let i = 0; i < 6; i += 1) await refusedAlone('/hostile/ct', 'x', { 'content-type': `text/plain; x=${'a'.repeat(300)}` });
    });

    if (broker.keyed) {
      it('a 2,000-character key', async () => {
        for (let i = 0; i < 6; i += 1) {
          const answer = await refusedAlone('/hostile/k', 'x', { 'x-key': 'k'.repeat(2000) });
          expect(answer.status).to.be.within(400, 499);
        }
      });
    }

    if (broker.refusesBytes !== undefined) {
      it(`a body over the broker's own message size limit gets 413 message_too_large`, async () => {
        for (let i = 0; i < 3; i += 1) {
          const answer = await refusedAlone('/hostile/big', Buffer.alloc(broker.refusesBytes!, 1), {});
          expect(answer).to.deep.equal({ status: 413, code: 'message_too_large' });
        }
      });

      it('oversized messages sent together with small ones fail alone', async () => {
        const big = Array.from({ length: 10 }, () => daemon.post('/hostile/big', Buffer.alloc(broker.refusesBytes!, 2), baseHeaders).then(answerOf));
        const small = Array.from({ length: 20 }, (_, i) => daemon.post('/good', `small-${i}`, baseHeaders).then(answerOf));
        const [bigAnswers, smallAnswers] = [await Promise.all(big), await Promise.all(small)];
        expect(bigAnswers.map((a) => a.status)).to.deep.equal(Array(10).fill(413));
        expect(smallAnswers.map((a) => a.status)).to.deep.equal(Array(20).fill(202));
      });
    }

    if (broker.name === 'kafka') {
      it("a message over a topic's own max.message.bytes fails alone; its batch neighbours are stored", async () => {
        const kafka = new kafkajs.Kafka({ brokers: [process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'], logLevel: kafkajs.logLevel.NOTHING });
        const admin = kafka.admin();
        await admin.connect();
        try {
          await admin.createTopics({
            topics: [{ topic: `${prefix}-small`, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '20000' }] }],
          });
        } finally {
          await admin.disconnect();
        }
        // Sent together, so the producer batches them: one too large for the topic, many fine.
        const answers = await Promise.all(
          Array.from({ length: 30 }, (_, i) => daemon.post('/hostile/small', Buffer.alloc(i % 10 === 0 ? 50_000 : 100, 3), baseHeaders).then(answerOf)),
        );
        const expected = Array.from({ length: 30 }, (_, i) => (i % 10 === 0 ? 413 : 202));
        expect(answers.map((a) => a.status)).to.deep.equal(expected);
        expect(answers[0]!.code).to.equal('message_too_large');
      });
    }
  });
}
