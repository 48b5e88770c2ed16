/**
 * The delivery scheduler of one subscription: the handler its broker subscription calls for each
 * message. The promise it returns is the broker acknowledgement, so it settles only when the
 * message is done: delivered (2xx) or stored in the dead letter. Until then the message is held
 * (retries wait inside the handler); when the subscription stops, messages not being POSTed right
 * now are handed back (the promise rejects) and the broker delivers them again later.
 *
 *   message -> key order (ordering: key) -> endpoint circuit -> slot (concurrency) -> POST
 *           -> 2xx: ack | permanent 4xx: dead letter, ack | else: wait, try again | exhausted: dead letter, ack
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'winston';
import type { CloudEventsBinding } from '../contracts/cloudevents.js';
import type { InboundMessage } from '../plugins/contract.js';
import { cloudEventDelivery, isAttributeHeader } from './cloudevent-delivery.js';
import { DeadLetterPublisher, type DeadLetterNote } from './dead-letter.js';
import { EndpointCircuit, Stopped, pause } from './endpoint-circuit.js';
import { KeyOrder, Slots } from './key-order.js';
import type { EgressMetrics } from './metrics.js';
import { resultClass } from './metrics.js';
import type { SubscriptionSpec } from './model.js';
import { isUnavailability, judge, outcomeLabel, retryDelay, type AttemptOutcome } from './retry-policy.js';
import type { WebhookSigner } from './signer.js';
import type { WebhookClient } from './webhook-client.js';

/** Message headers that describe transport, not content: never forwarded to the endpoint. */
const NOT_FORWARDED = new Set([
  'content-type',
  'content-length',
  'host',
  'connection',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'reply-to',
  'correlation-id',
  'authorization',
  'cookie',
]);
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

export interface DeliveryDeps {
  readonly spec: SubscriptionSpec;
  readonly client: Pick<WebhookClient, 'post' | 'displayUrl'>;
  readonly signer: WebhookSigner | undefined;
  readonly deadLetter: Pick<DeadLetterPublisher, 'store'>;
  readonly circuit: EndpointCircuit;
  readonly metrics: EgressMetrics;
  readonly logger: Logger;
  /** How the source broker carries CloudEvents attributes (for `deliver.cloudevents`). */
  readonly cloudEventsBinding: CloudEventsBinding;
}

export class DeliveryScheduler {
  private readonly order = new KeyOrder();
  private readonly slots: Slots;
  private readonly stopping = new AbortController();
  private held = 0;
  private readonly idle: (() => void)[] = [];

  constructor(private readonly deps: DeliveryDeps) {
    this.slots = new Slots(deps.spec.deliver.concurrency);
  }

  /** The subscription handler: resolves = acknowledge, rejects = hand back to the broker. */
  readonly handle = (message: InboundMessage): Promise<void> => {
    const { spec, metrics } = this.deps;
    const labels = { subscription: spec.name };
    if (this.stopping.signal.aborted) return Promise.reject(new Stopped());
    this.held += 1;
    metrics.held.inc(labels);
    const stopTimer = metrics.latency.startTimer(labels);
    const key = spec.deliver.ordering === 'key' ? message.key : undefined;
    return this.order
      .run(key, () => this.deliver(message))
      .then(
        (outcome) => {
          stopTimer();
          metrics.messages.inc(Object.assign({}, labels, { outcome }));
        },
        (error: unknown) => {
          metrics.messages.inc(Object.assign({}, labels, { outcome: 'handed_back' as const }));
          throw error;
        },
      )
      .finally(() => {
        this.held -= 1;
        metrics.held.dec(labels);
        if (this.held === 0) for (const wake of this.idle.splice(0)) wake();
      });
  };

  /** Messages taken and not settled. */
  get heldMessages(): number {
    return this.held;
  }

