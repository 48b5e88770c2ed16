/**
 * Ids a broker deduplicates on (JetStream's Nats-Msg-Id). A broker's duplicate window is shared by
 * everyone who publishes to it, so an id a client chose (its Idempotency-Key) must never reach it
 * as-is: client b, sending a's key first, would make a's message a silent duplicate. The broker
 * sees a digest of who sent it and where instead: deterministic, so the same client's retry is
 * dropped as a duplicate on every replica, and scoped, so another client's identical key never
 * collides.
 */
import { createHash } from 'node:crypto';

/** A digest of the parts; JSON encoding keeps ['a.b', 'c'] and ['a', 'b.c'] apart. */
export function scopedDedupeId(parts: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}
