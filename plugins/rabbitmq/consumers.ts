/**
 * Consumers and responders. Each gets its own channel, so a broker-side problem with one queue
 * (deleted, consumer cancelled, access refused) closes only that channel, and prefetch and acks are
 * per consumer. They are re-established by themselves: on the same connection after a channel
 * loss, and on the new connection after a reconnect.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../../core/plugins/contract.js';
import { BusgateError } from '../../core/errors.js';
import type { InboundMessage, Reply, Subscription } from '../../core/plugins/contract.js';
import { backoffDelay } from './backoff.js';
import { AMQP_NOT_FOUND, amqpReplyCode, errorText, missingExchange, nothingSent, topologyFailure } from './errors.js';
import { toInbound } from './messages.js';
import type { RabbitMqOptions, RouteOptions } from './options.js';
import { declareExchangeIfMissing, declareQueueIfMissing, flushDefinitionsOrWarn } from './topology.js';

export type ConsumerSpec =
  | {
      readonly kind: 'pubsub' | 'point-to-point';
      readonly destination: string;
      readonly route: RouteOptions;
      readonly onMessage: (message: InboundMessage) => Promise<void>;
      /**
       * pubsub: a durable queue of this name, bound to the exchange, shared by every subscriber
       * of the group and kept while none is connected. point-to-point: the queue is the group.
       */
      readonly group?: string;
      /** Unacknowledged deliveries this consumer holds (the handler's maxInFlight). */
      readonly prefetch?: number;
    }
  | {
      readonly kind: 'respond';
      readonly destination: string;
      readonly onRequest: (message: InboundMessage) => Promise<Reply>;
    };

interface ConsumerDeps {
  readonly options: RabbitMqOptions;
  readonly logger: Logger;
  readonly currentModel: () => ChannelModel | undefined;
}

export class Consumers {
  private readonly active = new Set<Consumer>();

  constructor(private readonly deps: ConsumerDeps) {}

  /** Resolves once the consumer is live; a later publish reaches it. */
  async add(spec: ConsumerSpec): Promise<Subscription> {
    const model = this.deps.currentModel();
    if (model === undefined) throw nothingSent('not connected; cannot subscribe');
    const consumer = new Consumer(spec, this.deps);
    await consumer.ensureAttached(model);
    this.active.add(consumer);
    return {
      close: async () => {
        this.active.delete(consumer);
        await consumer.close();
      },
      backlog: () => consumer.backlog(),
    };
  }

  /** After a reconnect: every consumer gets a channel on the new connection. */
  reattachAll(model: ChannelModel): void {
    for (const consumer of this.active) consumer.reattach(model);
  }

  async closeAll(): Promise<void> {
    const all = [...this.active];
    this.active.clear();
    await Promise.all(all.map((consumer) => consumer.close()));
  }
}

class Consumer {
  private channel: Channel | undefined;
  /** The queue consumed (server-named for a private pubsub subscriber). */
  private queue: string | undefined;
  private attaching: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failedAttempts = 0;
  private closed = false;

  constructor(
    private readonly spec: ConsumerSpec,
    private readonly deps: ConsumerDeps,
  ) {}

  ensureAttached(model: ChannelModel): Promise<void> {
    if (this.closed || this.channel !== undefined) return Promise.resolve();
    this.attaching ??= this.attach(model).finally(() => {
      this.attaching = undefined;
    });
    return this.attaching;
  }

  reattach(model: ChannelModel): void {
    this.ensureAttached(model).catch((error: unknown) => this.retryLater(error));
  }

