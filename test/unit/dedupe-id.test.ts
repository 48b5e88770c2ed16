/** The id a broker dedupes on: the same for the same parts (every replica), apart for any other. */
import { expect } from 'chai';
import { scopedDedupeId, scopedMessageId } from '../../core/dedupe-id.js';

describe('scopedDedupeId', () => {
  it('is deterministic, so a retry reaching another replica is the same broker-side id', () => {
    expect(scopedDedupeId(['ingress', 'alice', 'jobs', 'key-1'])).to.equal(scopedDedupeId(['ingress', 'alice', 'jobs', 'key-1']));
  });

  it('differs by client and by route for the same key', () => {
    const alice = scopedDedupeId(['ingress', 'alice', 'jobs', 'key-1']);
    expect(scopedDedupeId(['ingress', 'bob', 'jobs', 'key-1'])).to.not.equal(alice);
    expect(scopedDedupeId(['ingress', 'alice', 'other', 'key-1'])).to.not.equal(alice);
  });

  it('cannot be forged by moving text between parts', () => {
    expect(scopedDedupeId(['ingress', 'a.b', 'c'])).to.not.equal(scopedDedupeId(['ingress', 'a', 'b.c']));
    expect(scopedDedupeId(['ingress', 'a', 'bc'])).to.not.equal(scopedDedupeId(['ingress', 'ab', 'c']));
  });

  it('is a header-safe token (base64url of SHA-256)', () => {
    expect(scopedDedupeId(['ingress', 'alice', 'jobs', 'key-1'])).to.match(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('scopedMessageId', () => {
  it('is a version 8 UUID, deterministic, and apart for another client', () => {
    const alice = scopedMessageId(['ingress', 'alice', 'jobs', 'key-1']);
    expect(alice).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(scopedMessageId(['ingress', 'alice', 'jobs', 'key-1'])).to.equal(alice);
    expect(scopedMessageId(['ingress', 'bob', 'jobs', 'key-1'])).to.not.equal(alice);
  });
});
