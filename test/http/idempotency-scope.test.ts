/**
 * Idempotency keys belong to the client that sent them, and the in-memory store is bounded in
 * bytes (issue "Hostile clients", item 6): client b replaying client a's Idempotency-Key must not
 * read a's answer, and many large request-reply answers must not hold their bodies for the window.
 */
import { expect } from 'chai';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';

const ALICE = 'alice-secret-0123456789abcdef';
const BOB = 'bob-secret-0123456789abcdef00';

const ROUTES = `routes:
  - name: ask
    path: /ask
    broker: memory
    mode: request-reply
    destination: ask
  - name: jobs
    path: /jobs
    broker: memory
    mode: point-to-point
    destination: jobs
`;

describe('idempotency keys: client scope and byte bound', function () {
  this.timeout(20_000);
  let daemon: TestDaemon;

  before(async () => {
    daemon = await startTestDaemon({
      routes: ROUTES,
      brokers: { memory: { plugin: 'memory', options: { echoResponders: ['ask'] } } },
      overrides: {
        apiKeys: new Map([
          ['alice', ALICE],
          ['bob', BOB],
        ]),
      },
    });
  });
  after(() => daemon?.shutdown('test done'));

  it("client b sending client a's key gets its own answer, not a's reply", async () => {
    const secret = 'alice-private-reply-body';
    const first = await daemon.post('/ask', secret, { 'x-api-key': ALICE, 'idempotency-key': 'shared-key-1' });
    expect(first.status).to.equal(200);
    expect(await first.text()).to.equal(secret);

    const other = await daemon.post('/ask', 'bob-body', { 'x-api-key': BOB, 'idempotency-key': 'shared-key-1' });
    expect(other.status).to.equal(200);
    expect(other.headers.get('idempotent-replayed')).to.equal(null);
    expect(await other.text()).to.equal('bob-body');

    const again = await daemon.post('/ask', 'ignored', { 'x-api-key': ALICE, 'idempotency-key': 'shared-key-1' });
    expect(again.headers.get('idempotent-replayed')).to.equal('true');
    expect(await again.text()).to.equal(secret);
  });

  it("client b's repeat of a's key publishes b's message (one per client)", async () => {
    const received: string[] = [];
    const sub = await daemon.brokers.get('memory')!.subscribe('jobs', { mode: 'point-to-point' }, (m) => {
      received.push(Buffer.from(m.payload).toString());
      return Promise.resolve();
    });
    for (const [secret, body] of [
      [ALICE, 'a1'],
      [BOB, 'b1'],
      [ALICE, 'a2'],
      [BOB, 'b2'],
    ] as const) {
      const res = await daemon.post('/jobs', body, { 'x-api-key': secret, 'idempotency-key': 'job-42' });
      expect(res.status).to.equal(202);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    await sub.close();
    expect(received).to.deep.equal(['a1', 'b1']);
  });

  it('large replies are not kept for the window: the store stays within its byte bound', async () => {
    const big = 'x'.repeat(512 * 1024);
    for (let i = 0; i < 40; i += 1) {
      const res = await daemon.post('/ask', big, { 'x-api-key': ALICE, 'idempotency-key': `big-${i}` });
      expect(res.status).to.equal(200);
      expect((await res.arrayBuffer()).byteLength).to.equal(big.length);
    }
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    const line = /^busgate_idempotency_memory_bytes (\d+)/m.exec(metrics);
    expect(line, 'busgate_idempotency_memory_bytes is exported').to.not.equal(null);
    // 40 replies of 512 KiB were answered; what the store keeps of them is receipts, not bodies.
    expect(Number(line![1])).to.be.below(1024 * 1024);

    const repeat = await daemon.post('/ask', big, { 'x-api-key': ALICE, 'idempotency-key': 'big-3' });
    expect(repeat.status).to.equal(409);
    expect(((await repeat.json()) as { error: { code: string } }).error.code).to.equal('idempotency_reply_not_kept');
  });
});
