/**
 * The pull API over HTTP: POST on a pull path leases messages, POST on its /ack and /nack
 * settles leases by token, whichever instance issued them.
 *
 * Everything that can refuse a request (method, API key and `clients:`, the query, the body, the
 * broker being connected, the limit on waiting pulls) is decided before the consumer is started,
 * so a refused request is a JSON error and subscribes nothing.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from 'winston';
import type { BrokerInstance } from '../brokers/instance.js';
import { parseDuration } from '../duration.js';
import { DeadLetterPublisher } from '../egress/dead-letter.js';
import { BusgateError, isBusgateError } from '../errors.js';
import { CHALLENGE, type Authenticator } from '../http/auth.js';
import { encodeBody } from '../http/message-body.js';
import { readBody } from '../http/read-body.js';
import { sendError } from '../http/send-error.js';
import { PullControl, type SettleRequest } from './control.js';
import { LeaseSigner, parseLeaseToken } from './lease-token.js';
import { PullMetrics } from './metrics.js';
import { SETTLE_SUFFIXES } from './lint.js';
import { PULL_DEFAULTS, PULL_LIMITS, samePull, type PullLimits, type PullSpec } from './model.js';
import { PullSource, type Leased, type SettleOutcome, type Settlement } from './pull-source.js';

export interface PullServerDependencies {
  readonly brokers: ReadonlyMap<string, BrokerInstance>;
  readonly logger: Logger;
  readonly authenticator: Authenticator;
  /** This replica's id (config instanceId): lease tokens name it as the holder. */
  readonly instanceId: string;
  readonly limits?: Partial<PullLimits>;
  /** Where the pull metrics go (the daemon's registry); absent: none are kept. */
  readonly registry?: Registry;
}

/** A pull path as the console shows it; `held` is this instance's (leased, buffered, delayed). */
export interface PullView {
  readonly path: string;
  readonly broker: string;
  readonly source: string;
  readonly mode: PullSpec['mode'];
  readonly group: string | null;
  readonly leaseMs: number;
  readonly maxHeld: number;
  readonly deadLetter: string | null;
  readonly clients: readonly string[] | null;
  readonly held: number;
}

/** Bodies of ack and nack: a thousand tokens fit well within it. */
const SETTLE_BODY_LIMIT = 256 * 1024;

type Action = 'pull' | 'ack' | 'nack';

export class PullServer {
  private readonly limits: PullLimits;
  private readonly signer: LeaseSigner;
  private readonly control: PullControl;
  private specs = new Map<string, PullSpec>();
  private inService: readonly PullSpec[] = [];
  private readonly sources = new Map<string, PullSource>();
  private waiting = 0;
  private stopped = false;
  private readonly metrics: PullMetrics | undefined;

  constructor(private readonly deps: PullServerDependencies) {
    this.limits = { ...PULL_LIMITS, ...deps.limits };
    this.signer = new LeaseSigner(deps.instanceId);
    this.control = new PullControl(deps.instanceId, (request) => this.settleHere(request), deps.logger, this.limits.forwardTimeoutMs);
    this.metrics = deps.registry && new PullMetrics(deps.registry, () => new Map([...this.sources].map(([path, source]) => [path, source.held])));
  }

  /** Whether `path` is a pull path or one of its settle paths (the ingress passes it on). */
  serves(path: string): boolean {
    return this.lookUp(path) !== undefined;
  }

  /** The pull paths in service (the same array until a reload changes them). */
  configured(): readonly PullSpec[] {
    return this.inService;
  }

  /** The pull paths with what this instance holds for each, for the console. */
  views(): PullView[] {
    return this.inService.map((spec) => ({
      path: spec.path,
      broker: spec.broker,
      source: spec.source,
      mode: spec.mode,
      group: spec.group ?? null,
      leaseMs: spec.leaseMs,
      maxHeld: spec.maxHeld,
      deadLetter: spec.deadLetter ?? null,
      clients: spec.clients ?? null,
      held: this.held(spec.path),
    }));
  }

  /** Messages this instance holds for `path` now (leased, buffered, delayed), for tests and the bench. */
  held(path: string): number {
    return this.sources.get(path)?.held ?? 0;
  }

  /** The pull paths in force from now on; consumers of removed or changed ones hand everything back. */
  async apply(specs: readonly PullSpec[]): Promise<void> {
    this.specs = new Map(specs.map((spec) => [spec.path, spec]));
    this.inService = specs;
    const gone = [...this.sources].filter(([path, source]) => {
      const spec = this.specs.get(path);
      return spec === undefined || !samePull(spec, source.spec);
    });
    for (const [path] of gone) this.sources.delete(path);
    await Promise.all(gone.map(([, source]) => source.stop()));
  }

  /** Answers every waiting pull now with what it has (shutdown: a long-poll must not hold up the drain). */
  endWaits(): void {
    for (const source of this.sources.values()) source.endWaits();
  }

