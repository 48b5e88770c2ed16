/**
 * A pull path after linting: POST on `path` leases up to `max` messages of `source` to the
 * caller; POST `path`/ack and `path`/nack settle them by lease token, on any busgate instance.
 */
export interface PullSpec {
  readonly path: string;
  readonly broker: string;
  readonly source: string;
  /** point-to-point (a queue or work queue) unless written; pubsub needs a `group` on most brokers. */
  readonly mode: 'pubsub' | 'point-to-point';
  /** The durable consumer shared by every instance (Kafka group, JetStream durable, RabbitMQ queue). */
  readonly group: string | undefined;
  /** How long a lease lasts before the message is handed back for redelivery. */
  readonly leaseMs: number;
  /** Most messages one instance holds for this path at once: leased plus fetched and not yet pulled. */
  readonly maxHeld: number;
  /** Where `nack` with `"requeue": false` stores a message (point-to-point, same broker). */
  readonly deadLetter: string | undefined;
  /** Route options (with the plugin's defaults) the dead-letter sends carry. */
  readonly deadLetterOptions: Readonly<Record<string, unknown>>;
  /** Client names (API keys) allowed; undefined = any authenticated client. */
  readonly clients: readonly string[] | undefined;
  /** Source options in the broker's route-options shape. */
  readonly options: Readonly<Record<string, unknown>>;
  readonly line: number;
}

export const PULL_DEFAULTS = {
  leaseMs: 30_000,
  maxHeld: 32,
  /** `max` of a pull when the query has none. */
  max: 1,
} as const;

/** Bounds of what a pull path or a request may ask for (README "Pull API"). */
export const PULL_LIMITS = {
  minLeaseMs: 1000,
  maxLeaseMs: 12 * 3_600_000,
  maxHeld: 1000,
  /** Longest long-poll: longer ones are cut by proxies and load balancers anyway. */
  maxWaitMs: 30_000,
  /** Longest `nack` delay: the message stays held (and counted in maxHeld) that long. */
  maxNackDelayMs: 15 * 60_000,
  /** Leases one ack or nack may settle. */
  maxLeasesPerSettle: 1000,
  /** Long-polls waiting at once on one instance, over every pull path. */
  maxWaiting: 1000,
  /** How long an ack or nack forwarded to the holding instance may take. */
  forwardTimeoutMs: 5000,
  /** A consumer nobody pulled from for this long, holding no lease, is closed (its buffer goes back). */
  idleCloseMs: 30_000,
} as const;

export type PullLimits = { -readonly [K in keyof typeof PULL_LIMITS]: number };

/** Two specs that would consume the same way (a reload leaves such a pull path's consumer alone). */
export function samePull(a: PullSpec, b: PullSpec): boolean {
  const { line: _a, ...left } = a;
  const { line: _b, ...right } = b;
  return JSON.stringify(left) === JSON.stringify(right);
}
