/** A subscription after linting: every field checked, durations in milliseconds, defaults applied. */
export const ORDERINGS = ['none', 'key'] as const;
export type Ordering = (typeof ORDERINGS)[number];

export interface RetryPolicySpec {
  /** Delivery attempts in total, the first one included, before the dead letter. */
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Longest wait a receiver's Retry-After may impose; longer values are cut to it. */
  readonly maxRetryAfterMs: number;
}

export interface EndpointCircuitSpec {
  /** Consecutive attempts finding the endpoint unavailable (connection errors, timeouts, 429, 502-504) that pause consumption. */
  readonly failures: number;
  /** First pause before a probe; doubles after each failed probe up to maxPauseMs. */
  readonly pauseMs: number;
  readonly maxPauseMs: number;
}

export interface SubscriptionSpec {
  /** Unique; metrics and log label. */
  readonly name: string;
  readonly broker: string;
  readonly source: string;
  readonly mode: 'pubsub' | 'point-to-point';
  readonly group: string;
  /** Source options in the broker's route-options shape (e.g. a stream, an exchange type). */
  readonly options: Readonly<Record<string, unknown>>;
  /** The options `check --live` checks the source with (the plugin's egress.sourceCheckOptions added). */
  readonly sourceCheckOptions: Readonly<Record<string, unknown>>;
  readonly deliver: {
    readonly url: string;
    readonly timeoutMs: number;
    readonly concurrency: number;
    readonly ordering: Ordering;
    readonly headers: Readonly<Record<string, string>>;
  };
  readonly retry: RetryPolicySpec;
  readonly circuit: EndpointCircuitSpec;
  readonly deadLetter: string;
  /** Route options (with the plugin's defaults) the dead-letter sends carry. */
  readonly deadLetterOptions: Readonly<Record<string, unknown>>;
  /** The name of the environment variable holding the Standard Webhooks secret (whsec_...). */
  readonly signingSecretEnv: string | undefined;
  /** Where the subscription starts in the file, for log lines. */
  readonly line: number;
}

export const SUBSCRIPTION_DEFAULTS = {
  timeoutMs: 5000,
  concurrency: 4,
  attempts: 5,
  initialDelayMs: 200,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 60_000,
  circuitFailures: 5,
  pauseMs: 1000,
  maxPauseMs: 30_000,
} as const;

/** Two specs that would run the same way (a reload leaves such a subscription alone). */
export function sameSubscription(a: SubscriptionSpec, b: SubscriptionSpec): boolean {
  const { line: _a, ...left } = a;
  const { line: _b, ...right } = b;
  return JSON.stringify(left) === JSON.stringify(right);
}
