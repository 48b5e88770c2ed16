/**
 * One running subscription: its broker consumer, its webhook client and its delivery scheduler.
 * It subscribes in the background and keeps trying (with backoff) while the broker is down, so a
 * subscription never keeps the daemon from starting or reloading.
 */
import type { Logger } from 'winston';
import { backoffDelay } from '../backoff.js';
import { describeError } from '../errors.js';
import type { CircuitState } from '../brokers/circuit-breaker.js';
import type { Subscription } from '../plugins/contract.js';
import type { BrokerInstance } from '../brokers/instance.js';
import { DeadLetterPublisher } from './dead-letter.js';
import { DeliveryScheduler } from './delivery.js';
import { EndpointCircuit } from './endpoint-circuit.js';
import { CIRCUIT_VALUES, type EgressMetrics } from './metrics.js';
import type { SubscriptionSpec } from './model.js';
import { WebhookSigner } from './signer.js';
import { WebhookClient } from './webhook-client.js';

/** With ordering: key, messages queued behind a busy key need room beyond the POSTs in flight. */
const KEYED_HOLD_FACTOR = 4;
const BACKLOG_WAIT_MS = 1000;

export interface SubscriptionStatus {
  readonly broker: string;
  readonly source: string;
  /** Consuming from the broker. */
  readonly up: boolean;
  /** The endpoint circuit: open = consumption paused until a probe succeeds. */
  readonly endpoint: CircuitState;
  readonly held: number;
  readonly detail?: string;
}

export class SubscriptionWorker {
  private subscription: Subscription | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastError: string | undefined;
  private readonly client: WebhookClient;
  private readonly circuit: EndpointCircuit;
  private readonly scheduler: DeliveryScheduler;

  constructor(
    readonly spec: SubscriptionSpec,
    private readonly broker: BrokerInstance,
    private readonly metrics: EgressMetrics,
    private readonly logger: Logger,
    env: Readonly<Record<string, string | undefined>>,
  ) {
    const labels = { subscription: spec.name };
    this.client = new WebhookClient(spec.deliver.url, spec.deliver.concurrency);
    this.circuit = new EndpointCircuit(spec.circuit, (state) => {
      metrics.circuit.set(labels, CIRCUIT_VALUES[state]);
      const log = state === 'closed' ? logger.info.bind(logger) : logger.warn.bind(logger);
      log(state === 'open' ? 'endpoint down; consumption paused until a probe succeeds' : `endpoint circuit ${state}`, {
        subscription: spec.name,
        url: this.client.displayUrl,
      });
    });
    const secret = spec.signingSecretEnv === undefined ? undefined : env[spec.signingSecretEnv];
    this.scheduler = new DeliveryScheduler({
      spec,
      client: this.client,
      signer: secret === undefined ? undefined : new WebhookSigner(secret),
      deadLetter: new DeadLetterPublisher(broker, spec.deadLetter, spec.deadLetterOptions, spec.name, spec.deliver.timeoutMs, logger),
      circuit: this.circuit,
      metrics,
      logger,
    });
    metrics.circuit.set(labels, 0);
    metrics.held.set(labels, 0);
    metrics.running.set(labels, 0);
  }

  start(): void {
    void this.subscribe(0);
  }

  status(): SubscriptionStatus {
    return {
      broker: this.spec.broker,
      source: this.spec.source,
      up: this.subscription !== undefined,
      endpoint: this.circuit.state,
      held: this.scheduler.heldMessages,
      ...(this.subscription === undefined && this.lastError !== undefined ? { detail: `subscribing: ${this.lastError}` } : {}),
    };
  }

  /** Messages waiting in the broker for this subscription; undefined when unknown or not consuming. */
  async backlog(): Promise<number | undefined> {
    const subscription = this.subscription;
    if (subscription?.backlog === undefined) return undefined;
    // A scrape must not hang on a broker that does not answer.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), BACKLOG_WAIT_MS)));
    try {
      return await Promise.race([subscription.backlog(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops taking messages; POSTs on the wire finish and settle their message, every other held
   * message goes back to the broker unacknowledged.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const subscription = this.subscription;
    this.subscription = undefined;
    // Both at once: some plugins' close() waits for pending handlers, which stop() settles.
    await Promise.all([
      this.scheduler.stop(),
      subscription
        ?.close()
        .catch((error: unknown) => this.logger.warn('closing a subscription failed', { subscription: this.spec.name, error: describeError(error) })),
    ]);
    await this.client.close();
    this.metrics.forget(this.spec.name);
  }

  private async subscribe(attempt: number): Promise<void> {
    if (this.stopped) return;
    const { spec } = this;
    try {
      const subscription = await this.broker.subscribe(
        spec.source,
        {
          mode: spec.mode,
          options: spec.options,
          group: spec.group,
          maxInFlight: spec.deliver.ordering === 'key' ? spec.deliver.concurrency * KEYED_HOLD_FACTOR : spec.deliver.concurrency,
        },
        this.scheduler.handle,
      );
      if (this.stopped) {
        await subscription.close();
        return;
      }
      this.subscription = subscription;
      this.lastError = undefined;
      this.metrics.running.set({ subscription: spec.name }, 1);
      this.logger.info('subscription consuming', {
        subscription: spec.name,
        broker: spec.broker,
        source: spec.source,
        group: spec.group,
        url: this.client.displayUrl,
      });
    } catch (error) {
      this.lastError = describeError(error);
      const delay = backoffDelay(attempt, 500, 15_000);
      this.logger.warn('subscription could not start; retrying', { subscription: spec.name, broker: spec.broker, retryInMs: delay, error: this.lastError });
      this.retryTimer = setTimeout(() => void this.subscribe(attempt + 1), delay);
      this.retryTimer.unref();
    }
  }
}
