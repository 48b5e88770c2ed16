/**
 * Fuzz of what one client can do to the others: random path parameters, keys, forwarded headers,
 * content types and bodies rendered into every broker's routes, each fuzzed request sent together
 * with well-formed requests of other clients. The fuzzed request may fail (with a documented
 * status, never 500); the others must all succeed, and the broker must stay ready.
 * FUZZ_NEIGHBOUR_ITERATIONS (default 60 per broker, also bounded by 20 s) and FUZZ_SEED replay it.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import kafkajs from 'kafkajs';
import type { BrokerInstanceConfig } from '../../core/config.js';
import { ERROR_CODES } from '../../core/errors.js';
import { deleteKafkaTopics, onRabbitChannel } from '../support/clean-up.js';
import { deleteStreamsNamed } from '../support/nats-streams.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { Random, seedFromEnv } from '../support/random.js';
import { brokerEndpoints, endpointOf, requireBroker } from '../support/require-broker.js';

const KAFKA = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';

interface Target {
  readonly name: 'memory' | 'nats' | 'kafka' | 'rabbitmq' | 'mqtt';
  readonly instance: BrokerInstanceConfig;
  /** Routes: /fuzz/:a renders the fuzzed values, /good is another client's well-formed request. */
  readonly routes: (prefix: string) => string;
  readonly prepare?: (prefix: string) => Promise<void>;
}

const HEADERS = 'headers: [x-tenant, x-trace-note]';
const NATS_STREAM_PREFIX = `FZ${randomUUID().slice(0, 8)}`;

const TARGETS: readonly Target[] = [
  {
    name: 'memory',
    instance: { plugin: 'memory', options: {} },
    routes: (p) => `routes:
  - { name: fuzz, path: "/fuzz/:a", broker: memory, mode: pubsub, destination: "${p}.{a}", ${HEADERS} }
  - { name: fuzz-queue, path: "/fuzz-queue/:a", broker: memory, mode: point-to-point, destination: "${p}.q.{a}", ${HEADERS} }
  - { name: good, path: /good, broker: memory, mode: point-to-point, destination: "${p}-good" }
`,
  },
  {
    // A templated point-to-point route creates a JetStream stream per subject (createStreams),
    // bounded by maxCreatedStreams: the fuzz reaches both the creation and the refusal.
    name: 'nats',
    instance: {
      plugin: 'nats',
      options: { url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', streamPrefix: NATS_STREAM_PREFIX, maxCreatedStreams: 5 },
    },
    routes: (p) => `routes:
  - { name: fuzz, path: "/fuzz/:a", broker: nats, mode: pubsub, destination: "${p}.{a}", ${HEADERS} }
  - { name: fuzz-queue, path: "/fuzz-queue/:a", broker: nats, mode: point-to-point, destination: "${p}.q.{a}", ${HEADERS} }
  - { name: fuzz-rr, path: "/fuzz-rr/:a", broker: nats, mode: request-reply, destination: "${p}.rr.{a}", timeout: 200ms, ${HEADERS} }
  - { name: good, path: /good, broker: nats, mode: pubsub, destination: "${p}.good" }
`,
  },
  {
    // createTopics off: a fuzzed topic that does not exist is refused by the broker, alone.
    name: 'kafka',
    instance: { plugin: 'kafka', options: { brokers: [KAFKA], createTopics: false } },
    routes: (p) => `routes:
  - { name: fuzz, path: "/fuzz/:a", broker: kafka, mode: pubsub, destination: "${p}-fuzz", key: "{a}", ${HEADERS} }
  - { name: fuzz-topic, path: "/fuzz-topic/:a", broker: kafka, mode: pubsub, destination: "${p}-{a}" }
  - { name: good, path: /good, broker: kafka, mode: pubsub, destination: "${p}-good" }
`,
    prepare: async (p) => {
      const admin = new kafkajs.Kafka({ brokers: [KAFKA], logLevel: kafkajs.logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: [
            { topic: `${p}-fuzz`, numPartitions: 1 },
            { topic: `${p}-good`, numPartitions: 1 },
          ],
        });
      } finally {
        await admin.disconnect();
      }
    },
  },
  {
    // declare off, as in production: a fuzzed exchange or queue that does not exist is refused
    // alone (an unknown exchange must not close the publishing channel everyone shares). The
    // fuzzed value is also a routing key on amq.topic (unroutable is the fuzzed request's own 502).
    name: 'rabbitmq',
    instance: { plugin: 'rabbitmq', options: { url: AMQP_URL, declare: false } },
    routes: (p) => `routes:
  - { name: fuzz, path: "/fuzz/:a", broker: rabbitmq, mode: pubsub, destination: amq.topic, key: "{a}", ${HEADERS} }
  - { name: fuzz-queue, path: "/fuzz-queue/:a", broker: rabbitmq, mode: point-to-point, destination: "${p}-{a}", ${HEADERS} }
  - { name: fuzz-exchange, path: "/fuzz-exchange/:a", broker: rabbitmq, mode: pubsub, destination: "${p}-{a}", ${HEADERS} }
  - { name: good, path: /good, broker: rabbitmq, mode: point-to-point, destination: "${p}-good" }
`,
    // Gone by itself ten minutes after the test stops using it.
    prepare: (p) =>
      onRabbitChannel(AMQP_URL, async (channel) => void (await channel.assertQueue(`${p}-good`, { durable: false, arguments: { 'x-expires': 600_000 } }))),
  },
  {
    // The MQTT plugin lives in its own package; the daemon loads it by its npm name.
    name: 'mqtt',
    instance: { plugin: 'busgate-plugin-mqtt', options: { url: MQTT_URL, clientId: `busgate-fuzz-${randomUUID().slice(0, 8)}` } },
    routes: (p) => `routes:
  - { name: fuzz, path: "/fuzz/:a", broker: mqtt, mode: pubsub, destination: "${p}/{a}", ${HEADERS} }
  - { name: good, path: /good, broker: mqtt, mode: pubsub, destination: "${p}/good" }
`,
  },
];