  /**
   * Stop: attempts already on the wire finish (and settle their message); every other held
   * message is handed back at once. Resolves when nothing is held any more.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.held > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private async deliver(message: InboundMessage): Promise<'delivered' | 'dead_lettered'> {
    const { spec, circuit, metrics, logger } = this.deps;
    const stop = this.stopping.signal;
    const id = messageIdOf(message);
    let burned = 0;
    let tries = 0;
    for (;;) {
      const probe = await circuit.enter(stop);
      tries += 1;
      const outcome = await this.slots.run(() => {
        // A message that waited for a slot while the subscription stopped goes back untried.
        if (stop.aborted) throw new Stopped();
        return this.attempt(message, id, tries);
      });
      const label = outcomeLabel(outcome);
      metrics.attempts.inc({ subscription: spec.name, result: resultClass(label) });
      const verdict = judge(outcome);
      if (verdict === 'delivered') {
        circuit.success(probe);
        return 'delivered';
      }
      if (verdict === 'permanent') {
        // The endpoint is up (it answered); it just will not take this message.
        circuit.success(probe);
        await this.toDeadLetter(id, message, { reason: 'rejected', attempts: tries, lastStatus: label });
        return 'dead_lettered';
      }
      // While the endpoint counts as down, failures spend no attempts: the outage is not the
      // message's fault. An answer such as 500 shows the endpoint is there: the message pays.
      let endpointDown = false;
      if (isUnavailability(outcome)) endpointDown = circuit.failure(probe);
      else circuit.success(probe);
      if (!endpointDown) burned += 1;
      if (burned >= spec.retry.attempts) {
        await this.toDeadLetter(id, message, { reason: 'exhausted', attempts: tries, lastStatus: label });
        return 'dead_lettered';
      }
      const waitMs = retryDelay(spec.retry, Math.max(burned, 1), outcome);
      logger.debug('delivery failed; retrying', { subscription: spec.name, id, attempt: tries, result: label, retryInMs: waitMs, endpointDown });
      metrics.retries.inc({ subscription: spec.name });
      await pause(waitMs, stop);
    }
  }

  private async attempt(message: InboundMessage, id: string, attempt: number): Promise<AttemptOutcome> {
    const { spec, client, signer } = this.deps;
    const timestamp = Math.floor(Date.now() / 1000);
    const mode = spec.deliver.cloudEvents;
    const event = mode === undefined ? undefined : cloudEventDelivery(mode, message, id, spec, this.deps.cloudEventsBinding);
    const body = event?.body ?? message.payload;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(message.headers)) {
      if (NOT_FORWARDED.has(name) || name.startsWith('webhook-') || name.startsWith('busgate-') || !HEADER_NAME.test(name) || /[\r\n\0]/.test(value)) continue;
      // The event's attributes travel as the event (ce-* headers or inside the body), never twice.
      if (event !== undefined && isAttributeHeader(name, this.deps.cloudEventsBinding)) continue;
      headers[name] = value;
    }
    Object.assign(headers, spec.deliver.headers, event?.headers ?? { 'content-type': message.contentType ?? 'application/octet-stream' }, {
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'busgate-attempt': String(attempt),
      'busgate-subscription': spec.name,
      'busgate-source': message.destination,
    });
    if (message.delivery?.position) headers['busgate-position'] = positionText(message.delivery.position);
    // The broker handed this message out before (to a daemon that died, or that handed it back).
    if (message.delivery?.redeliveries) headers['busgate-redeliveries'] = String(message.delivery.redeliveries);
    if (message.key !== undefined && !/[\r\n\0]/.test(message.key)) headers['busgate-key'] = message.key;
    // The signature covers the bytes sent: for a structured event, the event.
    if (signer) headers['webhook-signature'] = signer.sign(id, timestamp, body);
    return client.post(body, headers, spec.deliver.timeoutMs);
  }

  private async toDeadLetter(id: string, message: InboundMessage, note: DeadLetterNote): Promise<void> {
    const { spec, metrics, logger } = this.deps;
    await this.deps.deadLetter.store(id, message, note, this.stopping.signal);
    metrics.deadLetters.inc({ subscription: spec.name, reason: note.reason });
    logger.warn('message dead-lettered', { subscription: spec.name, id, deadLetter: spec.deadLetter, ...note });
  }
}

/**
 * The id endpoints dedupe on (webhook-id): the broker's or busgate's id for the message, the same
 * on every redelivery. A message from a producer that set none gets a digest of its content,
 * which is stable too (but two identical messages share it).
 */
export function messageIdOf(message: InboundMessage): string {
  const known = message.delivery?.messageId ?? message.headers['busgate-id'];
  if (known !== undefined && known !== '' && !/[\r\n\0]/.test(known)) return known;
  const digest = createHash('sha256')
    .update(message.destination)
    .update('\0')
    .update(message.key ?? '')
    .update('\0')
    .update(message.payload);
  for (const [name, value] of Object.entries(message.headers).sort(([a], [b]) => a.localeCompare(b))) digest.update(`\0${name}:${value}`);
  return `msg_${digest.digest('base64url').slice(0, 32)}`;
}

/** `partition=0;offset=42`, `stream=ORDERS;seq=7`: one header value. */
function positionText(position: Readonly<Record<string, string>>): string {
  return Object.entries(position)
    .map(([name, value]) => `${name}=${value}`)
    .join(';');
}
