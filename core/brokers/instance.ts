/**
 * BrokerInstance: the one door from the core to a configured broker. Ingress sends, egress
 * subscriptions, the tap, `check --live` and /ready all go through it; the plugin object and its
 * factory are private to it, so nothing can skip what every plugin needs and lives here once:
 * the first connection with exponential backoff and jitter, fail-fast while the broker is down,
 * a bound on requests in flight, the deadline (one race, aborted with a typed reason), the circuit
 * breaker (fed by broker failures only), metrics and log labels, and the broker's declared rules
 * for destinations and keys.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type { Logger } from 'winston';
import { backoffDelay } from '../backoff.js';
import { BusgateError, asBusgateError, describeError, isBusgateError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import { isDefaultSafeToken } from '../routes/template.js';
import type {
  HistoryCapability,
  BrokerHealth,
  BrokerPlugin,
  InboundMessage,
  Mode,
  OutboundMessage,
  PluginFactory,
  ContractDeclarations,
  EgressCapabilities,
  PreflightResult,
  Receipt,
  Reply,
  RouteTarget,
  SubscribeOptions,
  Subscription,
} from '../plugins/contract.js';
import { CircuitBreaker, type CircuitOptions } from './circuit-breaker.js';
import { DeadlineSlots } from './deadlines.js';
import { deadlineError } from './kit.js';

export interface SendRequest {
  readonly mode: Mode;
  readonly destination: string;
  readonly message: OutboundMessage;
  readonly timeoutMs: number;
  readonly options: Readonly<Record<string, unknown>>;
}

export type SendResult = { readonly kind: 'receipt'; readonly receipt: Receipt } | { readonly kind: 'reply'; readonly reply: Reply };

export interface BrokerInstanceOptions {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly maxInFlight: number;
  /** This replica's stable identity for the plugin (PluginContext.instanceId); default: the host name. */
  readonly instanceId?: string;
  readonly circuit?: CircuitOptions;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** The routes' targets on this broker, handed to the plugin's prepare() before it counts as connected. */
  readonly targets?: readonly RouteTarget[];
}

/**
 * The payload as a Buffer of its own when it is a small view into a larger buffer. Broker clients
 * hand payloads out as views into the buffer a whole read arrived in (kafkajs: the fetch response,
 * 76-128 KB under load; amqplib: the 64 KB socket chunk), and a view keeps all of that alive:
 * while the answer is written, and in the idempotency store for its whole TTL, where it counts as
 * the view's length, not as what it pins.
 */
export function ownedBytes(payload: Buffer): Buffer {
  // A view that is most of its buffer pins little: not worth a copy (a large reply would cost one).
  if (payload.buffer.byteLength <= 2 * payload.byteLength) return payload;
  // allocUnsafeSlow: not a slice of node's shared 8 KB pool, which would pin that pool instead.
  const owned = Buffer.allocUnsafeSlow(payload.byteLength);
  payload.copy(owned);
  return owned;
}

/** Keys (Kafka partition key, AMQP routing key) are free text, but one printable line. */
function isDefaultSafeKey(value: string): boolean {
  return value.length <= 256 && !/[\u0000-\u001f\u007f]/.test(value);
}

/** The metric children one mode's successful sends update. */
interface ModeMetrics {
  readonly ok: { inc(): void };
  readonly duration: { observe(seconds: number): void };
}

export class BrokerInstance {
  readonly #factory: PluginFactory<never>;
  readonly #plugin: BrokerPlugin;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #options: BrokerInstanceOptions;
  readonly #lifetime = new AbortController();
  readonly #deadlines = new DeadlineSlots(this.#lifetime.signal);
  readonly #circuit: CircuitBreaker;
  readonly #inFlightGauge;
  readonly #perMode = new Map<Mode, ModeMetrics>();
  readonly #subscriptions = new Set<Subscription>();
  #connected = false;
  #closing = false;
  #inFlight = 0;
  #lastError: string | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #targets: readonly RouteTarget[] | undefined;

