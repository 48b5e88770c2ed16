/**
 * Ids derived from a client's Idempotency-Key. A broker's duplicate window (JetStream's
 * Nats-Msg-Id) and a consumer's or webhook endpoint's dedupe table (busgate-id, webhook-id) are
 * shared by everyone who publishes there, so an id a client chose must never reach them as-is:
 * client b, sending a's key first, would make a's message a silent duplicate. They see a digest of
 * who sent it and where instead: deterministic, so the same client's retry is the same id on every
 * replica, and scoped, so another client's identical key never collides.
 */
import { createHash } from 'node:crypto';

function digest(parts: readonly string[]): Buffer {
  // JSON encoding keeps ['a.b', 'c'] and ['a', 'b.c'] apart.
  return createHash('sha256').update(JSON.stringify(parts)).digest();
}

/** A digest of the parts, as a header-safe token (base64url of SHA-256). */
export function scopedDedupeId(parts: readonly string[]): string {
  return digest(parts).toString('base64url');
}

/**
 * A message id derived from the parts, shaped like the UUIDs busgate draws for messages without a
 * key, so consumers see one id format: RFC 9562's name-based UUIDv8 over SHA-256 (its appendix
 * B.2 example), version and variant bits set, the rest the digest's first 122 bits.
 */
export function scopedMessageId(parts: readonly string[]): string {
  const bytes = digest(parts).subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