  /** Hands every held message back and stops answering forwarded settlements (shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    const sources = [...this.sources.values()];
    this.sources.clear();
    await Promise.all(sources.map((source) => source.stop()));
    await this.control.stop();
  }

  /** express middleware: serves pull paths, passes everything else on. */
  readonly handle = (req: Request, res: Response, next: NextFunction): void => {
    const found = this.lookUp(req.path);
    if (found === undefined) return next();
    this.serve(req, res, found.spec, found.action).catch((error: unknown) => {
      const code = isBusgateError(error) ? error.code : undefined;
      sendError(res, error, this.deps.logger, code === 'unauthorized' ? CHALLENGE : code === 'method_not_allowed' ? { Allow: 'POST' } : {});
    });
  };

  private lookUp(path: string): { spec: PullSpec; action: Action } | undefined {
    const spec = this.specs.get(path);
    if (spec !== undefined) return { spec, action: 'pull' };
    for (const suffix of SETTLE_SUFFIXES) {
      if (!path.endsWith(suffix)) continue;
      const owner = this.specs.get(path.slice(0, -suffix.length));
      if (owner !== undefined) return { spec: owner, action: suffix === '/ack' ? 'ack' : 'nack' };
    }
    return undefined;
  }

  private async serve(req: Request, res: Response, spec: PullSpec, action: Action): Promise<void> {
    if (req.method !== 'POST') throw new BusgateError('method_not_allowed', `${req.method.slice(0, 16)} is not allowed here; use POST`);
    const client = this.deps.authenticator.admit(req.headers, spec.clients);
    if (typeof client !== 'string') throw client;
    if (action === 'pull') return this.pull(req, res, spec);
    const settlement = action === 'ack' ? { kind: 'ack' as const } : undefined;
    const { tokens, nack } = parseSettleBody(await readBody(req, SETTLE_BODY_LIMIT), action === 'nack', this.limits);
    if (nack?.kind === 'nack' && !nack.requeue && spec.deadLetter === undefined) {
      throw new BusgateError('bad_request', `pull path ${spec.path} has no deadLetter; nack with "requeue": false has nowhere to go`);
    }
    const outcomes = await this.settle(spec, { path: spec.path, tokens, settlement: settlement ?? nack! });
    const results = tokens.map((lease, index) => ({ lease, outcome: outcomes[index]! }));
    res.status(200).json({ settled: outcomes.filter((outcome) => outcome === 'settled').length, results });
  }

  private async pull(req: Request, res: Response, spec: PullSpec): Promise<void> {
    const max = queryInteger(req.query.max, 'max', PULL_DEFAULTS.max, 1, spec.maxHeld);
    const waitMs = queryWait(req.query.wait, this.limits.maxWaitMs);
    const broker = this.deps.brokers.get(spec.broker);
    if (this.stopped) throw new BusgateError('shutting_down', 'the daemon is shutting down', { retryAfterSeconds: 1 });
    if (!broker?.isConnected) throw new BusgateError('broker_unavailable', `broker "${spec.broker}" is not connected`, { retryAfterSeconds: 1 });
    if (waitMs > 0 && this.waiting >= this.limits.maxWaiting) {
      throw new BusgateError('too_many_pulls', `this instance already has ${this.limits.maxWaiting} pulls waiting`, { retryAfterSeconds: 1 });
    }
    // Leases are issued only once forwarded settlements can reach this instance.
    await this.control.listen(broker);
    const source = this.sourceFor(spec, broker);
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    this.waiting += 1;
    let leased: Leased[];
    try {
      leased = await source.pull(max, waitMs, gone.signal);
    } finally {
      this.waiting -= 1;
    }
    res.status(200).json({ messages: leased.map(messageJson) });
  }

  private sourceFor(spec: PullSpec, broker: BrokerInstance): PullSource {
    let source = this.sources.get(spec.path);
    if (source !== undefined && source.broker === broker) return source;
    // The broker instance was replaced by a reload: the old consumer went with it.
    void source?.stop();
    const logger = this.deps.logger.child({ pull: spec.path });
    const deadLetter =
      spec.deadLetter === undefined
        ? undefined
        : new DeadLetterPublisher(broker, spec.deadLetter, spec.deadLetterOptions, `pull:${spec.path}`, this.limits.forwardTimeoutMs, logger);
    const messages = this.metrics?.messages;
    source = new PullSource(spec, broker, this.signer, deadLetter, this.limits, logger, (outcome) => messages?.inc({ pull: spec.path, outcome }));
    this.sources.set(spec.path, source);
    return source;
  }

