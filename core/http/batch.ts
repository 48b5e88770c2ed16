/**
 * Batch publish: every entry of one request is handed to the broker at once, so the plugins'
 * own coalescing does the batching (one Kafka produce for what is queued together, one NATS
 * flush, RabbitMQ publisher confirms in flight together). Each entry settles on its own: the
 * answer lists every entry's receipt or error, in request order, and the status says how many
 * the broker accepted:
 *
 *   every entry accepted -> 202   some accepted -> 207   none -> the first entry's error status
 */
import { randomUUID } from 'node:crypto';
import { BusgateError, asBusgateError, isBusgateError } from '../errors.js';
import type { OutboundMessage } from '../plugins/contract.js';
import type { StoredAnswer } from './idempotency.js';

export type BatchEntryResult =
  | { readonly status: number; readonly receipt: Readonly<Record<string, unknown>> }
  | { readonly status: number; readonly id: string; readonly error: { readonly code: string; readonly message: string } };

export interface BatchAnswer {
  readonly accepted: number;
  readonly failed: number;
  readonly entries: readonly BatchEntryResult[];
}

/**
 * A batch of which no entry was accepted is answered like an error: thrown, so an idempotency
 * store does not keep it and a retry with the same Idempotency-Key is tried again, not replayed.
 */
export class NoEntryAccepted extends Error {
  constructor(readonly answer: StoredAnswer) {
    super('no entry of the batch was accepted');
    this.name = 'NoEntryAccepted';
  }
}

export function unlessNoneAccepted(answer: StoredAnswer): StoredAnswer {
  if (answer.status !== 202 && answer.status !== 207) throw new NoEntryAccepted(answer);
  return answer;
}

/** Entries' own keys (envelope form) pass the broker's key rule, or the whole batch is refused. */
export function checkEntryKeys(entries: readonly { readonly key?: string }[], isSafeKey: (value: string) => boolean): void {
  for (const [index, entry] of entries.entries()) {
    if (entry.key !== undefined && !isSafeKey(entry.key)) {
      throw new BusgateError('invalid_token', `entry ${index}: key "${entry.key.slice(0, 64)}" is not a valid key for this broker; nothing was published`);
    }
  }
}

/** With an Idempotency-Key each entry's id is KEY.INDEX, so a retried batch dedupes entry by entry. */
export function batchEntryId(idempotencyKey: string | undefined, index: number): string {
  return idempotencyKey === undefined ? randomUUID() : `${idempotencyKey}.${index}`;
}

export async function deliverBatch(
  messages: readonly OutboundMessage[],
  send: (message: OutboundMessage) => Promise<Readonly<Record<string, unknown>>>,
  traceparent: string,
): Promise<StoredAnswer> {
  const settled = await Promise.allSettled(messages.map((message) => send(message)));
  let retryAfterSeconds: number | undefined;
  const entries = settled.map((outcome, index): BatchEntryResult => {
    if (outcome.status === 'fulfilled') return { status: 202, receipt: outcome.value };
    const error = isBusgateError(outcome.reason)
      ? asBusgateError(outcome.reason)
      : new BusgateError('internal_error', 'an unexpected error occurred; see the daemon log');
    retryAfterSeconds ??= error.retryAfterSeconds;
    return { status: error.status, id: messages[index]!.id, error: { code: error.code, message: error.message } };
  });
  const accepted = entries.filter((entry) => 'receipt' in entry).length;
  const answer: BatchAnswer = { accepted, failed: entries.length - accepted, entries };
  const status = accepted === entries.length ? 202 : accepted > 0 ? 207 : entries[0]!.status;
  return {
    status,
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify(answer),
    messageId: messages[0]!.id,
    traceparent,
    ...(accepted === 0 && retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
  };
}
