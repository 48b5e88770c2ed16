/**
 * Idempotency-Key support: the first request with a key is sent; a repeat of the same key on the
 * same route by the same client within the window gets the first answer again and publishes
 * nothing. A repeat that arrives while the first is still in flight waits for it. Only successful
 * answers are kept, so a client may retry a key whose first attempt failed.
 *
 * Keys are scoped by route AND client (the API key's name; "" when no keys are configured): one
 * client can neither read another's answer nor block another's publish by guessing its keys.
 *
 * What is kept: 202 receipts always (small JSON); request-reply bodies only up to maxReplyBytes.
 * A repeat of a key whose reply was larger gets 409 idempotency_reply_not_kept: the request is
 * not sent twice, and the store does not hold megabytes per key for the whole window.
 *
 * Two implementations: MemoryIdempotencyStore (per instance, bounded in keys and bytes) below,
 * and the shared Redis store in core/state/ for several replicas.
 */
import { BusgateError } from '../errors.js';
import { BoundedMap, type BoundedMapLimits } from '../state/bounded-map.js';

export interface StoredAnswer {
  readonly status: number;
  readonly contentType: string;
  /** A string when busgate made the body itself (receipts): it goes out without a Buffer copy. */
  readonly body: string | Buffer;
  readonly messageId: string;
  readonly traceparent?: string | undefined;
  /** A batch none of whose entries was accepted for a retryable reason: sent as Retry-After. */
  readonly retryAfterSeconds?: number | undefined;
}

/** What a store keeps of an answer: the body only when it is small enough to keep. */
export interface KeptAnswer {
  readonly status: number;
  readonly contentType: string;
  /** undefined when the body was larger than maxReplyBytes. */
  readonly body: string | Buffer | undefined;
  readonly bodyBytes: number;
  readonly messageId: string;
  readonly traceparent?: string | undefined;
}

/** Who and what a key belongs to. */
export interface IdempotencyScope {
  readonly route: string;
  /** The authenticated client's name; "" when the daemon has no API keys. */
  readonly client: string;
  readonly key: string;
}

export interface RunOptions {
  /** How long a repeat may wait for a first attempt still in flight (shared store only). */
  readonly waitMs: number;
  /** How long a claim holds when its owner never finishes (a crashed replica). */
  readonly leaseMs: number;
}

export interface IdempotencyStore {
  /** Runs `produce` once per scope within the window; `replayed` says whether it was reused. */
  run(scope: IdempotencyScope, produce: () => Promise<StoredAnswer>, options: RunOptions): Promise<{ answer: StoredAnswer; replayed: boolean }>;
}

export const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:@-]{1,200}$/;

/** The body's length in bytes, whether it is still a string or already a Buffer. */
export function bodyBytes(body: string | Buffer): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.length;
}

export function keep(answer: StoredAnswer, maxReplyBytes: number): KeptAnswer {
  const bytes = bodyBytes(answer.body);
  // A 202 body is busgate's own receipt: always small, always kept; a 207 is a batch's receipts.
  const kept = answer.status === 202 || answer.status === 207 || bytes <= maxReplyBytes;
  return {
    status: answer.status,
    contentType: answer.contentType,
    body: kept ? answer.body : undefined,
    bodyBytes: bytes,
    messageId: answer.messageId,
    traceparent: answer.traceparent,
  };
}

/** The answer to send for a repeat; throws when the first answer's body was not kept. */
export function replay(kept: KeptAnswer): StoredAnswer {
  if (kept.body === undefined) {
    throw new BusgateError(
      'idempotency_reply_not_kept',
      `the first request with this Idempotency-Key succeeded (id ${kept.messageId}), but its ${kept.bodyBytes}-byte reply was larger than idempotency.maxReplyBytes and was not kept; it is not sent again`,
    );
  }
  return { status: kept.status, contentType: kept.contentType, body: kept.body, messageId: kept.messageId, traceparent: kept.traceparent };
}

/** Rough bytes of one entry: the id, the kept body and a fixed allowance for the object itself. */
const ENTRY_OVERHEAD_BYTES = 256;

interface Entry {
  readonly expiresAt: number;
  /** Settles with the kept answer; a repeat in flight waits on it. */
  readonly kept: Promise<KeptAnswer>;
  bytes: number;
}

export interface MemoryStoreLimits extends BoundedMapLimits {
  readonly windowMs: number;
  readonly maxReplyBytes: number;
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly entries: BoundedMap<Entry>;

  constructor(
    private readonly limits: MemoryStoreLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.entries = new BoundedMap(limits);
  }

  get size(): number {
    return this.entries.size;
  }

  /** What the kept entries take, as estimated for the byte bound. */
  get bytes(): number {
    return this.entries.bytes;
  }

  async run(scope: IdempotencyScope, produce: () => Promise<StoredAnswer>): Promise<{ answer: StoredAnswer; replayed: boolean }> {
    // Route and client names cannot hold NUL, so the three parts cannot run into each other.
    const id = `${scope.route}\u0000${scope.client}\u0000${scope.key}`;
    const existing = this.entries.get(id);
    if (existing && existing.expiresAt > this.now()) {
      return { answer: replay(await existing.kept), replayed: true };
    }
    if (existing) this.entries.delete(id);

    const answer = produce();
    const kept = answer.then((settled) => keep(settled, this.limits.maxReplyBytes));
    // A repeat waiting on a failed first attempt sees the failure; nobody else needs it handled.
    kept.catch(() => undefined);
    const entry: Entry = { expiresAt: this.now() + this.limits.windowMs, kept, bytes: ENTRY_OVERHEAD_BYTES + id.length * 2 };
    this.entries.set(id, entry);
    try {
      const settled = await answer;
      if (this.entries.get(id) === entry) {
        if (settled.status >= 300) {
          this.entries.delete(id);
        } else {
          const keptBody = (await kept).body;
          this.entries.grow(id, keptBody === undefined ? 0 : bodyBytes(keptBody));
        }
      }
      return { answer: settled, replayed: false };
    } catch (error) {
      if (this.entries.get(id) === entry) this.entries.delete(id);
      throw error;
    }
  }
}