  /** Settles the tokens this instance holds at once, forwards the others to their holders, one request per holder. */
  private async settle(spec: PullSpec, request: SettleRequest): Promise<SettleOutcome[]> {
    const outcomes: SettleOutcome[] = request.tokens.map(() => 'unknown');
    const byHolder = new Map<string, number[]>();
    request.tokens.forEach((token, index) => {
      const holder = parseLeaseToken(token)?.holder;
      if (holder === undefined) return;
      const indexes = byHolder.get(holder) ?? [];
      indexes.push(index);
      byHolder.set(holder, indexes);
    });
    const broker = this.deps.brokers.get(spec.broker);
    await Promise.all(
      [...byHolder].map(async ([holder, indexes]) => {
        const part = { ...request, tokens: indexes.map((index) => request.tokens[index]!) };
        let answers: SettleOutcome[];
        const via = holder === this.signer.holder ? 'local' : 'forwarded';
        if (via === 'local') answers = this.settleHere(part);
        else if (broker?.isConnected) answers = await this.control.forward(broker, holder, part);
        else answers = part.tokens.map(() => 'unreachable');
        indexes.forEach((index, i) => (outcomes[index] = answers[i]!));
        for (const outcome of answers) this.metrics?.settlements.inc({ pull: spec.path, via, outcome });
      }),
    );
    return outcomes;
  }

  /** Settles leases this instance issued; a forwarded request is checked as strictly as a local one. */
  private settleHere({ path, tokens, settlement }: SettleRequest): SettleOutcome[] {
    const source = this.sources.get(path);
    const delayMs = settlement.kind === 'nack' && settlement.requeue ? Math.min(settlement.delayMs, this.limits.maxNackDelayMs) : 0;
    const bounded: Settlement = settlement.kind === 'nack' && settlement.requeue ? { ...settlement, delayMs } : settlement;
    return tokens.map((text) => {
      const token = parseLeaseToken(text);
      if (source === undefined || token === undefined || !this.signer.verify(path, token)) return 'unknown';
      return source.settle(token.lease, bounded) ? 'settled' : 'unknown';
    });
  }
}

function messageJson({ token, expiresAt, message }: Leased): Record<string, unknown> {
  return {
    id: message.delivery?.messageId ?? message.headers['busgate-id'] ?? null,
    lease: token,
    leaseExpiresAt: new Date(expiresAt).toISOString(),
    ...encodeBody(message.payload),
    contentType: message.contentType ?? null,
    headers: message.headers,
    key: message.key ?? null,
    position: message.delivery?.position ?? null,
    redeliveries: message.delivery?.redeliveries ?? null,
  };
}

function queryInteger(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min) throw new BusgateError('bad_request', `"${name}" must be a whole number of at least ${min}`);
  // More than the path lets one instance hold could never be answered: cut to it.
  return Math.min(n, max);
}

function queryWait(value: unknown, maxMs: number): number {
  if (value === undefined || value === '0' || value === '0s') return 0;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || ms > maxMs) throw new BusgateError('bad_request', `"wait" must be a duration from 0s to ${maxMs / 1000}s, such as 5s`);
  return ms;
}

/** `{"leases": [...]}`, and for nack `"requeue"` (default true) and `"delay"` (with requeue only). */
function parseSettleBody(body: Buffer, isNack: boolean, limits: PullLimits): { tokens: string[]; nack: Settlement | undefined } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BusgateError('bad_request', 'the body must be JSON: {"leases": ["<lease token>", ...]}');
  }
  const { leases, requeue, delay, ...rest } = (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0 || (!isNack && (requeue !== undefined || delay !== undefined))) {
    throw new BusgateError('bad_request', `unknown field(s) ${[...unknown, ...(isNack ? [] : ['requeue', 'delay'])].join(', ')}`);
  }
  if (!Array.isArray(leases) || leases.length === 0 || leases.length > limits.maxLeasesPerSettle || !leases.every((lease) => typeof lease === 'string')) {
    throw new BusgateError('bad_request', `"leases" must be a list of 1 to ${limits.maxLeasesPerSettle} lease tokens`);
  }
  if (!isNack) return { tokens: leases, nack: undefined };
  if (requeue !== undefined && typeof requeue !== 'boolean') throw new BusgateError('bad_request', '"requeue" must be true or false');
  if (requeue === false) {
    if (delay !== undefined) throw new BusgateError('bad_request', '"delay" goes with "requeue": true only');
    return { tokens: leases, nack: { kind: 'nack', requeue: false } };
  }
  const delayMs = delay === undefined || delay === '0s' || delay === '0' ? 0 : typeof delay === 'string' ? parseDuration(delay) : undefined;
  if (delayMs === undefined || delayMs > limits.maxNackDelayMs) {
    throw new BusgateError('bad_request', `"delay" must be a duration from 0s to ${limits.maxNackDelayMs / 60_000}m, such as 1s`);
  }
  return { tokens: leases, nack: { kind: 'nack', requeue: true, delayMs } };
}
