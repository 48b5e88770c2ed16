/**
 * Exponential backoff with "equal jitter": half of the step is kept, half is random. Many daemon
 * instances losing the same broker spread their reconnects instead of arriving together, and no
 * delay collapses to near zero. Attempt 0 waits about initialMs; never above maxMs.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  const step = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.round(step / 2 + Math.random() * (step / 2));
}
