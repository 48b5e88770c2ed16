/**
 * One pull path's consumer on this instance, built once on the core's subscribe contract: the
 * handler's pending promise holds the message (the plugin keeps the broker from redelivering it:
 * JetStream in-progress acks, Kafka heartbeats, an unacked AMQP delivery), resolve = ack,
 * reject = hand back for redelivery.
 *
 * A message the plugin hands over waits in a small buffer (or goes straight to a waiting pull);
 * a pull turns it into a lease with a timer. Settling the lease settles the promise: ack
 * resolves; nack rejects (after its delay) or stores a dead letter and then resolves; a lease
 * that runs out rejects. The plugin never hands over more than `maxHeld` at once (leased,
 * buffered and delayed together), so one instance never sits on more than that of the source.
 *
 * The consumer starts with the first pull, not with the daemon: an instance nobody pulls from
 * takes nothing. When nobody pulled for idleCloseMs and it holds no lease, it closes, and the
 * broker gives what it had buffered to the other instances.
 */
import type { Logger } from 'winston';
import type { BrokerInstance } from '../brokers/instance.js';
import { BusgateError, describeError } from '../errors.js';
import type { DeadLetterPublisher } from '../egress/dead-letter.js';
import type { InboundMessage, Subscription } from '../plugins/contract.js';
import type { LeaseSigner } from './lease-token.js';
import type { PullOutcome } from './metrics.js';
import type { PullLimits, PullSpec } from './model.js';

/** What an ack or nack asks for. */
export type Settlement =
  { readonly kind: 'ack' } | { readonly kind: 'nack'; readonly requeue: true; readonly delayMs: number } | { readonly kind: 'nack'; readonly requeue: false };

/**
 * settled: done. unknown: no such lease here (expired, settled before, forged, or its holder
 * restarted; its message was or will be redelivered). unreachable: the holder did not answer in
 * time; the lease runs out there and the message comes again.
 */
export type SettleOutcome = 'settled' | 'unknown' | 'unreachable';

interface Held {
  readonly message: InboundMessage;
  readonly ack: () => void;
  readonly handBack: (why: string) => void;
}

interface Waiter {
  readonly max: number;
  readonly got: Held[];
  finish(): void;
}

export interface Leased {
  readonly token: string;
  readonly expiresAt: number;
  readonly message: InboundMessage;
}

