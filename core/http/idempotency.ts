/**
 * Idempotency-Key support: the first request with a key is sent; a repeat of the same key on the
 * same route within the window gets the first answer again and publishes nothing. A repeat that
 * arrives while the first is still in flight waits for it. Only successful answers are kept, so a
 * client may retry a key whose first attempt failed.
 *
 * The store is per daemon instance (memory). Across instances the broker's own dedupe covers
 * what it can (the key becomes the message id: JetStream's Nats-Msg-Id, the AMQP message-id,
 * the Kafka busgate-id header), and consumers can dedupe on it too.
 */
export interface StoredAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
  readonly messageId: string;
  readonly traceparent?: string | undefined;
  /** A batch none of whose entries was accepted for a retryable reason: sent as Retry-After. */
  readonly retryAfterSeconds?: number | undefined;
}

interface Entry {
  readonly expiresAt: number;
  readonly answer: Promise<StoredAnswer>;
}

export const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:@-]{1,200}$/;

export class IdempotencyStore {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly windowMs: number,
    private readonly maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Runs `produce` once per scope+key within the window; `replayed` says whether it was reused. */
  async run(scope: string, key: string, produce: () => Promise<StoredAnswer>): Promise<{ answer: StoredAnswer; replayed: boolean }> {
    const id = `${scope}\u0000${key}`;
    const existing = this.entries.get(id);
    if (existing && existing.expiresAt > this.now()) {
      return { answer: await existing.answer, replayed: true };
    }
    if (existing) this.entries.delete(id);

    const answer = produce();
    const entry = { expiresAt: this.now() + this.windowMs, answer };
    this.entries.set(id, entry);
    this.evictOverflow();
    try {
      const settled = await answer;
      if (settled.status >= 300 && this.entries.get(id) === entry) this.entries.delete(id);
      return { answer: settled, replayed: false };
    } catch (error) {
      if (this.entries.get(id) === entry) this.entries.delete(id);
      throw error;
    }
  }

  private evictOverflow(): void {
    // Map iteration is insertion order: the first entries are the oldest.
    for (const id of this.entries.keys()) {
      if (this.entries.size <= this.maxKeys) return;
      this.entries.delete(id);
    }
  }
}
