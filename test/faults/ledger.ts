/**
 * The delivery ledger: sends requests to a route of a running daemon, each with a unique
 * idempotency key (in the Idempotency-Key header and in the JSON body, which is what matching
 * relies on), records what each client was told, and compares that with what a real consumer
 * drained from the broker afterwards.
 *
 * What an answer claims (README "Errors", shared/reliability.md):
 *   acknowledged  2xx: the broker has the message. Missing at the consumer = LOST (must be 0).
 *   refused       the daemon says nothing was handed over: 400/401/403/404/413/429/431, 502
 *                 broker_rejected, 503 overloaded / shutting_down, 503 broker_unavailable whose
 *                 message does not say the outcome is unknown, a refused TCP connection. Present at the consumer of a
 *                 persistent route = the refusal was untrue (must be 0 where checked).
 *   unknown       504, 503 broker_unavailable saying the outcome is unknown, 500, a dropped
 *                 connection or no answer: may or may not be present; counted, never judged.
 */
import { randomUUID } from 'node:crypto';
import type { InboundMessage } from '../../core/plugins/contract.js';
import { RawHttpClient } from './support/raw-http.js';
import { sleep } from '../support/net.js';

export type Outcome = 'acknowledged' | 'refused' | 'unknown';

export interface LedgerEntry {
  readonly key: string;
  readonly seq: number;
  readonly startedAt: number;
  readonly latencyMs: number;
  /** HTTP status; 0 when no HTTP answer came (connection error or client-side timeout). */
  readonly status: number;
  readonly code: string | undefined;
  readonly message: string | undefined;
  readonly retryAfter: string | null;
  readonly outcome: Outcome;
  /** Sent over a raw connection it had to open first (undefined: fetch, which does not say). */
  readonly newConnection?: boolean;
}

export interface LedgerResult {
  readonly sent: number;
  readonly acknowledged: number;
  /** 2xx keys the consumer never saw. Must be 0. */
  readonly lostAcknowledged: number;
  readonly unknownOutcome: number;
  /** Of the unknown ones, how many the consumer did see (information only). */
  readonly unknownDelivered: number;
  readonly refused: number;
  /** Refused keys the consumer saw anyway (must be 0 where `checkRefused`). */
  readonly refusedButDelivered: number;
  /** Keys the consumer saw more than once. */
  readonly duplicates: number;
  readonly maxLatencyMs: number;
  /** Answers by status (0 = no answer) and code, e.g. {"202": 480, "503 broker_unavailable": 20}. */
  readonly answers: Record<string, number>;
  /** A few keys of each failure kind, for the assertion message. */
  readonly examples: { lost: string[]; refusedButDelivered: string[] };
}

const UNKNOWN_WORDING = /unknown|may have|may be stored|might/i;

/** Classifies one answer by what it claims about the message. */
export function classify(status: number, code: string | undefined, message: string | undefined): Outcome {
  if (status >= 200 && status < 300) return 'acknowledged';
  // Nobody accepted the connection, so nothing was read, let alone sent on.
  if (status === 0 && /ECONNREFUSED/.test(message ?? '')) return 'refused';
  if (status === 0 || status === 504 || (status >= 500 && code === 'internal_error')) return 'unknown';
  if (status === 503 && code === 'broker_unavailable') return UNKNOWN_WORDING.test(message ?? '') ? 'unknown' : 'refused';
  if (status === 503 || status === 502 || (status >= 400 && status < 500)) return 'refused';
  return 'unknown';
}

export interface LedgerOptions {
  /** e.g. http://127.0.0.1:1234 */
  readonly baseUrl: string;
  /** The route's path, e.g. /p2p */
  readonly path: string;
  /** A client-side limit: an answer later than this counts as no answer (status 0). */
  readonly clientTimeoutMs?: number;
  /** Extra bytes in each body (default 64). */
  readonly padBytes?: number;
}

export class Ledger {
  readonly run = randomUUID().slice(0, 8);
  readonly entries: LedgerEntry[] = [];
  private seq = 0;
  private readonly pad: string;

  constructor(readonly options: LedgerOptions) {
    this.pad = 'x'.repeat(options.padBytes ?? 64);
  }

  /** Sends one request (with fetch, or over `raw`'s keep-alive socket) and records the answer. Never throws. */
  async send(raw?: RawHttpClient): Promise<LedgerEntry> {
    const seq = this.seq++;
    const key = `ledger-${this.run}-${seq}`;
    const body = JSON.stringify({ key, seq, pad: this.pad });
    const headers = { 'content-type': 'application/json', 'idempotency-key': key };
    const timeoutMs = this.options.clientTimeoutMs ?? 30_000;
    const startedAt = Date.now();
    let status: number;
    let code: string | undefined;
    let message: string | undefined;
    let retryAfter: string | null = null;
    let newConnection: boolean | undefined;
    try {
      let text: string;
      if (raw) {
        const answer = await raw.request(this.options.path, headers, body, timeoutMs);
        status = answer.status;
        retryAfter = answer.retryAfter;
        newConnection = answer.newConnection;
        text = answer.body;
      } else {
        const res = await fetch(`${this.options.baseUrl}${this.options.path}`, { method: 'POST', body, headers, signal: AbortSignal.timeout(timeoutMs) });
        text = await res.text();
        status = res.status;
        retryAfter = res.headers.get('retry-after');
      }
      if (status >= 300) {
        try {
          const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
          code = parsed.error?.code;
          message = parsed.error?.message;
        } catch {
          code = 'not_json';
          message = text.slice(0, 200);
        }
      }
    } catch (error) {
      status = 0;
      code = error instanceof Error && error.name === 'TimeoutError' ? 'client_timeout' : 'connection_error';
      message = error instanceof Error ? `${error.message}${error.cause instanceof Error ? `: ${error.cause.message}` : ''}` : String(error);
    }
    const entry: LedgerEntry = {
      key,
      seq,
      startedAt,
      latencyMs: Date.now() - startedAt,
      status,
      code,
      message,
      retryAfter,
      outcome: classify(status, code, message),
      ...(newConnection === undefined ? {} : { newConnection }),
    };
    this.entries.push(entry);
    return entry;
  }

