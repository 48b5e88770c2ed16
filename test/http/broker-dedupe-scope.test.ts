/**
 * A broker's duplicate window is shared by every client (issue #16, after item 6): on JetStream an
 * Idempotency-Key reached the server as Nats-Msg-Id unscoped, so client b, sending a's key first,
 * made a's message a silent duplicate (202, `duplicate: true`, nothing stored). The broker now
 * dedupes on an id scoped by client and route: each client's message is stored, and the same
 * client's retry is still dropped by the broker, also when it reaches another replica.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { createStream, deleteStreamsHolding } from '../support/nats-streams.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const ALICE = 'alice-secret-0123456789abcdef';
const BOB = 'bob-secret-0123456789abcdef00';

/** Messages stored in the stream that holds `subject`. */
async function storedOn(subject: string): Promise<number> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const stream of jsm.streams.list()) {
      if (stream.config.subjects?.includes(subject)) return (await jsm.streams.info(stream.config.name)).state.messages;
    }
    throw new Error(`no stream holds ${subject}`);
  } finally {
    await nc.close();
  }
}

interface Receipt {
  readonly id: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

describe('broker-side dedupe is scoped by client (JetStream Nats-Msg-Id)', function () {
  this.timeout(30_000);
  const run = randomUUID().slice(0, 8);
  const pubsubSubject = `dedupe.scope.pub.${run}`;
  const queueSubject = `dedupe.scope.jobs.${run}`;
  const routes = `routes:
  - name: events
    path: /events
    broker: nats
    mode: pubsub
    destination: ${pubsubSubject}
    options: { persistent: true }
  - name: jobs
    path: /jobs
    broker: nats
    mode: point-to-point
    destination: ${queueSubject}
`;
  const daemons: TestDaemon[] = [];
  const start = async (): Promise<TestDaemon> => {
    const daemon = await startTestDaemon({
      routes,
      brokers: { nats: { plugin: 'nats', options: { url: NATS_URL } } },
      overrides: {
        apiKeys: new Map([
          ['alice', ALICE],
          ['bob', BOB],
        ]),
      },
    });
    daemons.push(daemon);
    return daemon;
  };

  before(async function () {
    await requireBroker(this, 'nats', brokerEndpoints.nats());
    await createStream(NATS_URL, `DEDUPE_SCOPE_${run}`, pubsubSubject);
  });
  after(async () => {
    for (const daemon of daemons) await daemon.shutdown('test done');
    await deleteStreamsHolding(NATS_URL, [pubsubSubject, queueSubject]);
  });

  for (const [path, subject] of [
    ['/events', () => pubsubSubject],
    ['/jobs', () => queueSubject],
  ] as const) {
    it(`${path}: client b sending a's key first does not make a's message disappear`, async () => {
      const daemon = daemons[0] ?? (await start());
      const key = `shared-${path.slice(1)}-${run}`;
      const bob = await daemon.post(path, 'from bob', { 'x-api-key': BOB, 'idempotency-key': key });
      expect(bob.status).to.equal(202);
      const alice = await daemon.post(path, 'from alice', { 'x-api-key': ALICE, 'idempotency-key': key });
      expect(alice.status).to.equal(202);
      const bobReceipt = (await bob.json()) as Receipt;
      const aliceReceipt = (await alice.json()) as Receipt;
      expect(aliceReceipt.duplicate, "alice's message was dropped as bob's duplicate").to.equal(false);
      expect(aliceReceipt.seq).to.not.equal(bobReceipt.seq);
      // Nor do the visible ids collide (busgate-id, webhook-id): each is scoped by its client.
      expect(aliceReceipt.id).to.not.equal(bobReceipt.id);
      expect(await storedOn(subject())).to.equal(2);
    });
  }

  it("the same client's retry on another replica is still dropped by the broker", async () => {
    const first = daemons[0] ?? (await start());
    const second = await start();
    const key = `retry-${run}`;
    const sent = await first.post('/jobs', 'once', { 'x-api-key': ALICE, 'idempotency-key': key });
    expect(sent.status).to.equal(202);
    const before = await storedOn(queueSubject);
    // No shared idempotency store: the second replica publishes again, and JetStream drops it.
    const retried = await second.post('/jobs', 'once', { 'x-api-key': ALICE, 'idempotency-key': key });
    expect(retried.status).to.equal(202);
    expect(((await retried.json()) as Receipt).duplicate).to.equal(true);
    expect(await storedOn(queueSubject)).to.equal(before);
  });
});