  /** Creates the plugin from its factory; the plugin object never leaves this instance. */
  constructor(
    readonly name: string,
    factory: PluginFactory<never>,
    pluginOptions: Readonly<Record<string, unknown>>,
    options: BrokerInstanceOptions,
  ) {
    this.#factory = factory;
    this.#logger = options.logger.child({ broker: name });
    this.#plugin = factory.create(pluginOptions as never, { name, instanceId: options.instanceId ?? hostname(), logger: this.#logger });
    this.#metrics = options.metrics;
    this.#options = options;
    // Every request in flight listens for shutdown on this one signal.
    setMaxListeners(0, this.#lifetime.signal);
    this.#inFlightGauge = options.metrics.inFlight.labels({ broker: name });
    this.#inFlightGauge.set(0);
    this.#circuit = new CircuitBreaker(options.circuit ?? { threshold: 5, initialCooldownMs: 1000, maxCooldownMs: 30_000 });
    this.#targets = options.targets;
  }

  /**
   * New routes (a reload): the plugin prepares their targets before they are served. While not
   * connected yet, they are kept for the connect. Rejects when the plugin cannot prepare them.
   */
  async retarget(targets: readonly RouteTarget[]): Promise<void> {
    if (this.#connected) await this.#plugin.prepare?.(targets, this.#lifetime.signal);
    this.#targets = targets;
  }

  /** The plugin's name (`nats`, a path or a package), for logs and the console. */
  get pluginName(): string {
    return this.#factory.name;
  }

  /** What the contract features read: CloudEvents binding, receipt schema, AsyncAPI bindings. */
  get contracts(): ContractDeclarations {
    return this.#factory;
  }

  /** What the plugin declares for egress; undefined: it cannot be a subscription's source. */
  get egress(): EgressCapabilities | undefined {
    return this.#factory.egress;
  }

  /** Whether and how the broker keeps history to resume from (streams), as its plugin declares. */
  get history(): HistoryCapability | undefined {
    return this.#factory.egress?.history;
  }

  /** What this broker can do, as its plugin declares. */
  get modes(): readonly Mode[] {
    return this.#factory.modes;
  }

  can(mode: Mode): boolean {
    return this.#factory.modes.includes(mode);
  }

  /** Whether one value rendered into a destination or key is a single safe token on this broker. */
  tokenRule(field: 'destination' | 'key'): (value: string) => boolean {
    const declared = this.#factory.isSafeToken;
    if (declared) return (value) => declared.call(this.#factory, value, field);
    return field === 'destination' ? isDefaultSafeToken : isDefaultSafeKey;
  }

  /** Why a whole destination cannot be used on this broker (charset, length), or undefined. */
  destinationProblem(destination: string): string | undefined {
    return this.#factory.checkDestination?.(destination);
  }

  /**
   * Starts connecting and resolves after the first attempt, successful or not, or after
   * `waitMs`: a broker that is down at start-up must not keep the daemon from serving the others.
   */
  async start(waitMs: number): Promise<void> {
    const firstAttempt = this.connectWithRetry(0);
    await Promise.race([firstAttempt, new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
  }

  /** Requests waiting on this broker now. */
  get pending(): number {
    return this.#inFlight;
  }

  get isConnected(): boolean {
    return this.#connected;
  }

  /** Aborted when the instance closes: long-lived work (subscriptions, streams) ends with it. */
  get lifetime(): AbortSignal {
    return this.#lifetime.signal;
  }

  health(): BrokerHealth {
    if (!this.#connected) return { up: false, detail: this.#lastError ? `connecting: ${this.#lastError}` : 'connecting' };
    const health = this.#plugin.health();
    if (health.up && this.#circuit.state === 'open') return { up: false, detail: 'circuit open after repeated broker failures' };
    return health;
  }

  async send(request: SendRequest): Promise<SendResult> {
    if (this.#closing) throw new BusgateError('shutting_down', 'the daemon is shutting down');
    if (!this.#connected || !this.#plugin.health().up) {
      throw new BusgateError('broker_unavailable', `broker "${this.name}" is not connected`, { retryAfterSeconds: 1 });
    }
    if (this.#inFlight >= this.#options.maxInFlight) {
      throw new BusgateError('overloaded', `broker "${this.name}" has ${this.#inFlight} requests in flight`, { retryAfterSeconds: 1 });
    }
    const admission = this.#circuit.admit();
    if (!admission.admitted) {
      this.#metrics.messages.inc({ broker: this.name, mode: request.mode, outcome: 'broker_unavailable' });
      throw new BusgateError('broker_unavailable', `broker "${this.name}" failed repeatedly; the next try is allowed in ${admission.retryAfterSeconds} s`, {
        retryAfterSeconds: admission.retryAfterSeconds,
      });
    }
    this.#inFlight += 1;
    this.#inFlightGauge.inc();
    const counted = this.#modeMetrics(request.mode);
    const started = performance.now();
    // The one deadline race: the send's own expiry rejects with the error the client gets; the
    // plugin's signal (shared with the sends ending in the same slot) is aborted right after it.
    // One promise settled by whichever comes first (cheaper per request than Promise.race).
    let expire!: (error: BusgateError) => void;
    const deadline = this.#deadlines.enter(request.mode === 'request-reply' ? 'reply' : 'ack', request.timeoutMs, () =>
      expire(deadlineError(request.mode, request.destination, request.timeoutMs)),
    );
    try {
      const result = await new Promise<SendResult>((resolve, reject) => {
        expire = reject;
        this.call(request, deadline.signal).then(resolve, reject);
      });
      counted.ok.inc();
      this.#circuit.recordSuccess(admission.trial);
      return result;
    } catch (error) {
      const mapped = this.mapError(error);
      if (mapped.code === 'broker_unavailable' || mapped.code === 'broker_timeout') this.#circuit.recordFailure(admission.trial);
      else this.#circuit.recordNeutral(admission.trial);
      this.#metrics.messages.inc({ broker: this.name, mode: request.mode, outcome: mapped.code });
      throw mapped;
    } finally {
      deadline.leave();
      counted.duration.observe((performance.now() - started) / 1000);
      this.#inFlight -= 1;
      this.#inFlightGauge.dec();
    }
  }

  /**
   * The per-mode children of the send metrics, looked up once: spares a label object per call and
   * startTimer's closures per send (prom-client still hashes the labels inside each call).
   */
  #modeMetrics(mode: Mode): ModeMetrics {
    let found = this.#perMode.get(mode);
    if (found === undefined) {
      found = {
        ok: this.#metrics.messages.labels({ broker: this.name, mode, outcome: 'ok' }),
        duration: this.#metrics.brokerDuration.labels({ broker: this.name, mode }),
      };
      this.#perMode.set(mode, found);
    }
    return found;
  }

  /**
   * Consume a destination. The handler's promise settling is the acknowledgement (resolve: ack;
   * reject: hand back for redelivery where the broker can). Refused while the broker has never
   * connected or the instance is closing; closed with the instance. Counted in
   * busgate_consumed_messages_total.
   */
  async subscribe(destination: string, options: SubscribeOptions, onMessage: (message: InboundMessage) => Promise<void>): Promise<Subscription> {
    this.assertOpenForConsumers();
    const consumed = this.#metrics.consumed;
    const labels = { broker: this.name, mode: options.mode };
    const counted = async (message: InboundMessage): Promise<void> => {
      try {
        await onMessage(message);
      } catch (error) {
        consumed.inc(Object.assign({}, labels, { outcome: 'handed_back' as const }));
        throw error;
      }
      consumed.inc(Object.assign({}, labels, { outcome: 'ok' as const }));
    };
    try {
      return this.track(await this.#plugin.subscribe(destination, options, counted));
    } catch (error) {
      throw this.mapError(error);
    }
  }

  /** Answer request-reply traffic on a destination (tests, demos, the examples' responders). */
  async respond(destination: string, onRequest: (message: InboundMessage) => Promise<Reply>): Promise<Subscription> {
    this.assertOpenForConsumers();
    try {
      return this.track(await this.#plugin.respond(destination, onRequest));
    } catch (error) {
      throw this.mapError(error);
    }
  }

  /**
   * For `busgate check --live`: can a route of this mode reach this destination now? Read-only.
   * Never throws: a failure is a line that says why.
   */
  async preflight(mode: Mode, destination: string, options: Readonly<Record<string, unknown>>): Promise<PreflightResult> {
    if (!this.#connected) return { ok: false, detail: `broker not reachable: ${this.health().detail ?? ''}` };
    if (!this.#plugin.preflight) return { ok: true, detail: 'connected (the plugin has no destination check)' };
    try {
      return await this.#plugin.preflight(mode, destination, options);
    } catch (error) {
      return { ok: false, detail: describeError(error) };
    }
  }

  /** Idempotent: stops subscriptions, aborts what waits, closes the plugin. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearTimeout(this.#retryTimer);
    this.#lifetime.abort(new BusgateError('shutting_down', `broker "${this.name}" is closing`));
    await Promise.allSettled([...this.#subscriptions].map((subscription) => subscription.close()));
    try {
      await this.#plugin.close();
    } catch (error) {
      this.#logger.warn('broker close failed', { broker: this.name, error: describeError(error) });
    }
    this.#connected = false;
  }

  private assertOpenForConsumers(): void {
    if (this.#closing) throw new BusgateError('shutting_down', `broker "${this.name}" is closing`);
    if (!this.#connected) throw new BusgateError('broker_unavailable', `broker "${this.name}" is not connected`, { retryAfterSeconds: 1 });
  }

  private track(subscription: Subscription): Subscription {
    const gauge = this.#metrics.subscriptions.labels({ broker: this.name });
    let closed: Promise<void> | undefined;
    const tracked: Subscription = {
      close: () => {
        closed ??= subscription.close().finally(() => {
          this.#subscriptions.delete(tracked);
          gauge.dec();
        });
        return closed;
      },
      ...(subscription.backlog ? { backlog: () => subscription.backlog!() } : {}),
      ...(subscription.start !== undefined ? { start: subscription.start } : {}),
      ...(subscription.gap ? { gap: true } : {}),
    };
    this.#subscriptions.add(tracked);
    gauge.inc();
    return tracked;
  }

  private async call(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    const context = { signal, timeoutMs: request.timeoutMs, options: request.options };
    switch (request.mode) {
      case 'pubsub':
        return { kind: 'receipt', receipt: await this.#plugin.publish(request.destination, request.message, context) };
      case 'point-to-point':
        return { kind: 'receipt', receipt: await this.#plugin.enqueue(request.destination, request.message, context) };
      case 'request-reply': {
        const reply = await this.#plugin.request(request.destination, request.message, context);
        // Object.assign: a spread followed by a field costs about 1 µs more on node 20.
        return { kind: 'reply', reply: Object.assign({}, reply, { payload: ownedBytes(reply.payload) }) };
      }
    }
  }

  private mapError(error: unknown): BusgateError {
    if (isBusgateError(error)) {
      // A plugin with its own copy of busgate throws that copy's class: re-made with this registry.
      const known = asBusgateError(error);
      if ((known.code === 'broker_unavailable' || known.code === 'overloaded') && known.retryAfterSeconds === undefined) {
        return new BusgateError(known.code, known.message, { cause: known, retryAfterSeconds: 1 });
      }
      return known;
    }
    // A plugin should only throw BusgateErrors; anything else is a bug worth a log line.
    this.#logger.error('plugin threw an unmapped error', { broker: this.name, error: describeError(error) });
    return new BusgateError('internal_error', `broker "${this.name}" failed unexpectedly`, { cause: error });
  }

  private async connectWithRetry(attempt: number): Promise<void> {
    if (this.#closing) return;
    try {
      await this.#plugin.connect(this.#lifetime.signal);
      // Topology first: the broker counts as connected (and its routes are served) only after.
      if (this.#targets !== undefined) await this.#plugin.prepare?.(this.#targets, this.#lifetime.signal);
      if (this.#closing) return;
      this.#connected = true;
      this.#lastError = undefined;
      this.#logger.info('broker connected', { broker: this.name, plugin: this.#factory.name, attempt });
    } catch (error) {
      if (this.#closing) return;
      this.#lastError = describeError(error);
      const delay = backoffDelay(attempt, this.#options.initialBackoffMs ?? 250, this.#options.maxBackoffMs ?? 15_000);
      this.#logger.warn('broker not reachable; retrying', { broker: this.name, attempt, retryInMs: delay, error: this.#lastError });
      this.#retryTimer = setTimeout(() => void this.connectWithRetry(attempt + 1), delay);
      this.#retryTimer.unref();
    }
  }
}
