/**
 * Publishing on one confirm channel with many confirms in flight. A publish settles only on the
 * broker's word: an ack (stored and routed), an ack preceded by a basic.return (unroutable), a
 * nack, or the channel closing first (outcome unknown).
 */
import type { ConfirmChannel, Message, Options } from 'amqplib';
import { BusgateError } from '../../core/errors.js';
import { abortReason, raceAbort, stopOn } from '../../core/brokers/kit.js';
import { errorText, missingExchange, missingExchangeIn, nothingSent, outcomeUnknown } from './errors.js';

export interface PublishRequest {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  /** Sent as-is, plus `mandatory: true`; `messageId` is what a basic.return is matched on. */
  readonly properties: Options.Publish & { readonly messageId: string };
  /** The error for a message the broker returned (no queue matched). */
  readonly whenReturned: (replyText: string) => BusgateError;
}

interface InFlight {
  readonly request: PublishRequest;
  returnedWith?: string;
  settled: boolean;
  settle(error?: BusgateError): void;
}

export class ConfirmPublisher {
  private readonly inFlight = new Set<InFlight>();
  private drained: Promise<void> | undefined;
  private releaseDrained: (() => void) | undefined;
  private closedBy: Error | undefined;
  private open = true;

  constructor(
    private readonly channel: ConfirmChannel,
    private readonly hooks: {
      /** Called once when the channel is gone (the owner opens a new one on the next send). */
      readonly onClosed: (publisher: ConfirmPublisher) => void;
      /** The broker said an exchange is missing: forget that it was ever seen. */
      readonly onMissingExchange: (exchange: string) => void;
      readonly onListenerError: (error: Error, event: string) => void;
    },
  ) {
    channel.on('error', (error: Error) => {
      // Kept to explain the close that follows; a channel error is never fatal to the process.
      this.closedBy = error;
    });
    channel.on('return', (message: Message) => this.markReturned(message));
    channel.on('drain', () => this.endBackPressure());
    channel.on('close', () => this.handleClose());
    channel.on('handler-error', (error: Error, event: string) => hooks.onListenerError(error, event));
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Resolves once the broker acknowledged a routed message; rejects with a BusgateError. */
  async publish(request: PublishRequest, signal: AbortSignal): Promise<void> {
    // publish() returning false means the socket buffer is full: wait for 'drain' rather than
    // piling more into memory.
    while (this.drained !== undefined) {
      await waitOrAbort(this.drained, signal);
      if (!this.open) throw nothingSent('the channel closed while waiting for the socket to drain');
    }
    if (!this.open) throw nothingSent('the publishing channel is closed');
    if (signal.aborted) {
      throw abortReason(signal, () => nothingSent('the request was cancelled before it was sent'));
    }

    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void =>
        entry.settle(abortReason(signal, () => new BusgateError('broker_timeout', 'RabbitMQ did not confirm in time; the outcome is unknown')));
      const entry: InFlight = {
        request,
        settled: false,
        settle: (error) => {
          if (entry.settled) return;
          entry.settled = true;
          signal.removeEventListener('abort', onAbort);
          if (error === undefined) resolve();
          else reject(error);
        },
      };

      let writable: boolean;
      this.inFlight.add(entry);
      try {
        // Object.assign, not `{ ...properties, mandatory }`: about 1 µs less per publish on node 20.
        const properties = Object.assign({}, request.properties, { mandatory: true });
        writable = this.channel.publish(request.exchange, request.routingKey, request.content, properties, (error: unknown) => this.confirmed(entry, error));
      } catch (error) {
        this.forget(entry);
        entry.settle(sendFailure(error));
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      if (!writable) this.beginBackPressure();
    });
  }

  async close(): Promise<void> {
    if (!this.open) return;
    try {
      await this.channel.close();
    } catch {
      // Already closing or the connection is gone: either way the channel is finished.
    }
  }

