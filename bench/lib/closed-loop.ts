/**
 * A closed loop of callers, each awaiting its operation before starting the next, for a fixed
 * time. All callers stop at the first failure, and all have finished when the promise settles,
 * so one run never spills into the next one's measurement.
 */
import { performance } from 'node:perf_hooks';

export interface ClosedLoopResult {
  /** Operations that resolved. */
  readonly done: number;
  /** The first failure, if one stopped the run early. */
  readonly failure?: unknown;
}

export async function closedLoop(callers: number, seconds: number, operation: () => Promise<void>): Promise<ClosedLoopResult> {
  let done = 0;
  let failure: unknown;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (failure === undefined && performance.now() < until) {
        try {
          await operation();
          done += 1;
        } catch (error) {
          failure ??= error;
        }
      }
    }),
  );
  return failure === undefined ? { done } : { done, failure };
}
