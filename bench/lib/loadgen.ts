/**
 * The scheduling core shared by the HTTP open-loop generator (openloop.ts) and the broker-client
 * baseline (b2.ts). A "slot" is one connection (HTTP) or one concurrent caller (B2): it carries one
 * request at a time, so neither side pipelines.
 *
 * Open loop: request i is due at start + i / rate, whatever happened before. A due request that
 * finds every slot busy waits in a backlog, and its latency is measured from its *intended* send
 * time, not from when a slot took it: that is the coordinated-omission correction (a stalled
 * server makes the backlog, and so the recorded latency, grow as it would for real clients).
 */
import { performance } from 'node:perf_hooks';

export interface Slot {
  /** Sends one request; calls `done` exactly once with whether it succeeded (2xx / acked). */
  send(done: (ok: boolean) => void): void;
}

/** Latencies in ms; a sorted copy answers percentiles (sizes here are at most a few million). */
export class Recorder {
  private values: Float64Array;
  private count = 0;

  constructor(expected = 1024) {
    this.values = new Float64Array(Math.max(16, expected));
  }

  add(ms: number): void {
    if (this.count === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.count++] = ms;
  }

  get size(): number {
    return this.count;
  }

  summary(): LatencySummary {
    const sorted = this.values.slice(0, this.count).sort();
    const at = (q: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      count: sorted.length,
      meanMs: round(sorted.length ? sum / sorted.length : NaN),
      p50Ms: round(at(0.5)),
      p90Ms: round(at(0.9)),
      p99Ms: round(at(0.99)),
      p999Ms: round(at(0.999)),
      maxMs: round(sorted.length ? sorted[sorted.length - 1]! : NaN),
    };
  }
}

export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

export interface OpenLoopResult {
  readonly targetRate: number;
  readonly durationMs: number;
  readonly scheduled: number;
  readonly ok: number;
  readonly failed: number;
  /** Still unanswered when the drain time ran out; counted in the latencies at that moment. */
  readonly unanswered: number;
  /** Completions per second over the schedule (should match the target when keeping up). */
  readonly achievedRate: number;
  /** Largest number of due requests that waited for a free slot. */
  readonly maxBacklog: number;
  readonly latency: LatencySummary;
}

export function openLoop(slots: readonly Slot[], rate: number, durationMs: number, drainMs = 5000): Promise<OpenLoopResult> {
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const interval = 1000 / rate;
  const recorder = new Recorder(total);
  const idle: Slot[] = [...slots];
  const backlog: number[] = [];
  let backlogHead = 0;
  let scheduled = 0;
  let ok = 0;
  let failed = 0;
  let maxBacklog = 0;
  let finished = false;
  const start = performance.now() + 5;
  let lastDone = start;

  return new Promise((resolve) => {
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(drainTimer);
      const now = performance.now();
      // Requests never answered (or never sent) count at the latency they had reached.
      const unanswered = scheduled - ok - failed;
      for (let i = backlogHead; i < backlog.length; i++) recorder.add(now - backlog[i]!);
      const inSlots = unanswered - (backlog.length - backlogHead);
      for (let i = 0; i < inSlots; i++) recorder.add(drainMs);
      resolve({
        targetRate: rate,
        durationMs,
        scheduled,
        ok,
        failed,
        unanswered,
        achievedRate: Math.round(((ok + failed) / Math.max(1, lastDone - start)) * 1000),
        maxBacklog,
        latency: recorder.summary(),
      });
    };

    const dispatch = (slot: Slot, intended: number): void => {
      slot.send((success) => {
        if (finished) return;
        const now = performance.now();
        recorder.add(now - intended);
        lastDone = now;
        if (success) ok++;
        else failed++;
        if (backlogHead < backlog.length) {
          const next = backlog[backlogHead++]!;
          if (backlogHead > 4096 && backlogHead * 2 > backlog.length) {
            backlog.splice(0, backlogHead);
            backlogHead = 0;
          }
          dispatch(slot, next);
        } else {
          idle.push(slot);
        }
        if (ok + failed === total) finish();
      });
    };

    const tick = (): void => {
      if (finished) return;
      const now = performance.now();
      while (scheduled < total) {
        const intended = start + scheduled * interval;
        if (intended > now) break;
        scheduled++;
        const slot = idle.pop();
        if (slot) dispatch(slot, intended);
        else {
          backlog.push(intended);
          maxBacklog = Math.max(maxBacklog, backlog.length - backlogHead);
        }
      }
      if (scheduled < total) {
        const wait = start + scheduled * interval - performance.now();
        setTimeout(tick, wait > 1 ? Math.min(wait, 5) : 0);
      } else {
        drainTimer = setTimeout(finish, drainMs);
      }
    };
    setTimeout(tick, 5);
  });
}

export interface ClosedLoopResult {
  readonly durationMs: number;
  readonly ok: number;
  readonly failed: number;
  readonly rate: number;
  readonly latency: LatencySummary;
}

/** Every slot sends back to back for `durationMs`; completions after the deadline are not counted. */
export function closedLoop(slots: readonly Slot[], durationMs: number): Promise<ClosedLoopResult> {
  const recorder = new Recorder(1024);
  let ok = 0;
  let failed = 0;
  const start = performance.now();
  const end = start + durationMs;
  let running = slots.length;
  return new Promise((resolve) => {
    let resolved = false;
    const finish = (): void => {
      if (resolved) return;
      resolved = true;
      resolve({ durationMs, ok, failed, rate: Math.round(((ok + failed) / durationMs) * 1000), latency: recorder.summary() });
    };
    const loop = (slot: Slot): void => {
      const sent = performance.now();
      slot.send((success) => {
        const now = performance.now();
        if (now > end) {
          running--;
          if (running === 0) finish();
          return;
        }
        recorder.add(now - sent);
        if (success) ok++;
        else failed++;
        loop(slot);
      });
    };
    for (const slot of slots) loop(slot);
    // A slot stuck past the end must not hold the result forever.
    setTimeout(finish, durationMs + 10_000).unref();
  });
}

export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
