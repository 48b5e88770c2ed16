/**
 * Per-broker circuit state. After `threshold` consecutive broker failures (unreachable or no
 * acknowledgement in time) the circuit opens: requests fail at once with 503 and a Retry-After
 * saying when the next try is allowed, instead of each waiting out its own deadline against a
 * broker that is known to be gone. After the cool-down one trial request goes through
 * (half-open); its success closes the circuit, its failure reopens it with a longer cool-down.
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitOptions {
  readonly threshold: number;
  readonly initialCooldownMs: number;
  readonly maxCooldownMs: number;
}

export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private cooldownMs: number;
  private trialInFlight = false;

  constructor(
    private readonly options: CircuitOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.cooldownMs = options.initialCooldownMs;
  }

  get state(): CircuitState {
    if (this.failures < this.options.threshold) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half-open';
  }

  /**
   * Whether a request may go to the broker now. When not, the seconds until it may.
   * In half-open state exactly one caller gets through as the trial.
   */
  admit(): { admitted: true; trial: boolean } | { admitted: false; retryAfterSeconds: number } {
    const state = this.state;
    if (state === 'closed') return { admitted: true, trial: false };
    if (state === 'half-open' && !this.trialInFlight) {
      this.trialInFlight = true;
      return { admitted: true, trial: true };
    }
    const waitMs = Math.max(this.openUntil - this.now(), 250);
    return { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  recordSuccess(trial: boolean): void {
    if (trial) this.trialInFlight = false;
    this.failures = 0;
    this.cooldownMs = this.options.initialCooldownMs;
  }

  recordFailure(trial: boolean): void {
    if (trial) this.trialInFlight = false;
    const wasOpen = this.failures >= this.options.threshold;
    this.failures += 1;
    if (this.failures < this.options.threshold) return;
    if (trial) {
      // The broker failed again after a full cool-down: wait longer next time.
      this.cooldownMs = Math.min(this.cooldownMs * 2, this.options.maxCooldownMs);
    } else if (wasOpen) {
      // Requests that were already in flight when the circuit opened report late; they say
      // nothing new about the broker and must not stretch the cool-down.
      return;
    }
    this.openUntil = this.now() + this.cooldownMs;
  }

  /** A request that was admitted but ended without telling anything about the broker. */
  recordNeutral(trial: boolean): void {
    if (trial) this.trialInFlight = false;
  }
}
