/**
 * Route rate limits in Redis: one token bucket per route shared by every replica, so N replicas
 * together allow the route's limit, not N times it. The bucket is refilled by a Lua script on
 * Redis's own clock (TIME), so replicas with skewed clocks agree.
 *
 * Redis unreachable: the route falls back to this instance's own bucket (fail open to the
 * per-instance limit, counted in busgate_state_store_errors_total{store="rate_limit"}). Refusing
 * every request because the limiter's store is away would turn a protection into an outage.
 */
import { secondsUntilToken, TokenBucket, type RateLimit, type RateLimiter, type RateLimits, type TakeOutcome } from '../http/rate-limit.js';
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

class SharedBucket implements RateLimiter {
  private readonly fallback: TokenBucket;

  constructor(
    private readonly redis: RedisConnection,
    private readonly key: string,
    private readonly limit: RateLimit,
    private readonly onError: () => void,
  ) {
    this.fallback = new TokenBucket(limit.perSecond, limit.burst);
  }

  async take(): Promise<TakeOutcome> {
    if (!this.redis.ready) return this.fail();
    try {
      const [allowed, tokens] = (await this.redis.script(TAKE, [this.key], [String(this.limit.perSecond), String(this.limit.burst)])) as [number, string];
      return allowed === 1 ? { ok: true } : { ok: false, retryAfterSeconds: secondsUntilToken(Number(tokens), this.limit.perSecond) };
    } catch {
      return this.fail();
    }
  }

  private fail(): TakeOutcome {
    this.onError();
    return this.fallback.take();
  }
}

export function redisRateLimits(redis: RedisConnection, options: { keyPrefix: string; onError: () => void }): RateLimits {
  return {
    forRoute: (route, limit) => new SharedBucket(redis, `${options.keyPrefix}rate:${encodeURIComponent(route)}`, limit, options.onError),
  };
}
