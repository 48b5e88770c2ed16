/**
 * What an endpoint's answer means for a message, and how long to wait before the next attempt.
 *   2xx                      delivered
 *   429, 503                 retry, after Retry-After when the endpoint sent one
 *   408, other 5xx           retry with backoff
 * (429, 502, 503, 504, timeouts and connection errors also count toward the endpoint circuit.)
 *   timeout, connection      retry with backoff
 *   other 4xx (and 1xx/3xx)  permanent: straight to the dead letter (a redirect is not followed:
 *                            the operator configured this URL, a message must not choose another)
 */
import type { RetryPolicySpec } from './model.js';

export type AttemptOutcome =
  | { readonly kind: 'answered'; readonly status: number; readonly retryAfterMs?: number | undefined }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'connection-error'; readonly detail: string };

export type Verdict = 'delivered' | 'retry' | 'permanent';

export function judge(outcome: AttemptOutcome): Verdict {
  if (outcome.kind !== 'answered') return 'retry';
  const { status } = outcome;
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'permanent';
}

/**
 * Whether a failed attempt says the endpoint is unavailable (nothing there, overloaded, a gateway
 * without a backend), as opposed to the endpoint failing this message (a 500). Only the first kind
 * feeds the endpoint circuit: a message the endpoint chokes on must spend its attempts and reach
 * the dead letter, not pause the subscription forever.
 */
export function isUnavailability(outcome: AttemptOutcome): boolean {
  if (outcome.kind !== 'answered') return true;
  return [429, 502, 503, 504].includes(outcome.status);
}

/** A short label of the outcome: the status code, `timeout` or `connection-error`. */
export function outcomeLabel(outcome: AttemptOutcome): string {
  return outcome.kind === 'answered' ? String(outcome.status) : outcome.kind;
}

/**
 * The wait before retry number `retry` (1 = the first retry): exponential backoff with full
 * jitter (a uniform pick between 0 and the step), so that many messages failing at once do not
 * come back at once. A Retry-After from a 429 or 503 wins, cut to maxRetryAfter.
 */
export function retryDelay(policy: RetryPolicySpec, retry: number, outcome: AttemptOutcome, random: () => number = Math.random): number {
  if (outcome.kind === 'answered' && outcome.retryAfterMs !== undefined && (outcome.status === 429 || outcome.status === 503)) {
    return Math.min(outcome.retryAfterMs, policy.maxRetryAfterMs);
  }
  const step = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(Math.max(retry - 1, 0), 30));
  return Math.round(random() * step);
}

/** Retry-After as delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
