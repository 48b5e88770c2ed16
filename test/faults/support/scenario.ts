/**
 * One fault scenario against a running daemon: a stream of ledger requests, a fault injected
 * part way, recovery, then the stream goes on until 2xx answers are back; /ready is polled
 * throughout. The caller drains the broker and judges the result.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Ledger, type LedgerEntry } from '../ledger.js';
import { sleep } from '../../support/net.js';

/** Whether FAULTS_LONG=1 asks for the long variants. */
export const LONG = process.env.FAULTS_LONG === '1';

export interface ReadinessSample {
  /** When the probe was sent. */
  readonly sentAt: number;
  /** When its answer (or failure) came. */
  readonly at: number;
  /** HTTP status, or 0 when /ready did not answer. */
  readonly status: number;
}

export interface FaultPlan {
  readonly name: string;
  /** Injects the fault (kill, freeze, proxy...). */
  inject(): Promise<void> | void;
  /** How long the fault lasts before recover() is called. */
  readonly holdMs: number;
  /** Ends the fault; resolves once the broker serves again (e.g. restarted and reachable). */
  recover(): Promise<void> | void;
}

export interface ScenarioOutcome {
  readonly ledger: Ledger;
  readonly faultStartedAt: number;
  readonly brokerBackAt: number;
  /** The first 2xx answer to a request sent after the broker was back; undefined: none came. */
  readonly first2xxAfter: LedgerEntry | undefined;
  readonly recoveryMs: number | undefined;
  /** Requests sent from the fault's start until the first 2xx after it. */
  readonly duringFault: LedgerEntry[];
  readonly maxFaultLatencyMs: number;
  /**
   * The longest this process's event loop was held up during the scenario. The daemon runs in the
   * test's process, so a stall delays its answers and the ledger's clocks alike: an answer slower
   * than its deadline with a stall as long beside it was held up by the stall, not by the daemon.
   */
  readonly maxLoopDelayMs: number;
  readonly readiness: ReadinessSample[];
  /** Whether /ready said 503 at some point between the fault's start and the broker's return. */
  readonly readyWentDown: boolean;
  /** Whether /ready said 200 at the end. */
  readonly readyCameBack: boolean;
  readonly durationMs: number;
}

export interface ScenarioOptions {
  readonly baseUrl: string;
  readonly path: string;
  readonly fault: FaultPlan;
  /** Healthy streaming before the fault. */
  readonly warmMs?: number;
  /** Streaming after 2xx answers are back. */
  readonly tailMs?: number;
  /** Longest wait for the first 2xx after the broker is back. */
  readonly recoveryBoundMs: number;
  readonly concurrency?: number;
  readonly paceMs?: number;
}

/** Polls /ready until stopped; status 0 means no HTTP answer (refused, reset, timed out). */
export function pollReadiness(baseUrl: string, timing: { intervalMs: number; timeoutMs: number }): { samples: ReadinessSample[]; stop(): Promise<void> } {
  const samples: ReadinessSample[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      let status: number;
      const sentAt = Date.now();
      try {
        const res = await fetch(`${baseUrl}/ready`, { signal: AbortSignal.timeout(timing.timeoutMs) });
        status = res.status;
        await res.arrayBuffer();
      } catch {
        status = 0;
      }
      samples.push({ sentAt, at: Date.now(), status });
      await sleep(timing.intervalMs);
    }
  })();
  return {
    samples,
    stop: async () => {
      polling = false;
      await poller;
    },
  };
}

export async function runScenario(options: ScenarioOptions): Promise<ScenarioOutcome> {
  const started = Date.now();
  const ledger = new Ledger({ baseUrl: options.baseUrl, path: options.path, clientTimeoutMs: 15_000 });
  const poll = pollReadiness(options.baseUrl, { intervalMs: 50, timeoutMs: 2000 });
  const readiness = poll.samples;

  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const stream = ledger.stream(options.concurrency ?? 8, options.paceMs ?? 10);
  let faultStartedAt = 0;
  let brokerBackAt = 0;
  let first2xxAfter: LedgerEntry | undefined;
  try {
    await sleep(options.warmMs ?? (LONG ? 5000 : 1000));
    faultStartedAt = Date.now();
    await options.fault.inject();
    await sleep(options.fault.holdMs);
    await options.fault.recover();
    brokerBackAt = Date.now();
    const deadline = brokerBackAt + options.recoveryBoundMs;
    while (Date.now() < deadline) {
      first2xxAfter = ledger.entries.find((e) => e.startedAt >= brokerBackAt && e.status >= 200 && e.status < 300);
      if (first2xxAfter) break;
      await sleep(50);
    }
    if (first2xxAfter) await sleep(options.tailMs ?? (LONG ? 10_000 : 1000));
  } finally {
    await stream.stop();
  }
  // /ready must come back too (give it the same bound).
  const readyDeadline = Date.now() + options.recoveryBoundMs;
  while (Date.now() < readyDeadline && readiness.at(-1)?.status !== 200) await sleep(50);
  await poll.stop();
  loopDelay.disable();

  const faultEnd = first2xxAfter ? first2xxAfter.startedAt : Date.now();
  // Everything in flight at some point between the fault's start and the first 2xx after it.
  const duringFault = ledger.entries.filter((e) => e.startedAt + e.latencyMs >= faultStartedAt && e.startedAt <= faultEnd);
  return {
    ledger,
    faultStartedAt,
    brokerBackAt,
    first2xxAfter,
    recoveryMs: first2xxAfter ? first2xxAfter.startedAt + first2xxAfter.latencyMs - brokerBackAt : undefined,
    duringFault,
    maxFaultLatencyMs: duringFault.reduce((max, e) => Math.max(max, e.latencyMs), 0),
    maxLoopDelayMs: Math.round(loopDelay.max / 1e6),
    readiness,
    readyWentDown: readiness.some((s) => s.at >= faultStartedAt && s.at <= (brokerBackAt || Date.now()) + 200 && s.status !== 200),
    readyCameBack: readiness.at(-1)?.status === 200,
    durationMs: Date.now() - started,
  };
}

/** Unhandled rejections seen by this process while a suite runs. */
export function watchUnhandledRejections(): { readonly seen: unknown[]; stop(): void } {
  const seen: unknown[] = [];
  const listener = (reason: unknown): void => {
    seen.push(reason);
  };
  process.on('unhandledRejection', listener);
  return { seen, stop: () => process.off('unhandledRejection', listener) };
}
