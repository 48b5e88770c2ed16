/**
 * Request-reply over RabbitMQ's direct reply-to: requests carry `replyTo: amq.rabbitmq.reply-to`
 * and `correlationId`; replies come back on the pseudo-queue consumed (noAck) on the very channel
 * the requests were published on, which the broker requires. No reply queue is declared, so
 * nothing is left behind when a daemon instance goes away.
 */
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { BusgateError } from '../../core/errors.js';
import type { OutboundMessage, Reply, SendContext } from '../../core/plugins/contract.js';
import { ConfirmPublisher } from './confirm-publisher.js';
import { abortReason } from '../../core/brokers/kit.js';
import { errorText } from './errors.js';
import { toReply } from './messages.js';

const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';

interface Waiter {
  readonly correlationId: string;
  settled: boolean;
  settle(outcome: { reply: Reply } | { error: BusgateError }): void;
}

export interface RpcHooks {
  readonly onClosed: (client: RpcClient) => void;
  readonly onListenerError: (error: Error, event: string) => void;
  readonly onStrayReply: (correlationId: string) => void;
}

export class RpcClient {
  // Keyed by correlation id; a list because two requests may share an Idempotency-Key.
  private readonly waiters = new Map<string, Waiter[]>();
  private open = true;

  private constructor(
    private readonly publisher: ConfirmPublisher,
    private readonly hooks: RpcHooks,
  ) {}

  static async open(model: ChannelModel, hooks: RpcHooks): Promise<RpcClient> {
    const channel = await model.createConfirmChannel();
    let client: RpcClient | undefined;
    const publisher = new ConfirmPublisher(channel, {
      onClosed: () => client?.handleClose(),
      onMissingExchange: () => undefined,
      onListenerError: hooks.onListenerError,
    });
    client = new RpcClient(publisher, hooks);
    const created = client;
    try {
      await channel.consume(DIRECT_REPLY_TO, (message) => created.handleReply(message), { noAck: true });
    } catch (error) {
      await publisher.close();
      throw error;
    }
    return client;
  }

  get isOpen(): boolean {
    return this.open && this.publisher.isOpen;
  }

  request(queue: string, message: OutboundMessage, context: SendContext): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const { signal, timeoutMs } = context;
      const onAbort = (): void => waiter.settle({ error: abortReason(signal, () => replyTimeout(queue, timeoutMs)) });
      const timer = setTimeout(() => waiter.settle({ error: replyTimeout(queue, timeoutMs) }), timeoutMs);
      const waiter: Waiter = {
        correlationId: message.id,
        settled: false,
        settle: (outcome) => {
          if (waiter.settled) return;
          waiter.settled = true;
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          this.removeWaiter(waiter);
          if ('reply' in outcome) resolve(outcome.reply);
          else reject(outcome.error);
        },
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.addWaiter(waiter);

      this.publisher
        .publish(
          {
            exchange: '',
            routingKey: queue,
            content: message.payload,
            properties: {
              messageId: message.id,
              correlationId: message.id,
              replyTo: DIRECT_REPLY_TO,
              contentType: message.contentType,
              headers: { ...message.headers },
              // A request nobody answered in time is worthless: let the queue drop it rather than
              // have a responder act on it later, and skip the disk write persistence costs.
              expiration: String(Math.max(1, Math.ceil(timeoutMs))),
              persistent: false,
              timestamp: Math.floor(Date.now() / 1000),
            },
            whenReturned: (replyText) =>
              new BusgateError('no_responders', `no RabbitMQ queue named "${queue}" takes requests (message returned: ${replyText})`),
          },
          signal,
        )
        .catch((error: unknown) => {
          waiter.settle({ error: error instanceof BusgateError ? error : new BusgateError('broker_unavailable', errorText(error)) });
        });
    });
  }

  async close(): Promise<void> {
    await this.publisher.close();
  }

  private handleReply(message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the reply consumer: replies can no longer arrive on this channel.
      void this.publisher.close();
      return;
    }
    const correlationId: unknown = message.properties.correlationId;
    const waiter = typeof correlationId === 'string' ? this.waiters.get(correlationId)?.[0] : undefined;
    if (waiter === undefined) {
      // A reply after its request timed out, or to a duplicate already answered.
      this.hooks.onStrayReply(typeof correlationId === 'string' ? correlationId : '');
      return;
    }
    waiter.settle({ reply: toReply(message) });
  }

  private handleClose(): void {
    if (!this.open) return;
    this.open = false;
    // Direct reply-to is bound to this channel: a reply can never reach a new one.
    const error = new BusgateError(
      'broker_unavailable',
      'the RabbitMQ request-reply channel closed (connection lost or shutting down) while waiting for the reply; the responder may have acted',
    );
    for (const list of [...this.waiters.values()]) for (const waiter of [...list]) waiter.settle({ error });
    this.hooks.onClosed(this);
  }

  private addWaiter(waiter: Waiter): void {
    const list = this.waiters.get(waiter.correlationId);
    if (list === undefined) this.waiters.set(waiter.correlationId, [waiter]);
    else list.push(waiter);
  }

  private removeWaiter(waiter: Waiter): void {
    const list = this.waiters.get(waiter.correlationId);
    if (list === undefined) return;
    const index = list.indexOf(waiter);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) this.waiters.delete(waiter.correlationId);
  }
}

function replyTimeout(queue: string, timeoutMs: number): BusgateError {
  return new BusgateError('reply_timeout', `no reply from "${queue}" within ${timeoutMs} ms; the responder may have acted`);
}
