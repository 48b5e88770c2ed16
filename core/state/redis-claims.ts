/** Idempotency claims in Redis: SET NX with a PX lease, and a Lua compare-and-set to settle. */
import type { ClaimStore } from './shared-idempotency.js';
import type { RedisConnection } from './redis-connection.js';

/** Replaces our claim by the answer, or deletes it (ARGV[2] empty); never touches another's. */
const SETTLE_CLAIM = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1`;

export function redisClaims(redis: RedisConnection): ClaimStore {
  return {
    // Redis ends the lease itself (PX): an expired claim is simply gone.
    claim: async (key, claim, leaseMs) => (await redis.client.set(key, claim, { condition: 'NX', expiration: { type: 'PX', value: leaseMs } })) === 'OK',
    read: (key) => redis.client.get(key),
    settle: async (key, claim, value, windowMs) => {
      await redis.script(SETTLE_CLAIM, [key], [claim, value, String(windowMs)]);
    },
  };
}