  /** Sends `count` requests, `concurrency` at a time. */
  async sendMany(count: number, concurrency: number): Promise<void> {
    let left = count;
    const worker = async (): Promise<void> => {
      while (left > 0) {
        left -= 1;
        await this.send();
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  }

  /**
   * Streams requests from `concurrency` workers, each pausing `paceMs` between its requests,
   * until `stop()` is called. Returns the stop function and a promise of the end of the stream.
   */
  stream(concurrency: number, paceMs: number, options: { rampMs?: number; raw?: boolean } = {}): { stop: () => Promise<void> } {
    let running = true;
    const port = Number(new URL(this.options.baseUrl).port);
    const worker = async (_: unknown, index: number): Promise<void> => {
      // Clients join over rampMs rather than in one connection storm.
      if (options.rampMs) await sleep((index * options.rampMs) / concurrency);
      const raw = options.raw ? new RawHttpClient(port) : undefined;
      while (running) {
        await this.send(raw);
        if (paceMs > 0) await sleep(paceMs);
      }
      raw?.close();
    };
    const done = Promise.all(Array.from({ length: concurrency }, worker));
    return {
      stop: async () => {
        running = false;
        await done;
      },
    };
  }

  keysWith(outcome: Outcome): string[] {
    return this.entries.filter((e) => e.outcome === outcome).map((e) => e.key);
  }

  /** Compares the answers with what the consumer received (key -> times seen). */
  compare(received: Collector, checkRefused = true): LedgerResult {
    const answers: Record<string, number> = {};
    let lost = 0;
    let unknown = 0;
    let unknownDelivered = 0;
    let refused = 0;
    let refusedButDelivered = 0;
    let acknowledged = 0;
    let maxLatencyMs = 0;
    const examples = { lost: [] as string[], refusedButDelivered: [] as string[] };
    for (const entry of this.entries) {
      const label = entry.status >= 200 && entry.status < 300 ? String(entry.status) : `${entry.status} ${entry.code ?? ''}`.trim();
      answers[label] = (answers[label] ?? 0) + 1;
      maxLatencyMs = Math.max(maxLatencyMs, entry.latencyMs);
      const seen = received.count(entry.key) > 0;
      switch (entry.outcome) {
        case 'acknowledged':
          acknowledged += 1;
          if (!seen) {
            lost += 1;
            if (examples.lost.length < 5) examples.lost.push(entry.key);
          }
          break;
        case 'refused':
          refused += 1;
          if (seen && checkRefused) {
            refusedButDelivered += 1;
            if (examples.refusedButDelivered.length < 5) examples.refusedButDelivered.push(`${entry.key} (${entry.status} ${entry.code}: ${entry.message})`);
          }
          break;
        case 'unknown':
          unknown += 1;
          if (seen) unknownDelivered += 1;
          break;
      }
    }
    const ours = new Set(this.entries.map((e) => e.key));
    const duplicates = [...received.counts].filter(([key, times]) => ours.has(key) && times > 1).length;
    return {
      sent: this.entries.length,
      acknowledged,
      lostAcknowledged: lost,
      unknownOutcome: unknown,
      unknownDelivered,
      refused,
      refusedButDelivered,
      duplicates,
      maxLatencyMs,
      answers,
      examples,
    };
  }
}

/** Counts what a consumer received, by the key in each JSON body. */
export class Collector {
  readonly counts = new Map<string, number>();
  foreign = 0;

  /** A handler for plugin.subscribe(): resolving acknowledges the message. */
  readonly handler = (message: InboundMessage): Promise<void> => {
    this.add(message.payload);
    return Promise.resolve();
  };

  add(payload: Uint8Array | Buffer): void {
    let key: unknown;
    try {
      key = (JSON.parse(Buffer.from(payload).toString('utf8')) as { key?: unknown }).key;
    } catch {
      key = undefined;
    }
    if (typeof key !== 'string') {
      this.foreign += 1;
      return;
    }
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  get total(): number {
    let sum = 0;
    for (const times of this.counts.values()) sum += times;
    return sum;
  }
}

/**
 * Waits until the consumer has every acknowledged key, then `settleMs` more with nothing new (so
 * late arrivals of refused or unknown keys are counted too). Gives up after `timeoutMs` (the
 * comparison then reports what is missing).
 */
export async function drained(ledger: Ledger, collector: Collector, timeoutMs = 30_000, settleMs = 1000): Promise<void> {
  const wanted = ledger.keysWith('acknowledged');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !wanted.every((key) => collector.count(key) > 0)) {
    await sleep(50);
  }
  let last = -1;
  while (Date.now() < deadline && collector.total !== last) {
    last = collector.total;
    await sleep(settleMs);
  }
}

/** One line for assertion messages. */
export function describeResult(label: string, result: LedgerResult): string {
  return `${label}: ${JSON.stringify({ ...result })}`;
}
