/**
 * A rate limit whose buckets live elsewhere (core/state/remote-buckets.ts): the remote's answer
 * when it gives one, else this process's own buckets, each failure counted once.
 */
import { expect } from 'chai';
import { RemoteBuckets, type RemoteTake } from '../../core/state/remote-buckets.js';

describe('remote buckets', () => {
  const limit = { perSecond: 0.001, burst: 1 };

  /** A limiter on `remote`, and how many failures it counted. */
  function limiter(remote: RemoteTake): { buckets: RemoteBuckets; errors: () => number } {
    let errors = 0;
    return { buckets: new RemoteBuckets(limit, remote, () => (errors += 1)), errors: () => errors };
  }

  it("passes the remote's answer on, and asks it for the right client", async () => {
    const asked: string[] = [];
    const refusal = { ok: false, retryAfterSeconds: 7 };
    const { buckets, errors } = limiter((client) => {
      asked.push(client);
      return Promise.resolve(client === 'alice' ? { ok: true } : refusal);
    });
    expect(await buckets.take('alice')).to.deep.equal({ ok: true });
    expect(await buckets.take('alice'), 'the local burst of 1 plays no part').to.deep.equal({ ok: true });
    expect(await buckets.take('bob')).to.equal(refusal);
    expect(asked).to.deep.equal(['alice', 'alice', 'bob']);
    expect(errors()).to.equal(0);
  });

  for (const [failure, remote] of [
    ['rejects', () => Promise.reject(new Error('no answer'))],
    [
      'throws at once',
      () => {
        throw new Error('no connection');
      },
    ],
    ['answers something else', () => Promise.resolve({ allowed: 1 })],
    ['answers nothing', () => Promise.resolve(undefined)],
    ['is known to be away', () => undefined],
  ] as const) {
    it(`falls back to its own buckets, per client, and counts each failure, when the remote ${failure}`, async () => {
      const { buckets, errors } = limiter(remote);
      expect((await buckets.take('c')).ok).to.equal(true);
      expect(await buckets.take('c')).to.deep.equal({ ok: false, retryAfterSeconds: 1000 });
      expect((await buckets.take('d')).ok, 'another client has its own fallback bucket').to.equal(true);
      expect(errors()).to.equal(3);
    });
  }

  it('answers at once, without a round trip, when the remote is known to be away', async () => {
    const { buckets, errors } = limiter(() => undefined);
    const taken = buckets.take('c');
    expect(errors(), 'counted before take returns').to.equal(1);
    expect((await taken).ok).to.equal(true);
  });

  it('keeps using the remote once it answers again, with the fallback buckets as they were', async () => {
    let up = false;
    const { buckets, errors } = limiter(() => (up ? Promise.resolve({ ok: true }) : undefined));
    expect((await buckets.take('c')).ok).to.equal(true);
    up = true;
    expect((await buckets.take('c')).ok).to.equal(true);
    up = false;
    expect((await buckets.take('c')).ok, "the fallback bucket's token is still spent").to.equal(false);
    expect(errors()).to.equal(2);
  });
});