const LENGTHS = [1, 2, 5, 16, 100, 200, 255, 256, 300, 1000, 1100, 4000, 5000, 9000];
const ALPHABETS = ['abcXYZ019', '._-~', '*>#$%&+', '\u00e9\u00fc\u4e2d', '\u{1F600}\u200b\u202e', ' \t', '/\\?;=,"\''];
const CONTROL = ['\u0000', '\u0001', '\n', '\r', '\u007f'];

function randomText(random: Random, withControl: boolean): string {
  const length = random.pick(LENGTHS);
  // Half the values are one safe token (they reach the broker); the rest probe the checks.
  if (random.chance(0.5)) return Array.from({ length }, () => random.pick([...'abcXYZ019_-'])).join('');
  const alphabet = [...random.pick(ALPHABETS), ...(random.chance(0.3) ? [...ALPHABETS[0]!] : [])];
  let out = '';
  while (out.length < length) out += random.chance(withControl ? 0.02 : 0) ? random.pick(CONTROL) : random.pick(alphabet);
  return out;
}

/** Header values node can send: printable ASCII and Latin-1, no CR/LF. */
function headerValue(random: Random): string {
  const length = random.pick([...LENGTHS, 20_000, 60_000]);
  const alphabet = random.chance(0.2) ? 'x\u00e9\u00ff ;=' : 'abcdefXYZ0123456789-._~ ;=,/';
  return Array.from({ length }, () => random.pick([...alphabet])).join('');
}

function send(port: number, path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, headers, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error(`hung: POST ${path.slice(0, 80)}`)));
    req.on('error', reject);
    req.end(body);
  });
}

