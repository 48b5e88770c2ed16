/**
 * Concurrent sends coalesced, as the Kafka plugin does: one batch in flight, the others queue for
 * the next (at most `maxMessages`, after `lingerMs`); each caller resolves when its batch is acknowledged.
 */
export class Coalescer<M> {
  private queue: Array<{ message: M; resolve: () => void; reject: (error: unknown) => void }> = [];
  private busy = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sendBatch: (messages: M[]) => Promise<unknown>,
    private readonly maxMessages = 500,
    private readonly lingerMs = 1,
  ) {}

  send(message: M): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ message, resolve, reject });
      if (this.busy) return;
      if (this.queue.length >= this.maxMessages) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.lingerMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.busy || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxMessages);
    this.busy = true;
    this.sendBatch(batch.map((b) => b.message))
      .then(
        () => {
          for (const b of batch) b.resolve();
        },
        (error: unknown) => {
          for (const b of batch) b.reject(error);
        },
      )
      .finally(() => {
        this.busy = false;
        if (this.queue.length > 0) this.flush();
      });
  }
}
