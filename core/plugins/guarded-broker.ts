/**
 * The core's wrapper around one broker instance. Everything every plugin needs lives here once:
 * the first connection with exponential backoff and jitter, fail-fast while the broker is down,
 * a bound on requests in flight, the deadline on every call, metrics and log labels.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'winston';
import { backoffDelay } from '../backoff.js';
import { CircuitBreaker, type CircuitOptions } from './circuit-breaker.js';
import { BusgateError, describeError, isBusgateError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { BrokerHealth, BrokerPlugin, InboundMessage, Mode, OutboundMessage, PluginFactory, Receipt, Reply, SubscribeOptions, Subscription } from './contract.js';

export interface SendRequest {
  readonly mode: Mode;
  readonly destination: string;
  readonly message: OutboundMessage;
  readonly timeoutMs: number;
  readonly options: Readonly<Record<string, unknown>>;
}

export type SendResult = { readonly kind: 'receipt'; readonly receipt: Receipt } | { readonly kind: 'reply'; readonly reply: Reply };

export interface GuardedBrokerOptions {
  readonly maxInFlight: number;
  readonly circuit?: CircuitOptions;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export class GuardedBroker {
  private connected = false;
  private closing = false;
  private inFlight = 0;
  private lastError: string | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly lifetime = new AbortController();
  private readonly inFlightGauge;
  private readonly circuit: CircuitBreaker;

  constructor(
    readonly name: string,
    readonly factory: PluginFactory<never>,
    readonly plugin: BrokerPlugin,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly options: GuardedBrokerOptions,
  ) {
    // Every request in flight listens for shutdown on this one signal.
    setMaxListeners(0, this.lifetime.signal);
    this.inFlightGauge = metrics.inFlight.labels({ broker: name });
    this.inFlightGauge.set(0);
    this.circuit = new CircuitBreaker(options.circuit ?? { threshold: 5, initialCooldownMs: 1000, maxCooldownMs: 30_000 });
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
    return this.inFlight;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  health(): BrokerHealth {
    if (!this.connected) return { up: false, detail: this.lastError ? `connecting: ${this.lastError}` : 'connecting' };
    const health = this.plugin.health();
    if (health.up && this.circuit.state === 'open') return { up: false, detail: 'circuit open after repeated broker failures' };
    return health;
  }

  async send(request: SendRequest): Promise<SendResult> {
    if (this.closing) throw new BusgateError('shutting_down', 'the daemon is shutting down');
    if (!this.connected || !this.plugin.health().up) {
      throw new BusgateError('broker_unavailable', `broker "${this.name}" is not connected`, { retryAfterSeconds: 1 });
    }
    if (this.inFlight >= this.options.maxInFlight) {
      throw new BusgateError('overloaded', `broker "${this.name}" has ${this.inFlight} requests in flight`, { retryAfterSeconds: 1 });
    }
    const admission = this.circuit.admit();
    if (!admission.admitted) {
      this.metrics.messages.inc({ broker: this.name, mode: request.mode, outcome: 'broker_unavailable' });
      throw new BusgateError('broker_unavailable', `broker "${this.name}" failed repeatedly; the next try is allowed in ${admission.retryAfterSeconds} s`, {
        retryAfterSeconds: admission.retryAfterSeconds,
      });
    }
    this.inFlight += 1;
    this.inFlightGauge.inc();
    const stopTimer = this.metrics.brokerDuration.startTimer({ broker: this.name, mode: request.mode });
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), request.timeoutMs);
    const onShutdown = (): void => deadline.abort();
    this.lifetime.signal.addEventListener('abort', onShutdown, { once: true });
    try {
      const result = await Promise.race([this.call(request, deadline.signal), rejectOnAbort(deadline.signal, request)]);
      this.metrics.messages.inc({ broker: this.name, mode: request.mode, outcome: 'ok' });
      this.circuit.recordSuccess(admission.trial);
      return result;
    } catch (error) {
      const mapped = this.mapError(error);
      if (mapped.code === 'broker_unavailable' || mapped.code === 'broker_timeout') this.circuit.recordFailure(admission.trial);
      else this.circuit.recordNeutral(admission.trial);
      this.metrics.messages.inc({ broker: this.name, mode: request.mode, outcome: mapped.code });
      throw mapped;
    } finally {
      clearTimeout(timer);
      this.lifetime.signal.removeEventListener('abort', onShutdown);
      stopTimer();
      this.inFlight -= 1;
      this.inFlightGauge.dec();
    }
  }

  /** Egress: consume through the plugin; fails at once (broker_unavailable) while not connected. */
  async subscribe(destination: string, options: SubscribeOptions, onMessage: (message: InboundMessage) => Promise<void>): Promise<Subscription> {
    if (this.closing) throw new BusgateError('shutting_down', 'the daemon is shutting down');
    if (!this.connected || !this.plugin.health().up) {
      throw new BusgateError('broker_unavailable', `broker "${this.name}" is not connected`, { retryAfterSeconds: 1 });
    }
    try {
      return await this.plugin.subscribe(destination, options, onMessage);
    } catch (error) {
      throw this.mapError(error);
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.retryTimer);
    this.lifetime.abort();
    try {
      await this.plugin.close();
    } catch (error) {
      this.logger.warn('broker close failed', { broker: this.name, error: describeError(error) });
    }
    this.connected = false;
  }

  private async call(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    const context = { signal, timeoutMs: request.timeoutMs, options: request.options };
    switch (request.mode) {
      case 'pubsub':
        return { kind: 'receipt', receipt: await this.plugin.publish(request.destination, request.message, context) };
      case 'point-to-point':
        return { kind: 'receipt', receipt: await this.plugin.enqueue(request.destination, request.message, context) };
      case 'request-reply':
        return { kind: 'reply', reply: await this.plugin.request(request.destination, request.message, context) };
    }
  }

  private mapError(error: unknown): BusgateError {
    if (isBusgateError(error)) {
      if ((error.code === 'broker_unavailable' || error.code === 'overloaded') && error.retryAfterSeconds === undefined) {
        return new BusgateError(error.code, error.message, { cause: error, retryAfterSeconds: 1 });
      }
      return error;
    }
    // A plugin should only throw BusgateErrors; anything else is a bug worth a log line.
    this.logger.error('plugin threw an unmapped error', { broker: this.name, error: describeError(error) });
    return new BusgateError('internal_error', `broker "${this.name}" failed unexpectedly`, { cause: error });
  }

  private async connectWithRetry(attempt: number): Promise<void> {
    if (this.closing) return;
    try {
      await this.plugin.connect(this.lifetime.signal);
      if (this.closing) return;
      this.connected = true;
      this.lastError = undefined;
      this.logger.info('broker connected', { broker: this.name, plugin: this.factory.name, attempt });
    } catch (error) {
      if (this.closing) return;
      this.lastError = describeError(error);
      const delay = backoffDelay(attempt, this.options.initialBackoffMs ?? 250, this.options.maxBackoffMs ?? 15_000);
      this.logger.warn('broker not reachable; retrying', { broker: this.name, attempt, retryInMs: delay, error: this.lastError });
      this.retryTimer = setTimeout(() => void this.connectWithRetry(attempt + 1), delay);
      this.retryTimer.unref();
    }
  }
}

function rejectOnAbort(signal: AbortSignal, request: SendRequest): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener(
      'abort',
      () =>
        reject(
          request.mode === 'request-reply'
            ? new BusgateError('reply_timeout', `no reply on "${request.destination}" within ${request.timeoutMs} ms`)
            : new BusgateError('broker_timeout', `the broker did not acknowledge within ${request.timeoutMs} ms; the message may have been stored`),
        ),
      { once: true },
    );
  });
}
