import { expect } from 'chai';
import { CircuitBreaker } from '../../core/brokers/circuit-breaker.js';
import { MemoryIdempotencyStore } from '../../core/http/idempotency.js';
import { ClientBuckets, TokenBucket } from '../../core/http/rate-limit.js';
import { sleep } from '../support/net.js';

describe('circuit breaker', () => {
  let now = 0;
  const clock = (): number => now;
  const options = { threshold: 3, initialCooldownMs: 1000, maxCooldownMs: 4000 };

  beforeEach(() => (now = 0));

  it('opens after consecutive failures and refuses with the seconds left', () => {
    const circuit = new CircuitBreaker(options, clock);
    for (let i = 0; i < 3; i += 1) circuit.recordFailure(false);
    expect(circuit.state).to.equal('open');
    expect(circuit.admit()).to.deep.equal({ admitted: false, retryAfterSeconds: 1 });
  });

  it('lets exactly one trial through after the cool-down; success closes it', () => {
    const circuit = new CircuitBreaker(options, clock);
    for (let i = 0; i < 3; i += 1) circuit.recordFailure(false);
    now = 1000;
    expect(circuit.admit()).to.deep.equal({ admitted: true, trial: true });
    expect(circuit.admit().admitted).to.equal(false);
    circuit.recordSuccess(true);
    expect(circuit.state).to.equal('closed');
    expect(circuit.admit()).to.deep.equal({ admitted: true, trial: false });
  });

  it('doubles the cool-down when the trial fails, up to the maximum', () => {
    const circuit = new CircuitBreaker(options, clock);
    for (let i = 0; i < 3; i += 1) circuit.recordFailure(false);
    for (const expected of [2000, 4000, 4000]) {
      now += 5000;
      const admission = circuit.admit();
      expect(admission).to.deep.equal({ admitted: true, trial: true });
      circuit.recordFailure(true);
      const start = now;
      now = start + expected - 1;
      expect(circuit.state).to.equal('open');
      now = start + expected;
      expect(circuit.state).to.equal('half-open');
    }
  });

  it('a success between failures resets the count', () => {
    const circuit = new CircuitBreaker(options, clock);
    circuit.recordFailure(false);
    circuit.recordFailure(false);
    circuit.recordSuccess(false);
    circuit.recordFailure(false);
    expect(circuit.state).to.equal('closed');
  });
});

