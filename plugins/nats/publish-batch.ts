/**
 * Core publishes batched per event-loop turn: every publish made while the loop handles one round
 * of I/O goes out in one socket write together with one PING, and all of them are confirmed by
 * that PING's PONG (the server has read everything written before it). A publish whose deadline
 * passed before its turn is not sent at all.
 *
 * The batch also stops its callers' waits: each one's deadline (the core's signal, which sends
 * ending in the same few milliseconds share) and the connection's loss. It listens once per batch
 * and signal rather than once per message: a message waits a whole round trip, and per-message
 * listeners and closures were allocated for every one and held all that time (README, "Memory at
 * 500 connections", has what this saved: CPU per request, not RSS).
 */
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import type { BusgateError } from '../../core/errors.js';

interface Pending {
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly headers: MsgHdrs;
  readonly signal: AbortSignal;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  settled: boolean;
}

/** The errors a caller gets when it stops waiting. */
export interface StopErrors {
  deadline(signal: AbortSignal, subject: string): BusgateError;
  lost(subject: string): BusgateError;
}

export class PublishBatch {
  private pending: Pending[] = [];
  private scheduled = false;

  /** `lost`: aborted when the connection the batch writes to drops. */
  constructor(
    private readonly nc: NatsConnection,
    private readonly lost: () => AbortSignal,
    private readonly errors: StopErrors,
  ) {}

  /**
   * Resolves once a flush written after this message has completed; rejects with the deadline's
   * error once `signal` aborts, or the connection-lost error once the connection drops first.
   */
  publish(subject: string, payload: Uint8Array, headers: MsgHdrs, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(this.errors.deadline(signal, subject));
    return new Promise((resolve, reject) => {
      this.pending.push({ subject, payload, headers, signal, resolve, reject, settled: false });
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
      if (entry.signal.aborted) {
        settle(entry, () => entry.reject(this.errors.deadline(entry.signal, entry.subject))); // nothing sent
        continue;
      }
      try {
        this.nc.publish(entry.subject, entry.payload, { headers: entry.headers });
        written.push(entry);
      } catch (error) {
        settle(entry, () => entry.reject(error));
      }
    }
    if (written.length === 0) return;
    let flushed: Promise<void>;
    try {
      flushed = this.nc.flush(); // appends PING and writes PUBs + PING in one go
    } catch (error) {
      flushed = Promise.reject(error);
    }
    const detach = this.stopWaiting(written);
    flushed.then(
      () => {
        detach();
        for (const entry of written) settle(entry, entry.resolve);
      },
      (error: unknown) => {
        detach();
        for (const entry of written) settle(entry, () => entry.reject(error));
      },
    );
  }

  /** One listener per distinct deadline signal, and one on the connection; returns the undo. */
  private stopWaiting(written: readonly Pending[]): () => void {
    const bySignal = new Map<AbortSignal, Pending[]>();
    for (const entry of written) {
      const group = bySignal.get(entry.signal);
      if (group === undefined) bySignal.set(entry.signal, [entry]);
      else group.push(entry);
    }
    const undo: (() => void)[] = [];
    const listen = (signal: AbortSignal, onAbort: () => void): void => {
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      undo.push(() => signal.removeEventListener('abort', onAbort));
    };
    for (const [signal, group] of bySignal) {
      listen(signal, () => {
        for (const entry of group) settle(entry, () => entry.reject(this.errors.deadline(signal, entry.subject)));
      });
    }
    listen(this.lost(), () => {
      for (const entry of written) settle(entry, () => entry.reject(this.errors.lost(entry.subject)));
    });
    return () => {
      for (const step of undo) step();
    };
  }
}

function settle(entry: Pending, finish: () => void): void {
  if (entry.settled) return;
  entry.settled = true;
  finish();
}
