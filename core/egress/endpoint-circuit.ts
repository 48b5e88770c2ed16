/**
 * The endpoint's circuit, one per subscription. After `failures` consecutive attempts that found
 * the endpoint unavailable (connection errors, timeouts, 429, 502, 503, 504) the endpoint counts as down: no delivery is attempted, so no message spends its attempts on an
 * outage, and the held messages keep the broker from handing out more (consumption pauses; the
 * rest waits in the broker). After the pause one attempt goes through as the probe; its success
 * resumes everything at once, its failure doubles the pause (up to maxPause).
 * Built on the same breaker the brokers use; this adds waiting for admission.
 */
import { CircuitBreaker, type CircuitState } from '../brokers/circuit-breaker.js';
import type { EndpointCircuitSpec } from './model.js';

export class Stopped extends Error {
  constructor() {
    super('the subscription is stopping; the message goes back to the broker');
    this.name = 'Stopped';
  }
}

export class EndpointCircuit {
  private readonly breaker: CircuitBreaker;
  private readonly waiters = new Set<() => void>();

  constructor(
    spec: EndpointCircuitSpec,
    private readonly onChange: (state: CircuitState) => void = () => undefined,
  ) {
    this.breaker = new CircuitBreaker({ threshold: spec.failures, initialCooldownMs: spec.pauseMs, maxCooldownMs: spec.maxPauseMs });
  }

  get state(): CircuitState {
    return this.breaker.state;
  }

  /** Resolves when an attempt may go out (true: it is the probe); rejects with Stopped on abort. */
  async enter(stop: AbortSignal): Promise<boolean> {
    for (;;) {
      if (stop.aborted) throw new Stopped();
      const admission = this.breaker.admit();
      if (admission.admitted) return admission.trial;
      await this.wait(Math.min(admission.retryAfterSeconds * 1000, 1000), stop);
    }
  }

  success(trial: boolean): void {
    const before = this.breaker.state;
    this.breaker.recordSuccess(trial);
    if (before !== 'closed') this.changed();
  }

  /** Returns whether the endpoint now counts as down (the failure then burns no attempt). */
  failure(trial: boolean): boolean {
    const before = this.breaker.state;
    this.breaker.recordFailure(trial);
    const after = this.breaker.state;
    if (after !== before) this.changed();
    return after !== 'closed';
  }

  private changed(): void {
    this.onChange(this.breaker.state);
    for (const wake of [...this.waiters]) wake();
  }

  private wait(ms: number, stop: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        stop.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      stop.addEventListener('abort', done, { once: true });
    });
  }
}

/** Waits `ms`, or less when `stop` aborts (then rejects with Stopped). */
export function pause(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stop.aborted) return reject(new Stopped());
    const onStop = (): void => {
      clearTimeout(timer);
      reject(new Stopped());
    };
    const timer = setTimeout(() => {
      stop.removeEventListener('abort', onStop);
      resolve();
    }, ms);
    stop.addEventListener('abort', onStop, { once: true });
  });
}
