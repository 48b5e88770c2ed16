import { expect } from 'chai';
import { CircuitBreaker } from '../../core/brokers/circuit-breaker.js';
import { IdempotencyStore } from '../../core/http/idempotency.js';
import { TokenBucket } from '../../core/http/rate-limit.js';
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

  it('runs once per key within the window, and concurrent repeats wait for the first', async () => {
    const store = new IdempotencyStore(1000, 10);
    let runs = 0;
    const produce = async () => {
      runs += 1;
      await sleep(20);
      return answer('first');
    };
    const [a, b] = await Promise.all([store.run('r', 'k', produce), store.run('r', 'k', produce)]);
    const c = await store.run('r', 'k', produce);
    expect(runs).to.equal(1);
    expect([a.replayed, b.replayed, c.replayed]).to.deep.equal([false, true, true]);
    expect(c.answer.body.toString()).to.equal('first');
    await store.run('other-route', 'k', produce);
    expect(runs).to.equal(2);
  });

  it('forgets failures, so the client may retry the key', async () => {
    const store = new IdempotencyStore(1000, 10);
    await store.run('r', 'k', () => Promise.reject(new Error('broker down'))).catch(() => undefined);
    await store.run('r', 'k2', () => Promise.resolve(answer('x', 503)));
    expect(store.size).to.equal(0);
    expect((await store.run('r', 'k', () => Promise.resolve(answer('second')))).replayed).to.equal(false);
  });

  it('expires keys after the window and bounds how many it keeps', async () => {
    let now = 0;
    const store = new IdempotencyStore(1000, 2, () => now);
    await store.run('r', 'a', () => Promise.resolve(answer('a')));
    now = 1000;
    expect((await store.run('r', 'a', () => Promise.resolve(answer('a2')))).replayed).to.equal(false);
    await store.run('r', 'b', () => Promise.resolve(answer('b')));
    await store.run('r', 'c', () => Promise.resolve(answer('c')));
    expect(store.size).to.equal(2);
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
