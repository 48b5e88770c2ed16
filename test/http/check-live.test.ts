/**
 * `busgate check --live FILE` end to end, against the shared NATS, RabbitMQ and Kafka servers: one
 * line per route saying ok or FAIL, exit 1 when any route cannot work, 0 when all can. Read-only:
 * the queue the failing route names is still missing afterwards, and the Kafka request topic nobody
 * reads got no message and no consumer group.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { expect } from 'chai';
import kafkajs, { type Admin } from 'kafkajs';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { UNSETTLED_BOUND_MS, untilGroupsSettle } from '../support/settled-groups.js';

// The CLI compiled next to this test: dist/core/cli.js from dist/test/http/, and the same for any
// other output folder.
const cli = fileURLToPath(new URL('../../core/cli.js', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));
const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const kafkaBrokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const env = { ...process.env, LOG_FORMAT: 'json', NODE_ENV: 'test' };

describe('busgate check --live', function () {
  this.timeout(30_000);
  let dir: string;
  let admin: ChannelModel;
  const suffix = randomUUID().slice(0, 8);
  const existingQueue = `busgate-test-checklive-${suffix}`;
  const missingQueue = `busgate-test-checklive-missing-${suffix}`;
  const subject = `busgate.test.checklive.${suffix}`;
  const kafkaTopic = `busgate-test.checklive.${suffix}`;
  const kafkaReplies = `busgate-test.checklive-replies.${suffix}`;

  /** A fresh admin channel per call: a failed passive check closes its channel. */
  async function onAdmin<T>(work: (channel: Channel) => Promise<T>): Promise<T> {
    const channel = await admin.createChannel();
    channel.on('error', () => undefined);
    try {
      return await work(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  before(async function () {
    await requireBroker(this, 'nats', brokerEndpoints.nats());
    await requireBroker(this, 'rabbitmq', brokerEndpoints.rabbitmq());
    admin = await connect(amqpUrl);
    admin.on('error', () => undefined);
    await onAdmin((ch) => ch.assertQueue(existingQueue, { durable: true }));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-check-live-'));
    // The instances spelled out, so the test does not depend on the implicit defaults.
    fs.writeFileSync(
      path.join(dir, 'config.yaml'),
      [
        'brokers:',
        '  nats:',
        '    plugin: nats',
        `    options: { url: "${natsUrl}" }`,
        '  rabbitmq:',
        '    plugin: rabbitmq',
        `    options: { url: "${amqpUrl}", declare: false }`,
        // Loaded only by the routes files that name it, so the tests above do not need Kafka.
        '  kafka:',
        '    plugin: kafka',
        `    options: { brokers: ${JSON.stringify(kafkaBrokers)}, createTopics: false, replyTopic: "${kafkaReplies}" }`,
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    if (admin !== undefined) {
      await onAdmin((ch) => ch.deleteQueue(existingQueue)).catch(() => undefined);
      await onAdmin((ch) => ch.deleteQueue(missingQueue)).catch(() => undefined);
      await admin.close().catch(() => undefined);
    }
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  function writeRoutes(name: string, routes: string[]): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, ['routes:', ...routes, ''].join('\n'));
    return file;
  }

  const goodRoutes = [
    '  - name: events',
    '    path: /events',
    '    broker: nats',
    '    mode: pubsub',
    `    destination: ${subject}`,
    '  - name: jobs',
    '    path: /jobs',
    '    broker: rabbitmq',
    '    mode: point-to-point',
    `    destination: ${existingQueue}`,
  ];
  const badRoute = ['  - name: ghost', '    path: /ghost', '    broker: rabbitmq', '    mode: point-to-point', `    destination: ${missingQueue}`];

  function checkLive(file: string): { status: number | null; lines: string[]; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, [cli, 'check', '--live', file, '--config', path.join(dir, 'config.yaml')], {
      cwd: root,
      env,
      encoding: 'utf8',
      timeout: 25_000,
    });
    const lines = result.stdout.split('\n').filter((line) => /^(ok {2}|FAIL) /.test(line));
    return { status: result.status, lines, stdout: result.stdout, stderr: result.stderr };
  }

  it('prints ok or FAIL for each route and exits 1 when one cannot work', async () => {
    const result = checkLive(writeRoutes('mixed.yaml', [...goodRoutes, ...badRoute]));
    expect(result.lines, result.stdout + result.stderr).to.have.lengthOf(3);
    expect(result.lines[0]).to.equal(`ok   POST /events -> nats pubsub ${subject}: core subject; at-most-once (no stream involved)`);
    expect(result.lines[1]).to.equal(
      `ok   POST /jobs -> rabbitmq point-to-point ${existingQueue}: queue ${existingQueue} exists: 0 message(s) ready, 0 consumer(s)`,
    );
    expect(result.lines[2]).to.match(new RegExp(`^FAIL POST /ghost -> rabbitmq point-to-point ${missingQueue}: RabbitMQ has no queue "${missingQueue}"`));
    expect(result.stdout).to.include('live check: 1 of 3 cannot work');
    expect(result.status).to.equal(1);
    // Read-only: the check declared nothing.
    const declared = await onAdmin((ch) => ch.checkQueue(missingQueue)).then(
      () => true,
      () => false,
    );
    expect(declared).to.equal(false);
  });

  it('exits 0 when every route can work', () => {
    const result = checkLive(writeRoutes('good.yaml', goodRoutes));
    expect(result.lines, result.stdout + result.stderr).to.have.lengthOf(2);
    expect(result.lines.every((line) => line.startsWith('ok   '))).to.equal(true);
    expect(result.stdout).to.include('live check: every route can work (2 checked)');
    expect(result.status).to.equal(0);
  });

  it('checks the source and the dead letter of each subscription', () => {
    const file = path.join(dir, 'subscriptions.yaml');
    fs.writeFileSync(
      file,
      [
        'subscriptions:',
        '  - name: notify',
        '    broker: rabbitmq',
        `    source: ${existingQueue}`,
        '    mode: point-to-point',
        '    deliver: { url: "http://127.0.0.1:9/hooks" }',
        `    deadLetter: ${missingQueue}`,
        '',
      ].join('\n'),
    );
    const result = checkLive(file);
    expect(result.lines, result.stdout + result.stderr).to.have.lengthOf(2);
    expect(result.lines[0]).to.match(new RegExp(`^ok   subscription notify -> rabbitmq point-to-point ${existingQueue}: queue ${existingQueue} exists`));
    expect(result.lines[1]).to.match(new RegExp(`^FAIL subscription notify dead letter -> rabbitmq point-to-point ${missingQueue}: RabbitMQ has no queue`));
    expect(result.status).to.equal(1);
  });

  it('checks that a NATS pubsub subscription has a stream to read', () => {
    const file = path.join(dir, 'nats-subscription.yaml');
    fs.writeFileSync(
      file,
      [
        'subscriptions:',
        '  - name: fan',
        '    broker: nats',
        `    source: ${subject}.nostream`,
        '    mode: pubsub',
        '    deliver: { url: "http://127.0.0.1:9/hooks" }',
        `    deadLetter: ${subject}.dlq`,
        '',
      ].join('\n'),
    );
    const result = checkLive(file);
    expect(result.lines[0], result.stdout + result.stderr).to.match(
      new RegExp(`^FAIL subscription fan -> nats pubsub ${subject}.nostream: no JetStream stream captures`),
    );
    expect(result.status).to.equal(1);
  });

  describe('kafka routes', () => {
    let kafkaAdmin: Admin | undefined;

    before(async function () {
      await requireBroker(this, 'kafka', brokerEndpoints.kafka());
      kafkaAdmin = new kafkajs.Kafka({ clientId: 'busgate-test-checklive', brokers: kafkaBrokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
      await kafkaAdmin.connect();
      await kafkaAdmin.createTopics({
        topics: [
          { topic: kafkaTopic, numPartitions: 2 },
          { topic: kafkaReplies, numPartitions: 1 },
        ],
        waitForLeaders: true,
      });
    });

    after(async () => {
      if (kafkaAdmin === undefined) return;
      await kafkaAdmin.deleteTopics({ topics: [kafkaTopic, kafkaReplies] }).catch(() => undefined);
      await kafkaAdmin.disconnect();
    });

    it('reports a Kafka topic that exists, and a request topic no consumer group reads', async function () {
      this.timeout(UNSETTLED_BOUND_MS + 30_000);
      const routes = writeRoutes('kafka.yaml', [
        '  - name: stream',
        '    path: /stream',
        '    broker: kafka',
        '    mode: pubsub',
        `    destination: ${kafkaTopic}`,
        '    options: { partition: 1 }',
        '  - name: quote',
        '    path: /quote',
        '    broker: kafka',
        '    mode: request-reply',
        `    destination: ${kafkaTopic}`,
      ]);
      const result = await untilGroupsSettle(
        () => checkLive(routes),
        (answer) => answer.lines[1],
      );
      expect(result.lines, result.stdout + result.stderr).to.have.lengthOf(2);
      expect(result.lines[0]).to.equal(`ok   POST /stream -> kafka pubsub ${kafkaTopic}: topic ${kafkaTopic}: 2 partition(s), partition 1 exists`);
      expect(result.lines[1], result.lines[1]).to.match(
        new RegExp(
          `^FAIL POST /quote -> kafka request-reply ${kafkaTopic.replace(/[.]/g, '\\.')}: no consumer group reads topic \\S+ \\(\\d+ consumer group\\(s\\) checked\\)`,
        ),
      );
      expect(result.stdout).to.include('live check: 1 of 2 cannot work');
      expect(result.status).to.equal(1);
      // Read-only: nothing was produced to the topic, and no group came to read it.
      expect((await kafkaAdmin!.fetchTopicOffsets(kafkaTopic)).map((p) => p.high)).to.deep.equal(['0', '0']);
      const groups = (await kafkaAdmin!.listGroups()).groups.map((g) => g.groupId);
      expect(groups.filter((id) => id.includes(kafkaTopic))).to.deep.equal([]);
    });
  });
});
