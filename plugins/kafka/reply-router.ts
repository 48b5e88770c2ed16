/**
 * Request-reply answers. Each daemon reads the whole reply topic in a consumer group of its own,
 * so daemons can share one reply topic: every instance sees every reply and keeps only the
 * correlation ids it is waiting for. Kafka has no "no responders" signal: a request nobody
 * answers ends in reply_timeout.
 */
import { BusgateError } from '../../core/errors.js';
import { pluginClosed } from '../../core/brokers/kit.js';
import type { InboundMessage, Reply } from '../../core/plugins/contract.js';
import type { GroupConsumer, GroupConsumerSpec } from './group-consumer.js';
import { HEADER_CORRELATION_ID, replyHeaders } from './messages.js';

interface Waiter {
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: BusgateError) => void;
}

export interface PendingReply {
  /** Settles with the reply, or rejects with reply_timeout; never left unhandled. */
  readonly reply: Promise<Reply>;
  /** The request could not be sent: stop waiting. */
  cancel(): void;
}

type StartConsumer = (spec: GroupConsumerSpec) => Promise<GroupConsumer>;

export class ReplyRouter {
  private readonly waiting = new Map<string, Waiter>();
  private consumer: GroupConsumer | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly topic: string,
    private readonly groupId: string,
    private readonly startConsumer: StartConsumer,
    private readonly onStopped: (error: Error) => void,
  ) {}

  get running(): boolean {
    return this.consumer !== undefined;
  }

  /** Idempotent; concurrent callers share one start. */
  start(): Promise<void> {
    if (this.consumer) return Promise.resolve();
    if (this.closed) return Promise.reject(pluginClosed('Kafka'));
    this.starting ??= this.startConsumer({
      topic: this.topic,
      groupId: this.groupId,
      startAt: 'end',
      uniqueGroup: true,
      onMessage: async (message) => this.deliver(message),
      onFatalCrash: (error) => {
        this.consumer = undefined;
        this.onStopped(error);
      },
    })
      .then(async (consumer) => {
        if (this.closed) {
          await consumer.close();
          throw pluginClosed('Kafka');
        }
        this.consumer = consumer;
      })
      .finally(() => {
        this.starting = undefined;
      });
    return this.starting;
  }

  /**
   * Register before producing the request: a fast responder may answer before the produce is
   * acknowledged. The correlation id must be unique and unguessable (not a client's
   * Idempotency-Key): on a shared reply topic every daemon reads every reply.
   */
  wait(correlationId: string, timeoutMs: number, signal: AbortSignal): PendingReply {
    let waiter!: Waiter;
    let timer: NodeJS.Timeout | undefined;
    const forget = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (this.waiting.get(correlationId) === waiter) this.waiting.delete(correlationId);
    };
    const timedOut = (): BusgateError =>
      new BusgateError(
        'reply_timeout',
        `Kafka: no reply within ${timeoutMs} ms (Kafka cannot tell whether anyone consumes the request topic; the responder may have acted)`,
      );
    const onAbort = (): void => {
      forget();
      waiter.reject(timedOut());
    };
    const reply = new Promise<Reply>((resolve, reject) => {
      waiter = {
        resolve: (value) => {
          forget();
          resolve(value);
        },
        reject: (error) => {
          forget();
          reject(error);
        },
      };
    });
    reply.catch(() => undefined);
    this.waiting.set(correlationId, waiter);
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => waiter.reject(timedOut()), timeoutMs);
    }
    return { reply, cancel: forget };
  }

  async close(): Promise<void> {
    this.closed = true;
    const failure = new BusgateError('shutting_down', 'Kafka plugin closed while the request waited for its reply');
    for (const waiter of [...this.waiting.values()]) waiter.reject(failure);
    await this.starting?.catch(() => undefined); // a start that finishes now closes its own consumer
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.close();
  }

  private deliver(message: InboundMessage): void {
    const correlationId = message.headers[HEADER_CORRELATION_ID];
    if (correlationId === undefined) return;
    const waiter = this.waiting.get(correlationId);
    if (!waiter) return; // another instance's reply, or one that came after its timeout
    waiter.resolve({
      payload: message.payload,
      headers: replyHeaders(message.headers),
      ...(message.contentType !== undefined ? { contentType: message.contentType } : {}),
    });
  }
}
