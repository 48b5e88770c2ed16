/**
 * Per-route rate limit, per client: each client (API key name) of a route has its own token
 * bucket, refilled continuously at `perSecond` and holding at most `burst` tokens, so one busy
 * client never makes another client's requests fail. Without API keys every request is the
 * anonymous client "" and the route has one bucket. Buckets are per daemon instance (with N
 * instances a client's total is N times the limit); with RATE_LIMIT_STORE they live in the shared
 * store (core/state/).
 */

export type TakeOutcome = { ok: true } | { ok: false; retryAfterSeconds: number };

export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

/** One route's limiter: local buckets answer at once, shared ones after a round trip. */
export interface RateLimiter {
  /** Takes a token from `client`'s bucket on this route. */
  take(client: string): TakeOutcome | Promise<TakeOutcome>;
}

/** Hands each route its limiter; the route name identifies a shared bucket across replicas. */
export interface RateLimits {
  forRoute(route: string, limit: RateLimit): RateLimiter;
}

export const localRateLimits: RateLimits = {
  forRoute: (_route, limit) => new ClientBuckets(limit),
};

/**
 * Buckets kept in memory per route. Clients are API key names, so their number is bounded by the
 * configuration; the cap is a second guard. Past it the least recently used bucket is dropped: its
 * client starts again with a full bucket, which can only be more lenient, never refuse anyone.
 */
export const MAX_CLIENT_BUCKETS = 10_000;

/** One token bucket per client, least recently used first, at most `maxClients` of them. */
export class ClientBuckets implements RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly maxClients: number = MAX_CLIENT_BUCKETS,
    private readonly now?: () => number,
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  take(client: string): TakeOutcome {
    let bucket = this.buckets.get(client);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.limit.perSecond, this.limit.burst, this.now);
      if (this.buckets.size >= this.maxClients) this.buckets.delete(this.buckets.keys().next().value!);
    } else {
      // Re-inserting moves the client to the most recently used end of the Map's order.
      this.buckets.delete(client);
    }
    this.buckets.set(client, bucket);
    return bucket.take();
  }
}

/** Seconds until one token is there again, at least 1 (Retry-After is in whole seconds). */
export function secondsUntilToken(tokens: number, perSecond: number): number {
  return Math.max(1, Math.ceil((1 - tokens) / perSecond));
}

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes a token, or says how many seconds until one is there. */
  take(): TakeOutcome {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: secondsUntilToken(this.tokens, this.perSecond) };
  }
}
