/**
 * Per-route rate limit: a token bucket refilled continuously at `perSecond`, holding at most
 * `burst` tokens. TokenBucket is per daemon instance (with N instances the route's total is N
 * times the limit); with RATE_LIMIT_STORE the bucket lives in the shared store (core/state/).
 */

export type TakeOutcome = { ok: true } | { ok: false; retryAfterSeconds: number };

export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

/** One route's limiter: a local bucket answers at once, a shared one after a round trip. */
export interface RateLimiter {
  take(): TakeOutcome | Promise<TakeOutcome>;
}

/** Hands each route its limiter; the route name identifies a shared bucket across replicas. */
export interface RateLimits {
  forRoute(route: string, limit: RateLimit): RateLimiter;
}

export const localRateLimits: RateLimits = {
  forRoute: (_route, limit) => new TokenBucket(limit.perSecond, limit.burst),
};

/** Seconds until one token is there again, at least 1 (Retry-After is in whole seconds). */
export function secondsUntilToken(tokens: number, perSecond: number): number {
  return Math.max(1, Math.ceil((1 - tokens) / perSecond));
}

export class TokenBucket implements RateLimiter {
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