describe('idempotency store', () => {
  const answer = (id: string, status = 202) => ({ status, contentType: 'application/json', body: Buffer.from(id), messageId: id });
  const limits = (windowMs: number, maxKeys: number) => ({ windowMs, maxKeys, maxBytes: 1024 * 1024, maxReplyBytes: 1024 });
  const at = (route: string, key: string, client = '') => ({ route, client, key });

  it('runs once per key within the window, and concurrent repeats wait for the first', async () => {
    const store = new MemoryIdempotencyStore(limits(1000, 10));
    let runs = 0;
    const produce = async () => {
      runs += 1;
      await sleep(20);
      return answer('first');
    };
    const [a, b] = await Promise.all([store.run(at('r', 'k'), produce), store.run(at('r', 'k'), produce)]);
    const c = await store.run(at('r', 'k'), produce);
    expect(runs).to.equal(1);
    expect([a.replayed, b.replayed, c.replayed]).to.deep.equal([false, true, true]);
    expect(c.answer.body.toString()).to.equal('first');
    await store.run(at('other-route', 'k'), produce);
    expect(runs).to.equal(2);
  });

  it('forgets failures, so the client may retry the key', async () => {
    const store = new MemoryIdempotencyStore(limits(1000, 10));
    await store.run(at('r', 'k'), () => Promise.reject(new Error('broker down'))).catch(() => undefined);
    await store.run(at('r', 'k2'), () => Promise.resolve(answer('x', 503)));
    expect(store.size).to.equal(0);
    expect((await store.run(at('r', 'k'), () => Promise.resolve(answer('second')))).replayed).to.equal(false);
  });

  it('expires keys after the window and bounds how many it keeps', async () => {
    let now = 0;
    const store = new MemoryIdempotencyStore(limits(1000, 2), () => now);
    await store.run(at('r', 'a'), () => Promise.resolve(answer('a')));
    now = 1000;
    expect((await store.run(at('r', 'a'), () => Promise.resolve(answer('a2')))).replayed).to.equal(false);
    await store.run(at('r', 'b'), () => Promise.resolve(answer('b')));
    await store.run(at('r', 'c'), () => Promise.resolve(answer('c')));
    expect(store.size).to.equal(2);
  });

  it('keeps keys apart per client', async () => {
    const store = new MemoryIdempotencyStore(limits(1000, 10));
    await store.run(at('r', 'k', 'alice'), () => Promise.resolve(answer('alice')));
    const bob = await store.run(at('r', 'k', 'bob'), () => Promise.resolve(answer('bob')));
    expect(bob.replayed).to.equal(false);
    expect(bob.answer.body.toString()).to.equal('bob');
  });

  it('is bounded in bytes: keeps small answers, not large reply bodies, and forgets the oldest', async () => {
    const store = new MemoryIdempotencyStore({ windowMs: 60_000, maxKeys: 1000, maxBytes: 8 * 1024, maxReplyBytes: 1024 });
    const reply = (size: number) => Promise.resolve({ status: 200, contentType: 'text/plain', body: Buffer.alloc(size, 1), messageId: 'm' });
    await store.run(at('r', 'large'), () => reply(100_000));
    expect(store.bytes).to.be.below(1024);
    const repeat = await store.run(at('r', 'large'), () => reply(1)).catch((error: unknown) => error);
    expect((repeat as { code?: string }).code).to.equal('idempotency_reply_not_kept');
    for (let i = 0; i < 50; i += 1) await store.run(at('r', `small-${i}`), () => reply(1000));
    expect(store.bytes).to.be.at.most(8 * 1024);
    expect((await store.run(at('r', 'small-49'), () => reply(1))).replayed).to.equal(true);
    expect((await store.run(at('r', 'small-0'), () => reply(1))).replayed).to.equal(false);
  });

  it('counts a string body (a receipt) in UTF-8 bytes, not characters, and replays it unchanged', async () => {
    const store = new MemoryIdempotencyStore({ windowMs: 60_000, maxKeys: 1000, maxBytes: 1024 * 1024, maxReplyBytes: 10 });
    const empty = new MemoryIdempotencyStore({ windowMs: 60_000, maxKeys: 1000, maxBytes: 1024 * 1024, maxReplyBytes: 10 });
    const text = 'é'.repeat(1000);
    await empty.run(at('r', 'k'), () => Promise.resolve({ status: 202, contentType: 'application/json', body: '', messageId: 'm' }));
    await store.run(at('r', 'k'), () => Promise.resolve({ status: 202, contentType: 'application/json', body: text, messageId: 'm' }));
    expect(store.bytes - empty.bytes).to.equal(2000);
    const repeat = await store.run(at('r', 'k'), () => Promise.reject(new Error('not sent twice')));
    expect([repeat.replayed, repeat.answer.body]).to.deep.equal([true, text]);
    // A reply that is a string but over maxReplyBytes in bytes (6 characters, 12 bytes) is not kept.
    await store.run(at('r', 'reply'), () => Promise.resolve({ status: 200, contentType: 'text/plain', body: 'éééééé', messageId: 'm' }));
    const again = await store.run(at('r', 'reply'), () => Promise.reject(new Error('not sent twice'))).catch((error: unknown) => error);
    expect((again as { code?: string }).code).to.equal('idempotency_reply_not_kept');
  });
});

describe('token bucket', () => {
  it('allows a burst, then the refill rate, and says when to retry', () => {
    let now = 0;
    const bucket = new TokenBucket(2, 3, () => now);
    expect([bucket.take().ok, bucket.take().ok, bucket.take().ok, bucket.take().ok]).to.deep.equal([true, true, true, false]);
    expect(bucket.take()).to.deep.equal({ ok: false, retryAfterSeconds: 1 });
    now = 500;
    expect(bucket.take().ok).to.equal(true);
    expect(bucket.take().ok).to.equal(false);
  });
});

describe('client buckets', () => {
  it("give each client its own bucket: one client's burst leaves the others' whole", () => {
    const buckets = new ClientBuckets({ perSecond: 1, burst: 2 }, 100, () => 0);
    expect([buckets.take('a').ok, buckets.take('a').ok, buckets.take('a').ok]).to.deep.equal([true, true, false]);
    expect([buckets.take('b').ok, buckets.take('b').ok]).to.deep.equal([true, true]);
  });

  it('keep at most maxClients buckets, dropping the least recently used (which then starts full)', () => {
    const buckets = new ClientBuckets({ perSecond: 1, burst: 1 }, 2, () => 0);
    buckets.take('a');
    buckets.take('b');
    expect(buckets.take('a').ok).to.equal(false);
    buckets.take('c');
    expect(buckets.size).to.equal(2);
    expect(buckets.take('a').ok).to.equal(false);
    expect(buckets.take('b').ok).to.equal(true);
  });
});
