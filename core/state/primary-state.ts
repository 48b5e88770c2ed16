/**
 * The state the workers of one daemon share when no shared store is configured (WORKERS > 1):
 * the primary process keeps the idempotency claims and the rate-limit buckets, and each worker
 * asks it over the cluster's IPC channel. A retry that lands on another worker (a new connection
 * can) is replayed, and a client's rate limit holds for the daemon as a whole, exactly as with
 * a single process. Across several daemons (replicas) the shared stores still do this job.
 *
 * Only requests that need it pay the round trip: a request without Idempotency-Key on a route
 * without a rate limit never asks the primary.
 *
 * The primary unreachable (it should not be: the workers end with it): an idempotency call fails
 * closed (503 idempotency_store_unavailable, nothing published), a rate limit falls back to the
 * worker's own buckets, as with Redis (core/state/redis-rate-limit.ts says why).
 */
import type { ClaimStore } from '../plugins/contract.js';
import { ClientBuckets, type RateLimit, type RateLimits } from '../http/rate-limit.js';
import { BoundedMap, type BoundedMapLimits } from './bounded-map.js';
import { RemoteBuckets } from './remote-buckets.js';

/** One question a worker asks the primary's state. */
export type StateCall =
  | { readonly op: 'claim'; readonly key: string; readonly claim: string; readonly leaseMs: number }
  | { readonly op: 'read'; readonly key: string }
  | { readonly op: 'settle'; readonly key: string; readonly claim: string; readonly value: string; readonly windowMs: number }
  | { readonly op: 'take'; readonly route: string; readonly perSecond: number; readonly burst: number; readonly client: string };

/** Sends a call to the primary and resolves with its answer. */
export type AskPrimary = (call: StateCall) => Promise<unknown>;

export type ClaimLimits = BoundedMapLimits;

interface ClaimEntry {
  value: string;
  expiresAt: number;
  bytes: number;
}

/** A Map entry's own cost beyond its strings, for the byte bound (an estimate, like the memory store's). */
const ENTRY_OVERHEAD_BYTES = 96;

/**
 * Claims in memory with the ClaimStore semantics (claim if absent or expired, compare-and-set
 * settle), bounded in keys and bytes: past either bound the oldest entries are forgotten first.
 */
export class MemoryClaims implements ClaimStore {
  private readonly entries: BoundedMap<ClaimEntry>;

  constructor(
    limits: ClaimLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.entries = new BoundedMap(limits);
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.entries.bytes;
  }

  claim(key: string, claim: string, leaseMs: number): Promise<boolean> {
    this.dropExpiredOldest();
    const existing = this.live(key);
    if (existing !== undefined) return Promise.resolve(false);
    this.put(key, claim, leaseMs);
    return Promise.resolve(true);
  }

  read(key: string): Promise<string | null> {
    return Promise.resolve(this.live(key)?.value ?? null);
  }

  settle(key: string, claim: string, value: string, windowMs: number): Promise<void> {
    const existing = this.live(key);
    if (existing?.value === claim) {
      if (value === '') this.entries.delete(key);
      else this.put(key, value, windowMs);
    }
    return Promise.resolve();
  }

  private live(key: string): ClaimEntry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > this.now()) return entry;
    this.entries.delete(key);
    return undefined;
  }

  private put(key: string, value: string, ttlMs: number): void {
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs, bytes: ENTRY_OVERHEAD_BYTES + (key.length + value.length) * 2 });
  }

  /** Expired entries are mostly the oldest: a few are dropped per claim so idle keys do not pile up. */
  private dropExpiredOldest(): void {
    const now = this.now();
    let checked = 0;
    for (const [key, entry] of this.entries.oldestFirst()) {
      if (entry.expiresAt > now || ++checked > 8) return;
      this.entries.delete(key);
    }
  }
}

/** Most distinct (route, limit) pairs the primary keeps buckets for; a reload may add new ones. */
const MAX_ROUTE_LIMITS = 10_000;

/** The primary's side: answers the workers' calls from one store of claims and one of buckets. */
export class PrimaryState {
  readonly claims: MemoryClaims;
  private readonly buckets = new Map<string, ClientBuckets>();

  constructor(limits: ClaimLimits) {
    this.claims = new MemoryClaims(limits);
  }

  answer(call: StateCall): Promise<unknown> {
    switch (call.op) {
      case 'claim':
        return this.claims.claim(call.key, call.claim, call.leaseMs);
      case 'read':
        return this.claims.read(call.key);
      case 'settle':
        return this.claims.settle(call.key, call.claim, call.value, call.windowMs);
      case 'take':
        return Promise.resolve(this.bucketsOf(call.route, call).take(call.client));
    }
  }

  private bucketsOf(route: string, limit: RateLimit): ClientBuckets {
    // A reload that changes a route's limit starts it with fresh buckets at the new rate.
    const id = `${route}\u0000${limit.perSecond}\u0000${limit.burst}`;
    let buckets = this.buckets.get(id);
    if (buckets === undefined) {
      if (this.buckets.size >= MAX_ROUTE_LIMITS) this.buckets.delete(this.buckets.keys().next().value!);
      this.buckets.set(id, (buckets = new ClientBuckets(limit)));
    }
    return buckets;
  }
}

/** A worker's claims: each call is a question to the primary. */
export function primaryClaims(ask: AskPrimary): ClaimStore {
  return {
    claim: async (key, claim, leaseMs) => (await ask({ op: 'claim', key, claim, leaseMs })) === true,
    read: async (key) => {
      const value = await ask({ op: 'read', key });
      return typeof value === 'string' ? value : null;
    },
    settle: async (key, claim, value, windowMs) => {
      await ask({ op: 'settle', key, claim, value, windowMs });
    },
  };
}

/** A worker's rate limits: one set of buckets per route for the whole daemon, kept by the primary. */
export function primaryRateLimits(ask: AskPrimary, onError: () => void): RateLimits {
  return {
    forRoute: (route, limit) =>
      new RemoteBuckets(limit, (client) => ask({ op: 'take', route, perSecond: limit.perSecond, burst: limit.burst, client }), onError),
  };
}
