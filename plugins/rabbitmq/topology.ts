/**
 * Making sure an exchange or queue exists before traffic goes to it.
 *
 * Why a separate, short-lived channel: in AMQP 0-9-1 a publish to a missing exchange is answered
 * by closing the publishing channel with 404, which would take every other unconfirmed publish on
 * that channel down with it (their outcome becomes unknown). A passive exchange.declare on a
 * channel of its own fails alone. Positive answers are cached for the life of the connection, so
 * the check costs one round trip per exchange and connection, not per message. Negative answers
 * are not cached: an exchange created a moment later works at once.
 *
 * Declaring is always "check, then declare if missing": an existing quorum queue or an exchange of
 * another type is used as it is, instead of failing with 406 because our arguments differ.
 */
import type { Channel, ChannelModel, Replies } from 'amqplib';
import { AMQP_NOT_FOUND, amqpReplyCode, missingExchange, topologyFailure } from './errors.js';
import type { ExchangeType } from './options.js';

export class Topology {
  private readonly known = new Set<string>();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly model: ChannelModel,
    private readonly declare: boolean,
  ) {}

  /** Undefined when already known, so the hot path allocates no promise. */
  ensureExchange(exchange: string, type: ExchangeType): Promise<void> | undefined {
    return this.once(`exchange:${exchange}`, async () => {
      if (this.declare) await declareExchangeIfMissing(this.model, exchange, type);
      else if (!(await exists(this.model, 'exchange', exchange))) throw missingExchange(exchange);
    });
  }

  /** Only with declare: true; otherwise a missing queue shows up as a returned message. */
  ensureQueue(queue: string): Promise<void> | undefined {
    if (!this.declare) return undefined;
    return this.once(`queue:${queue}`, () => declareQueueIfMissing(this.model, queue));
  }

  forgetExchange(exchange: string): void {
    this.known.delete(`exchange:${exchange}`);
  }

  private once(key: string, check: () => Promise<void>): Promise<void> | undefined {
    if (this.known.has(key)) return undefined;
    let running = this.pending.get(key);
    if (running === undefined) {
      running = check()
        .then(() => {
          this.known.add(key);
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, running);
    }
    return running;
  }
}

export async function declareExchangeIfMissing(model: ChannelModel, exchange: string, type: ExchangeType): Promise<void> {
  if (await exists(model, 'exchange', exchange)) return;
  try {
    await onShortLivedChannel(model, (channel) => channel.assertExchange(exchange, type, { durable: true }));
  } catch (error) {
    throw topologyFailure(`to declare exchange "${exchange}"`, error);
  }
}

export async function declareQueueIfMissing(model: ChannelModel, queue: string): Promise<void> {
  if (await exists(model, 'queue', queue)) return;
  try {
    await onShortLivedChannel(model, (channel) => channel.assertQueue(queue, { durable: true }));
  } catch (error) {
    throw topologyFailure(`to declare queue "${queue}"`, error);
  }
}

/** Passive exchange.declare on a short-lived channel: read-only, and a 404 closes only that channel. */
export async function exchangeExists(model: ChannelModel, exchange: string): Promise<boolean> {
  return (await passive(model, 'exchange', exchange, (channel) => channel.checkExchange(exchange))) !== undefined;
}

/**
 * Passive queue.declare on a short-lived channel: the queue's message and consumer counts, or
 * undefined when it does not exist. Read-only.
 */
export async function inspectQueue(model: ChannelModel, queue: string): Promise<Replies.AssertQueue | undefined> {
  return (await passive(model, 'queue', queue, (channel) => channel.checkQueue(queue)))?.reply;
}

function exists(model: ChannelModel, kind: 'exchange' | 'queue', name: string): Promise<boolean> {
  return kind === 'exchange' ? exchangeExists(model, name) : inspectQueue(model, name).then((reply) => reply !== undefined);
}

/** The broker's answer to a passive check, or undefined when it answered 404 (no such thing). */
async function passive<T>(
  model: ChannelModel,
  kind: 'exchange' | 'queue',
  name: string,
  check: (channel: Channel) => Promise<T>,
): Promise<{ readonly reply: T } | undefined> {
  try {
    return { reply: await onShortLivedChannel(model, check) };
  } catch (error) {
    if (amqpReplyCode(error) === AMQP_NOT_FOUND) return undefined;
    throw topologyFailure(`to check ${kind} "${name}"`, error);
  }
}

async function onShortLivedChannel<T>(model: ChannelModel, work: (channel: Channel) => Promise<T>): Promise<T> {
  const channel = await model.createChannel();
  let open = true;
  // A failed declare closes this channel with an 'error' event; the failure itself reaches us
  // through the rejected operation, so the event only needs a listener.
  channel.on('error', () => undefined);
  channel.on('close', () => {
    open = false;
  });
  try {
    return await work(channel);
  } finally {
    if (open) channel.close().catch(() => undefined);
  }
}
