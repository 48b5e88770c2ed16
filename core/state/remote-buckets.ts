/**
 * A route's rate limit whose buckets live in another process (Redis for replicas, the primary for
 * the workers of one daemon): each take is a question to it. When it cannot answer, the route
 * falls back to this process's own buckets and counts the failure: refusing every request because
 * the limiter's store is away would turn a protection into an outage (core/state/redis-rate-limit.ts).
 */
import { ClientBuckets, type RateLimit, type RateLimiter, type TakeOutcome } from '../http/rate-limit.js';

/**
 * Asks the remote buckets for a token of `client`'s. The answer is checked, not trusted: anything
 * but a TakeOutcome counts as a failure. Returns undefined when the remote is known to be away, so
 * the request is answered at once instead of waiting for a round trip that cannot succeed.
 */
export type RemoteTake = (client: string) => Promise<unknown> | undefined;

const isTakeOutcome = (value: unknown): value is TakeOutcome =>
  typeof value === 'object' && value !== null && typeof (value as { ok?: unknown }).ok === 'boolean';

export class RemoteBuckets implements RateLimiter {
  private readonly fallback: ClientBuckets;

  constructor(
    limit: RateLimit,
    private readonly remoteTake: RemoteTake,
    private readonly onError: () => void,
  ) {
    this.fallback = new ClientBuckets(limit);
  }

  async take(client: string): Promise<TakeOutcome> {
    try {
      const asked = this.remoteTake(client);
      if (asked !== undefined) {
        const outcome = await asked;
        if (isTakeOutcome(outcome)) return outcome;
      }
    } catch {
      // Counted and answered from this process's own buckets below.
    }
    this.onError();
    return this.fallback.take(client);
  }
}
