/**
 * Idempotency keys in a store shared by every replica (Redis, or a JetStream KV bucket). One
 * entry per scope (route, client, key) holds either a claim ("P:" + the owner's token + when its
 * lease ends) or the kept answer (JSON, expiring after the window):
 *
 *   claim if absent -> won: send to the broker; on 2xx replace the claim by the answer (only
 *                      while the claim is still ours), otherwise delete the claim;
 *                   -> lost: read the entry; an answer is replayed, a claim is waited on
 *                      (polling) up to waitMs, then 409 idempotency_in_progress.
 *
 * So two replicas never both publish one key while the store works. A replica that dies between
 * claim and answer leaves a claim that another may take over once its lease ends; a retry after
 * that publishes again (the broker's own dedupe by message id covers it where there is one).
 *
 * Store unreachable: a request with an Idempotency-Key gets 503 idempotency_store_unavailable
 * before anything is published (fail closed). Requests without a key never touch the store.
 * Failing to write the answer AFTER the broker acknowledged does not turn the 2xx into an error
 * (it is true); it is counted and logged, and the claim's lease bounds the damage.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'winston';
import { BusgateError } from '../errors.js';
import type { ClaimStore } from '../plugins/contract.js';
import { keep, replay, type IdempotencyScope, type IdempotencyStore, type KeptAnswer, type RunOptions, type StoredAnswer } from '../http/idempotency.js';

export const CLAIM = 'P:';
const POLL_MS = 25;

export type { ClaimStore } from '../plugins/contract.js';

/** When a claim's lease ends (ms since the epoch); undefined when the value is not a claim. */
export function claimLeaseEnd(value: string): number | undefined {
  return value.startsWith(CLAIM) ? Number(value.slice(value.lastIndexOf(':') + 1)) : undefined;
}

interface Encoded {
  s: number;
  ct: string;
  id: string;
  tp?: string;
  /** base64 body; absent when it was too large to keep. */
  b?: string;
  n: number;
}

function encode(kept: KeptAnswer): string {
  const value: Encoded = { s: kept.status, ct: kept.contentType, id: kept.messageId, n: kept.bodyBytes };
  if (kept.traceparent !== undefined) value.tp = kept.traceparent;
  if (kept.body !== undefined) value.b = (typeof kept.body === 'string' ? Buffer.from(kept.body) : kept.body).toString('base64');
  return JSON.stringify(value);
}

function decode(text: string): KeptAnswer {
  const value = JSON.parse(text) as Encoded;
  return {
    status: value.s,
    contentType: value.ct,
    messageId: value.id,
    traceparent: value.tp,
    body: value.b === undefined ? undefined : Buffer.from(value.b, 'base64'),
    bodyBytes: value.n,
  };
}

export interface SharedIdempotencyOptions {
  readonly windowMs: number;
  readonly maxReplyBytes: number;
  /** The store's key for a scope. */
  readonly keyOf: (scope: IdempotencyScope) => string;
  readonly logger: Logger;
  /** Called with the operation whenever the store fails (a metric). */
  readonly onError: (operation: string) => void;
}

export class SharedIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly store: ClaimStore,
    private readonly options: SharedIdempotencyOptions,
  ) {}

  async run(scope: IdempotencyScope, produce: () => Promise<StoredAnswer>, run: RunOptions): Promise<{ answer: StoredAnswer; replayed: boolean }> {
    const key = this.options.keyOf(scope);
    const claim = `${CLAIM}${randomUUID()}:${Date.now() + run.leaseMs}`;
    const deadline = Date.now() + run.waitMs;
    let waited = false;
    for (;;) {
      // Only a request that has not waited on another may claim (see below).
      if (!waited) {
        if (await this.ask('claim', () => this.store.claim(key, claim, run.leaseMs))) break;
      }
      const value = await this.ask('read', () => this.store.read(key));
      if (value !== null && !value.startsWith(CLAIM)) return { answer: replay(decode(value)), replayed: true };
      // A repeat that waited on a first attempt never publishes itself: when the first one let go
      // without an answer (it failed, maybe with an unknown outcome), the client decides to retry.
      if (value === null && !waited) continue;
      if (value === null || Date.now() >= deadline) {
        const what =
          value === null
            ? 'the request with this Idempotency-Key that was in flight did not succeed'
            : 'a request with this Idempotency-Key is still in flight';
        throw new BusgateError('idempotency_in_progress', `${what}; this one published nothing, retry it`, { retryAfterSeconds: 1 });
      }
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }

    let answer: StoredAnswer;
    try {
      answer = await produce();
    } catch (error) {
      await this.settle(key, claim, '', 0);
      throw error;
    }
    if (answer.status >= 300) {
      // Awaited, so that the client's immediate retry finds the key free.
      await this.settle(key, claim, '', 0);
    } else {
      // Not awaited: a repeat arriving before the answer is recorded finds our claim and waits
      // for it, so answering first is safe, and saves the client a round trip to the store.
      void this.settle(key, claim, encode(keep(answer, this.options.maxReplyBytes)), this.options.windowMs);
    }
    return { answer, replayed: false };
  }

  /** A store call before anything is published: failure refuses the request. */
  private async ask<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      this.options.onError(operation);
      throw new BusgateError('idempotency_store_unavailable', 'the shared idempotency store is not reachable; nothing was published', {
        retryAfterSeconds: 1,
        cause: error,
      });
    }
  }

  /** A store call after the broker answered: failure is logged and counted, never answered. */
  private async settle(key: string, claim: string, value: string, windowMs: number): Promise<void> {
    try {
      await this.store.settle(key, claim, value, windowMs);
    } catch (error) {
      this.options.onError(value === '' ? 'release' : 'store');
      this.options.logger.warn('could not record an idempotency answer in the shared store; the key is held until its lease ends', { error: String(error) });
    }
  }
}
