/**
 * A core NATS publish has no acknowledgement; a flush (PING/PONG) proves the server has read
 * everything written before it. One flush per message would cost a round trip each, so callers
 * share them: every publish written before a flush's PING is covered by that flush, and a publish
 * written while a flush is in flight waits for the next one (its bytes follow that PING).
 */
export class FlushCoalescer {
  private inFlight: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly flush: () => Promise<void>) {}

  /** Resolves once a flush started after this call has completed. */
  afterFlush(): Promise<void> {
    if (this.inFlight === undefined) return this.start();
    this.next ??= this.inFlight
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        // Someone may have started a flush in between; it was sent after our writes, so it serves.
        return this.inFlight ?? this.start();
      });
    return this.next;
  }

  private start(): Promise<void> {
    let flushed: Promise<void>;
    try {
      flushed = this.flush();
    } catch (error) {
      flushed = Promise.reject(error);
    }
    const flight = flushed.finally(() => {
      if (this.inFlight === flight) this.inFlight = undefined;
    });
    this.inFlight = flight;
    return flight;
  }
}
