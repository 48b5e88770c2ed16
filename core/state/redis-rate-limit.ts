/**
 * Route rate limits in Redis: one token bucket per route and client shared by every replica, so
 * N replicas together allow each client the route's limit, not N times it. The bucket is refilled
 * by a Lua script on Redis's own clock (TIME), so replicas with skewed clocks agree. Idle buckets
 * expire once they would be full again, so Redis holds only the clients active lately.
 *
 * Redis unreachable: the route falls back to this instance's own buckets (fail open to the
 * per-instance limit, counted in busgate_state_store_errors_total{store="rate_limit"}). Refusing
 * every request because the limiter's store is away would turn a protection into an outage.
 */
import { secondsUntilToken, type RateLimits, type TakeOutcome } from '../http/rate-limit.js';
import { RemoteBuckets } from './remote-buckets.js';
import type { RedisConnection } from './redis-connection.js';

/** ARGV: perSecond, burst. Returns {1|0, tokens left as text}. */
const TAKE = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then tokens = burst; at = now end
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}`;

export function redisRateLimits(redis: RedisConnection, options: { keyPrefix: string; onError: () => void }): RateLimits {
  return {
    forRoute: (route, limit) => {
      const routeKey = `${options.keyPrefix}rate:${encodeURIComponent(route)}`;
      // The anonymous client keeps the route's key of old; encoding keeps `:` out of client names.
      const keyOf = (client: string): string => (client === '' ? routeKey : `${routeKey}:${encodeURIComponent(client)}`);
      const take = async (client: string): Promise<TakeOutcome> => {
        const args = [String(limit.perSecond), String(limit.burst)];
        const [allowed, tokens] = (await redis.script(TAKE, [keyOf(client)], args)) as [number, string];
        return allowed === 1 ? { ok: true } : { ok: false, retryAfterSeconds: secondsUntilToken(Number(tokens), limit.perSecond) };
      };
      return new RemoteBuckets(limit, (client) => (redis.ready ? take(client) : undefined), options.onError);
    },
  };
}
