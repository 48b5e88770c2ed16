/**
 * Waiting for the broker must stop as soon as waiting is pointless: the caller's deadline passed,
 * or the connection the answer would come back on is gone. The broker's own promise keeps running
 * (nats.js bounds it with its timeout); only our wait ends.
 */
import type { BusgateError } from '../../core/errors.js';

export interface Stop {
  readonly signal: AbortSignal;
  readonly error: () => BusgateError;
}

export function raceStops<T>(work: Promise<T>, stops: readonly Stop[]): Promise<T> {
  const already = stops.find((stop) => stop.signal.aborted);
  if (already !== undefined) {
    work.catch(() => undefined);
    return Promise.reject(already.error());
  }
  return new Promise<T>((resolve, reject) => {
    const detach: (() => void)[] = [];
    const settle = (finish: () => void): void => {
      for (const undo of detach) undo();
      finish();
    };
    for (const stop of stops) {
      const onAbort = (): void => settle(() => reject(stop.error()));
      stop.signal.addEventListener('abort', onAbort, { once: true });
      detach.push(() => stop.signal.removeEventListener('abort', onAbort));
    }
    work.then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(error)),
    );
  });
}