  /** Ready messages in the queue (not the unacked ones this consumer holds). */
  async backlog(): Promise<number | undefined> {
    const channel = this.channel;
    if (channel === undefined || this.queue === undefined) return undefined;
    try {
      return (await channel.checkQueue(this.queue)).messageCount;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.attaching?.catch(() => undefined);
    const channel = this.channel;
    this.channel = undefined;
    // Closing the channel cancels the consumer; unacknowledged messages go back to the queue.
    await channel?.close().catch(() => undefined);
  }

  private async attach(model: ChannelModel): Promise<void> {
    let channel: Channel;
    try {
      channel = await model.createChannel();
    } catch (error) {
      throw nothingSent(`cannot open a channel to consume "${this.spec.destination}": ${errorText(error)}`, error);
    }
    let ready = false;
    channel.on('error', (error: Error) => {
      if (ready) this.deps.logger.warn(`rabbitmq consumer of "${this.spec.destination}": ${error.message}`);
    });
    channel.on('handler-error', (error: Error, event: string) =>
      this.deps.logger.error(`rabbitmq consumer of "${this.spec.destination}": ${event} listener threw: ${error.message}`),
    );
    channel.on('close', () => {
      if (this.channel !== channel) return;
      this.channel = undefined;
      // A lost connection closes every channel first; the retry then finds no connection and
      // waits for reattachAll() on the next one instead.
      this.retryLater(new Error('channel closed'));
    });
    try {
      await channel.prefetch(this.spec.kind === 'respond' ? this.deps.options.prefetch : (this.spec.prefetch ?? this.deps.options.prefetch));
      const queue = await this.prepareQueue(model, channel);
      await channel.consume(queue, (message) => this.deliver(channel, message));
      this.queue = queue;
    } catch (error) {
      channel.close().catch(() => undefined);
      throw this.attachFailure(error);
    }
    ready = true;
    if (this.closed) {
      await channel.close().catch(() => undefined);
      return;
    }
    this.channel = channel;
    this.failedAttempts = 0;
  }

  private async prepareQueue(model: ChannelModel, channel: Channel): Promise<string> {
    const { spec } = this;
    if (spec.kind !== 'pubsub') {
      // A consumer's queue must exist before it consumes. Request queues hold transient requests
      // with an expiration: classic. Work queues take the route's, else the broker's, queue type.
      const type = spec.kind === 'respond' ? 'classic' : (spec.route.queueType ?? this.deps.options.queueType);
      // A queue created here is written to disk before it is consumed (topology.ts, flushDefinitions).
      if (await declareQueueIfMissing(model, spec.destination, type)) await flushDefinitionsOrWarn(model, this.deps.logger, `queue ${spec.destination}`);
      return spec.destination;
    }
    const type = spec.route.exchangeType ?? 'topic';
    if (this.deps.options.declare) await declareExchangeIfMissing(model, spec.destination, type);
    if (spec.group !== undefined) {
      // Durable and named: messages published while no member is connected wait in it.
      const created = await declareQueueIfMissing(model, spec.group, spec.route.queueType ?? this.deps.options.queueType);
      await channel.bindQueue(spec.group, spec.destination, bindingKeyFor(type, spec.route));
      if (created) await flushDefinitionsOrWarn(model, this.deps.logger, `queue ${spec.group} and its binding`);
      return spec.group;
    }
    // Server-named, exclusive, auto-delete: one private queue per subscriber, gone with it.
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await channel.bindQueue(queue, spec.destination, bindingKeyFor(type, spec.route));
    return queue;
  }

  private attachFailure(error: unknown): BusgateError {
    if (error instanceof BusgateError) return error;
    if (this.spec.kind === 'pubsub' && amqpReplyCode(error) === AMQP_NOT_FOUND) return missingExchange(this.spec.destination);
    return topologyFailure(`to consume "${this.spec.destination}"`, error);
  }

  private retryLater(cause: unknown): void {
    if (this.closed || this.retryTimer !== undefined) return;
    this.failedAttempts += 1;
    const delay = backoffDelay(this.failedAttempts, this.deps.options.reconnect);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const model = this.deps.currentModel();
      if (model === undefined || this.closed) return;
      this.ensureAttached(model).then(
        () => this.deps.logger.info(`rabbitmq consumer of "${this.spec.destination}" re-established`),
        (error: unknown) => this.retryLater(error),
      );
    }, delay);
    this.retryTimer.unref();
    if (this.failedAttempts > 1) {
      this.deps.logger.warn(`rabbitmq consumer of "${this.spec.destination}" not re-established (${errorText(cause)}); retrying in ${delay} ms`);
    }
  }

  private deliver(channel: Channel, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (e.g. the queue was deleted): start over on a new channel.
      channel.close().catch(() => undefined);
      return;
    }
    const inbound = toInbound(this.spec.destination, message);
    const spec = this.spec;
    if (spec.kind === 'respond') {
      Promise.resolve()
        .then(() => spec.onRequest(inbound))
        .then(
          (reply) => {
            sendReply(channel, message, reply);
            settle(() => channel.ack(message));
          },
          (error: unknown) => {
            this.deps.logger.warn(`rabbitmq responder on "${spec.destination}" failed: ${errorText(error)}`);
            // One more try on another responder; after that the request is dropped and the caller
            // gets reply_timeout, rather than a poison request circling forever.
            settle(() => channel.nack(message, false, !message.fields.redelivered));
          },
        );
      return;
    }
    const id: unknown = message.properties.messageId;
    const delivered = typeof id === 'string' && id !== '' ? Object.assign({}, inbound, { delivery: { messageId: id } }) : inbound;
    Promise.resolve()
      .then(() => spec.onMessage(delivered))
      .then(
        () => settle(() => channel.ack(message)),
        () => settle(() => channel.nack(message, false, true)),
      );
  }
}

function sendReply(channel: Channel, request: ConsumeMessage, reply: Reply): void {
  const replyTo: unknown = request.properties.replyTo;
  if (typeof replyTo !== 'string' || replyTo === '') return;
  settle(() =>
    channel.sendToQueue(replyTo, reply.payload, {
      correlationId: request.properties.correlationId as string | undefined,
      contentType: reply.contentType,
      headers: { ...reply.headers },
    }),
  );
}

/**
 * Acks, nacks and replies on a channel that closed meanwhile throw; the broker then redelivers the
 * message to another consumer, which is the outcome we want anyway.
 */
function settle(action: () => unknown): void {
  try {
    action();
  } catch {
    // See above: nothing is lost.
  }
}

function bindingKeyFor(type: string, route: RouteOptions): string {
  // '#' matches every key on a topic exchange and is ignored by fanout and headers exchanges;
  // a direct exchange matches keys literally, so a subscriber there names its key.
  if (type === 'direct') return route.routingKey ?? '';
  return type === 'topic' ? '#' : '';
}
