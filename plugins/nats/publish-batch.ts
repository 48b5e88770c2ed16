/**
 * Core publishes batched per event-loop turn: every publish made while the loop handles one round
 * of I/O goes out in one socket write together with one PING, and all of them are confirmed by
 * that PING's PONG (the server has read everything written before it). A publish whose deadline
 * passed before its turn is not sent at all.
 */
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';

interface Pending {
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly headers: MsgHdrs;
  readonly signal: AbortSignal;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class PublishBatch {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(private readonly nc: NatsConnection) {}

  /** Resolves once a flush written after this message has completed. */
  publish(subject: string, payload: Uint8Array, headers: MsgHdrs, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ subject, payload, headers, signal, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.run());
      }
    });
  }

  private run(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    const written: Pending[] = [];
    for (const entry of batch) {
      if (entry.signal.aborted) continue; // its caller has already been answered 504; nothing sent
      try {
        this.nc.publish(entry.subject, entry.payload, { headers: entry.headers });
        written.push(entry);
      } catch (error) {
        entry.reject(error);
      }
    }
    if (written.length === 0) return;
    let flushed: Promise<void>;
    try {
      flushed = this.nc.flush(); // appends PING and writes PUBs + PING in one go
    } catch (error) {
      flushed = Promise.reject(error);
    }
    flushed.then(
      () => written.forEach((entry) => entry.resolve()),
      (error: unknown) => written.forEach((entry) => entry.reject(error)),
    );
  }
}