  private confirmed(entry: InFlight, error: unknown): void {
    this.forget(entry);
    if (error === null || error === undefined) {
      const returned = entry.returnedWith;
      entry.settle(returned === undefined ? undefined : entry.request.whenReturned(returned));
    } else if (errorText(error) === 'message nacked') {
      // A nack says a queue could not take the message right now: a queue whose leader died
      // and is being replaced (rabbitmq-server #1893, #4888), or a full one with overflow
      // reject-publish. Both pass, so it is a 503 to retry, not a refusal for good.
      entry.settle(
        new BusgateError(
          'broker_unavailable',
          'RabbitMQ did not take the message (negative acknowledgement: a queue it routes to is unavailable, e.g. electing a new leader, or full with overflow reject-publish); retry',
          { retryAfterSeconds: 1 },
        ),
      );
      // After a node died, this channel's queue clients may keep aiming at the dead leader; a
      // fresh channel (opened on the next send) looks the queue's current leader up again.
      void this.close();
    } else {
      // amqplib calls every outstanding callback with "channel closed" before emitting 'close'.
      entry.settle(this.closeFailureFor(entry.request));
    }
  }

  /** The broker sends basic.return before the ack of the same message; the ack settles it. */
  private markReturned(message: Message): void {
    const id: unknown = message.properties.messageId;
    for (const entry of this.inFlight) {
      const { request } = entry;
      if (
        entry.returnedWith === undefined &&
        request.properties.messageId === id &&
        request.exchange === message.fields.exchange &&
        request.routingKey === message.fields.routingKey
      ) {
        const replyText: unknown = (message.fields as { replyText?: unknown }).replyText;
        entry.returnedWith = typeof replyText === 'string' ? replyText : 'NO_ROUTE';
        return;
      }
    }
  }

  private closeFailureFor(request: PublishRequest): BusgateError {
    const missing = missingExchangeIn(this.closedBy);
    if (missing !== undefined && missing === request.exchange) return missingExchange(missing);
    const why = this.closedBy === undefined ? 'connection lost' : `closed the channel (${this.closedBy.message})`;
    return outcomeUnknown(why);
  }

  private handleClose(): void {
    if (!this.open) return;
    this.open = false;
    const missing = missingExchangeIn(this.closedBy);
    if (missing !== undefined) this.hooks.onMissingExchange(missing);
    for (const entry of [...this.inFlight]) {
      this.forget(entry);
      entry.settle(this.closeFailureFor(entry.request));
    }
    this.endBackPressure();
    this.hooks.onClosed(this);
  }

  private forget(entry: InFlight): void {
    this.inFlight.delete(entry);
  }

  private beginBackPressure(): void {
    if (this.drained !== undefined) return;
    this.drained = new Promise<void>((resolve) => {
      this.releaseDrained = resolve;
    });
  }

  private endBackPressure(): void {
    const release = this.releaseDrained;
    this.drained = undefined;
    this.releaseDrained = undefined;
    release?.();
  }
}

function sendFailure(error: unknown): BusgateError {
  // amqplib >= 2.3.1 refuses an encoded header table over 64 KiB before writing anything.
  if (error instanceof RangeError) {
    return new BusgateError('bad_request', `the message cannot be encoded for AMQP: ${error.message}`);
  }
  // amqplib's argument checks (a short string over 255 bytes...) also throw before writing. The
  // plugin's limits (limits.ts) refuse these first; should one slip through, it is still the
  // request's fault, never a broker failure for the circuit breaker.
  if (error instanceof TypeError) {
    return new BusgateError('exceeds_broker_limit', `the message cannot be encoded for AMQP: ${error.message}; nothing was sent`);
  }
  return nothingSent(`the channel refused the publish: ${errorText(error)}`, error);
}

function waitOrAbort(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  return raceAbort(
    promise,
    stopOn(signal, () => nothingSent('timed out waiting for the socket to drain')),
  );
}