for (const target of TARGETS) {
  describe(`fuzz: one client's random input never fails another client's request (${target.name})`, function () {
    this.timeout(120_000);
    let daemon: TestDaemon;
    const prefix = `fz${randomUUID().slice(0, 8)}`;
    const seed = seedFromEnv();
    const iterations = Number(process.env.FUZZ_NEIGHBOUR_ITERATIONS ?? 60);

    before(async function () {
      const endpoint = target.name === 'mqtt' ? endpointOf(MQTT_URL, 1883) : target.name === 'memory' ? undefined : brokerEndpoints[target.name]();
      if (endpoint) await requireBroker(this, target.name, endpoint);
      await target.prepare?.(prefix);
      daemon = await startTestDaemon({
        routes: target.routes(prefix),
        brokers: { [target.name]: target.instance },
        overrides: { bodyLimit: '2mb', limits: { maxHeaders: 100, maxHeaderBytes: 200_000, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 } },
      });
      const warm = await send(daemon.port, '/good', {}, Buffer.from('warm-up'));
      expect(warm.status, warm.body).to.equal(202);
    });
    after(async () => {
      await daemon?.shutdown('done');
      if (target.name === 'kafka') await deleteKafkaTopics(KAFKA, prefix).catch(() => undefined);
      if (target.name === 'nats') await deleteStreamsNamed(process.env.NATS_URL ?? 'nats://127.0.0.1:4222', `${NATS_STREAM_PREFIX}_`).catch(() => undefined);
    });

    it(`seed ${seed}`, async () => {
      const random = new Random(seed);
      const routes = target
        .routes(prefix)
        .match(/path: "\/[a-z-]+\/:a"/g)!
        .map((m) => m.slice(7, -4));
      const deadline = Date.now() + 20_000;
      const seen = new Map<string, number>();
      for (let i = 0; i < iterations && Date.now() < deadline; i += 1) {
        const value = randomText(random, true);
        const encoded = [...Buffer.from(value, 'utf8')]
          .map((byte) =>
            /[A-Za-z0-9._~-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
          )
          .join('');
        const headers: Record<string, string> = {};
        if (random.chance(0.5)) headers['x-tenant'] = headerValue(random);
        if (random.chance(0.3)) headers['x-trace-note'] = headerValue(random);
        if (random.chance(0.5)) headers['x-key'] = headerValue(random);
        if (random.chance(0.3)) headers['content-type'] = `text/plain; x=${headerValue(random)}`;
        if (random.chance(0.1)) headers['content-encoding'] = headerValue(random);
        if (random.chance(0.1))
          headers['idempotency-key'] = randomText(random, false)
            .replace(/[^A-Za-z0-9._:@-]/g, 'k')
            .slice(0, 200);
        const size = random.chance(0.1) ? 1_000_000 + random.int(100_000) : random.int(2000);
        const fuzzedPath = `${random.pick(routes)}/${encoded}`;
        const neighbours = Array.from({ length: 3 }, (_, n) => send(daemon.port, '/good', { 'x-tenant': `n${n}` }, Buffer.from(`good-${i}-${n}`)));
        const [fuzzed, ...others] = await Promise.all([send(daemon.port, fuzzedPath, headers, random.bytes(size)), ...neighbours]);
        const context = `seed ${seed} #${i}: ${fuzzedPath.slice(0, 120)} ${JSON.stringify(Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, `${v.length} chars`])))} body ${size} -> ${fuzzed.status} ${fuzzed.body.slice(0, 300)}`;
        for (const other of others) expect(other.status, `another client's request failed while: ${context}: ${other.body.slice(0, 300)}`).to.equal(202);
        if (fuzzed.status >= 400) {
          const code = (JSON.parse(fuzzed.body) as { error: { code: keyof typeof ERROR_CODES } }).error.code;
          expect(ERROR_CODES[code]?.status, context).to.equal(fuzzed.status);
          expect(code, context).to.not.be.oneOf(['internal_error', 'broker_unavailable', 'broker_timeout']);
          seen.set(code, (seen.get(code) ?? 0) + 1);
        } else {
          seen.set(String(fuzzed.status), (seen.get(String(fuzzed.status)) ?? 0) + 1);
        }
      }
      const ready = await fetch(`${daemon.url}/ready`);
      expect(ready.status, `/ready after the fuzz (seed ${seed})`).to.equal(200);
      console.log(`      ${target.name}: ${JSON.stringify(Object.fromEntries(seen))}`);
    });
  });
}