export class PullSource {
  private subscription: Subscription | undefined;
  private starting: Promise<void> | undefined;
  /** An idle close under way: what arrives meanwhile goes straight back. */
  private closing: Promise<void> | undefined;
  private readonly buffer: Held[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly leases = new Map<string, { readonly held: Held; readonly timer: NodeJS.Timeout }>();
  /** nack delays and dead letters under way: held, not leased. */
  private readonly settling = new Set<Held>();
  private readonly delays = new Set<NodeJS.Timeout>();
  private readonly stopSignal = new AbortController();
  private readonly idleTimer: NodeJS.Timeout;
  private lastPull = Date.now();
  private stopped = false;

  constructor(
    readonly spec: PullSpec,
    readonly broker: BrokerInstance,
    private readonly signer: LeaseSigner,
    private readonly deadLetter: DeadLetterPublisher | undefined,
    private readonly limits: PullLimits,
    private readonly logger: Logger,
    private readonly count: (outcome: PullOutcome) => void = () => undefined,
  ) {
    this.idleTimer = setInterval(() => void this.closeIfIdle(), Math.max(50, limits.idleCloseMs / 2));
    this.idleTimer.unref();
  }

  /** Messages held now: leased, buffered, or in a nack delay or dead-letter store. */
  get held(): number {
    return this.leases.size + this.buffer.length + this.settling.size;
  }

  get leased(): number {
    return this.leases.size;
  }

  get consuming(): boolean {
    return this.subscription !== undefined;
  }

  /** Subscribes if needed (rejects when the broker refuses), then leases up to `max`, waiting up to waitMs for the first. */
  async pull(max: number, waitMs: number, signal: AbortSignal): Promise<Leased[]> {
    this.lastPull = Date.now();
    await this.ensureSubscribed();
    let got = this.buffer.splice(0, max);
    if (got.length === 0 && waitMs > 0 && !signal.aborted) got = await this.wait(max, waitMs, signal);
    this.lastPull = Date.now();
    if (this.stopped) {
      for (const held of got) this.handBack(held, 'the pull path stopped');
      return [];
    }
    if (signal.aborted) {
      // Nobody will read them: to the next waiting pull, else first in line for the next one.
      if (this.waiters.length > 0) for (const held of got) this.arrive(held);
      else this.buffer.unshift(...got);
      return [];
    }
    return got.map((held) => this.lease(held));
  }

  /** Settles a lease this source issued (its token checked already); false when it is not held. */
  settle(lease: string, settlement: Settlement): boolean {
    const entry = this.leases.get(lease);
    if (entry === undefined) return false;
    this.leases.delete(lease);
    clearTimeout(entry.timer);
    const { held } = entry;
    this.count(settlement.kind === 'ack' ? 'acked' : settlement.requeue ? 'nacked' : 'dead_lettered');
    if (settlement.kind === 'ack') held.ack();
    else if (settlement.requeue && settlement.delayMs === 0) held.handBack('nacked');
    else if (settlement.requeue) this.delay(held, settlement.delayMs);
    else this.storeDeadLetter(held);
    return true;
  }

  /** Answers every waiting pull now with what it got so far. */
  endWaits(): void {
    for (const waiter of [...this.waiters]) waiter.finish();
  }

  /** Hands everything back to the broker and closes the consumer (reload, shutdown). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopSignal.abort();
    clearInterval(this.idleTimer);
    for (const waiter of this.waiters.splice(0)) waiter.finish();
    for (const timer of this.delays) clearTimeout(timer);
    for (const held of this.settling) this.handBack(held, 'the pull path stopped');
    for (const { held, timer } of this.leases.values()) {
      clearTimeout(timer);
      this.handBack(held, 'the pull path stopped');
    }
    this.leases.clear();
    await this.closeSubscription();
  }

  /** The plugin's handler: the promise is the message's acknowledgement. */
  private readonly handle = (message: InboundMessage): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      let done = false;
      const once = (settle: () => void) => (): void => {
        if (done) return;
        done = true;
        settle();
      };
      const held: Held = {
        message,
        ack: once(resolve),
        handBack: (why) => once(() => reject(new BusgateError('broker_rejected', `pull ${this.spec.path}: message handed back (${why})`)))(),
      };
      this.arrive(held);
    });

  /** Hands a message that was not settled by a client back to the broker. */
  private handBack(held: Held, why: string): void {
    this.count('handed_back');
    held.handBack(why);
  }

  private arrive(held: Held): void {
    if (this.stopped || this.closing !== undefined) return held.handBack('the consumer is closing');
    const waiter = this.waiters[0];
    if (waiter === undefined) {
      this.buffer.push(held);
      return;
    }
    waiter.got.push(held);
    if (waiter.got.length >= waiter.max) waiter.finish();
    // Messages the plugin hands over in the same burst go out in the same answer.
    else if (waiter.got.length === 1) setImmediate(() => waiter.finish());
  }

  private wait(max: number, waitMs: number, signal: AbortSignal): Promise<Held[]> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        max,
        got: [],
        finish: () => {
          const index = this.waiters.indexOf(waiter);
          if (index < 0) return;
          this.waiters.splice(index, 1);
          clearTimeout(timer);
          signal.removeEventListener('abort', waiter.finish);
          resolve(waiter.got);
        },
      };
      const timer = setTimeout(waiter.finish, waitMs);
      signal.addEventListener('abort', waiter.finish, { once: true });
      this.waiters.push(waiter);
    });
  }

  private lease(held: Held): Leased {
    const { lease, token } = this.signer.issue(this.spec.path);
    const timer = setTimeout(() => {
      if (!this.leases.delete(lease)) return;
      this.count('expired');
      held.handBack('lease expired');
    }, this.spec.leaseMs);
    timer.unref();
    this.leases.set(lease, { held, timer });
    this.count('leased');
    return { token, expiresAt: Date.now() + this.spec.leaseMs, message: held.message };
  }

  private delay(held: Held, delayMs: number): void {
    this.settling.add(held);
    const timer = setTimeout(() => {
      this.delays.delete(timer);
      this.settling.delete(held);
      held.handBack('nacked with a delay');
    }, delayMs);
    timer.unref();
    this.delays.add(timer);
  }

  /**
   * The dead letter is stored before the source message is acknowledged; until the broker took it
   * the message stays held (dead-letter.ts retries), so a failing store delays but loses nothing.
   */
  private storeDeadLetter(held: Held): void {
    if (this.deadLetter === undefined) return held.handBack('no dead letter configured');
    this.settling.add(held);
    const { message } = held;
    const id = message.delivery?.messageId ?? message.headers['busgate-id'] ?? 'unknown';
    const note = { reason: 'rejected' as const, attempts: (message.delivery?.redeliveries ?? 0) + 1, lastStatus: 'nack' };
    this.deadLetter.store(id, message, note, this.stopSignal.signal).then(
      () => {
        this.settling.delete(held);
        held.ack();
      },
      () => {
        this.settling.delete(held);
        held.handBack('the dead letter was not stored before the pull path stopped');
      },
    );
  }

  private async ensureSubscribed(): Promise<void> {
    if (this.stopped) throw new BusgateError('shutting_down', `pull path ${this.spec.path} is stopping`, { retryAfterSeconds: 1 });
    if (this.subscription !== undefined) return;
    await this.closing;
    if (this.subscription !== undefined) return;
    this.starting ??= this.subscribe().finally(() => (this.starting = undefined));
    await this.starting;
  }

  private async subscribe(): Promise<void> {
    const { spec } = this;
    const subscription = await this.broker.subscribe(
      spec.source,
      { mode: spec.mode, options: spec.options, maxInFlight: spec.maxHeld, ...(spec.group === undefined ? {} : { group: spec.group }) },
      this.handle,
    );
    if (this.stopped) {
      await subscription.close();
      throw new BusgateError('shutting_down', `pull path ${spec.path} is stopping`, { retryAfterSeconds: 1 });
    }
    this.subscription = subscription;
    this.logger.info('pull consumer started', { pull: spec.path, broker: spec.broker, source: spec.source, group: spec.group });
  }

  private async closeIfIdle(): Promise<void> {
    if (this.subscription === undefined || this.waiters.length > 0 || this.leases.size > 0 || this.settling.size > 0) return;
    if (Date.now() - this.lastPull < this.limits.idleCloseMs) return;
    this.logger.info('pull consumer idle; closed until the next pull', { pull: this.spec.path, handedBack: this.buffer.length });
    await this.closeSubscription();
  }

  private closeSubscription(): Promise<void> {
    const subscription = this.subscription;
    if (subscription === undefined) return this.closing ?? Promise.resolve();
    const pull = this.spec.path;
    this.subscription = undefined;
    // Buffered messages first: some plugins' close() waits for pending handlers.
    for (const held of this.buffer.splice(0)) this.handBack(held, 'the consumer closed');
    this.closing = subscription
      .close()
      .then(
        () => undefined,
        (error: unknown) => void this.logger.warn('closing a pull consumer failed', { pull, error: describeError(error) }),
      )
      .finally(() => (this.closing = undefined));
    return this.closing;
  }
}
