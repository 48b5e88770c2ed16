/**
 * Exchanges and queues: the cached check before a publish, and declaring a route's topology.
 *
 * Why a separate, short-lived channel: in AMQP 0-9-1 a publish to a missing exchange is answered
 * by closing the publishing channel with 404, which would take every other unconfirmed publish on
 * that channel down with it (their outcome becomes unknown). A passive exchange.declare on a
 * channel of its own fails alone. Positive answers are cached for the life of the connection, so
 * the check costs one round trip per exchange and connection, not per message. Negative answers
 * are not cached: an exchange created a moment later works at once.
 *
 * The send path never declares anything. With `declare: true`, the fixed destinations of the
 * routes are declared when the connection is set up, before the routes are served
 * (declareRouteTopology): topology created in the middle of traffic is topology messages depend
 * on seconds after it exists, which is the worst moment for a crash (plugins/rabbitmq/README.md).
 *
 * Declaring is always "check, then declare if missing": an existing quorum queue or an exchange of
 * another type is used as it is, instead of failing with 406 because our arguments differ.
 */
import type { Channel, ChannelModel, Replies } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { routeOptions } from '../../core/brokers/kit.js';
import type { Logger, RouteTarget } from '../../core/plugins/contract.js';
import { BusgateError } from '../../core/errors.js';
import { AMQP_NOT_FOUND, amqpReplyCode, missingExchange, topologyFailure } from './errors.js';
import { routeOptionsSchema, type ExchangeType, type QueueType } from './options.js';
import { checkQueueName } from './names.js';

export class Topology {
  private readonly known = new Set<string>();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly model: ChannelModel) {}

  /** Undefined when already known, so the hot path allocates no promise. */
  ensureExchange(exchange: string): Promise<void> | undefined {
    if (this.known.has(exchange)) return undefined;
    let running = this.pending.get(exchange);
    if (running === undefined) {
      running = exchangeExists(this.model, exchange)
        .then((exists) => {
          if (!exists) throw missingExchange(exchange);
          this.known.add(exchange);
        })
        .finally(() => this.pending.delete(exchange));
      this.pending.set(exchange, running);
    }
    return running;
  }

  forgetExchange(exchange: string): void {
    this.known.delete(exchange);
  }
}

/** What `declare: true` sets up for one route target, or why it cannot. */
export type DeclarePlan =
  | { readonly kind: 'exchange'; readonly name: string; readonly type: ExchangeType }
  | { readonly kind: 'queue'; readonly name: string; readonly type: QueueType }
  | { readonly kind: 'skip'; readonly why: string };

/**
 * pubsub: the exchange (type from the route's exchangeType, default topic). point-to-point: the
 * queue (the route's queueType, else the broker's). request-reply: nothing; the responder owns
 * its queue. A templated destination: nothing, since its names are only known per request.
 */
export function planFor(target: RouteTarget, defaultQueueType: QueueType): DeclarePlan {
  if (target.mode === 'request-reply') return { kind: 'skip', why: 'request queues are declared by their responders' };
  if (!target.isStatic) return { kind: 'skip', why: `the destination "${target.destination}" is templated; declare its queues or exchanges before traffic` };
  const route = routeOptions(routeOptionsSchema, target.options);
  if (target.mode === 'pubsub') return { kind: 'exchange', name: target.destination, type: route.exchangeType ?? 'topic' };
  const problem = checkQueueName(target.destination);
  if (problem !== undefined) return { kind: 'skip', why: problem };
  return { kind: 'queue', name: target.destination, type: route.queueType ?? defaultQueueType };
}

/** Declares what is missing, one by one; returns what it had to create. */
export async function declareRouteTopology(model: ChannelModel, plans: readonly DeclarePlan[]): Promise<Array<Exclude<DeclarePlan, { kind: 'skip' }>>> {
  const created: Array<Exclude<DeclarePlan, { kind: 'skip' }>> = [];
  const done = new Set<string>();
  for (const plan of plans) {
    if (plan.kind === 'skip' || done.has(`${plan.kind}:${plan.name}`)) continue;
    done.add(`${plan.kind}:${plan.name}`);
    const made =
      plan.kind === 'exchange' ? await declareExchangeIfMissing(model, plan.name, plan.type) : await declareQueueIfMissing(model, plan.name, plan.type);
    if (made) created.push(plan);
  }
  return created;
}

/**
 * The prefix of the exchange the definitions barrier declares and deletes again; a random suffix
 * keeps two busgate replicas' barriers on one broker from meeting. A node killed between the two
 * steps can leave one such empty, unbound exchange behind.
 */
export const DEFINITIONS_BARRIER_PREFIX = 'busgate.definitions-barrier.';

/**
 * Makes RabbitMQ write the definitions declared so far to disk; returns the barrier exchange's
 * name. RabbitMQ 3.x (Mnesia) answers declare-ok before the transaction's "committed" decision is
 * in its log, and syncs that log only with the next durable change or Mnesia's periodic dump (3
 * minutes by default); killed before, a node restarts as if the declaration had been aborted
 * (plugins/rabbitmq/README.md, "A classic queue missing after kill -9"). Declaring and deleting a
 * durable exchange is such a change: each step syncs the log, earlier declarations' decisions
 * included.
 */
export async function flushDefinitions(model: ChannelModel): Promise<string> {
  const exchange = `${DEFINITIONS_BARRIER_PREFIX}${randomBytes(6).toString('hex')}`;
  try {
    await onShortLivedChannel(model, async (channel) => {
      await channel.assertExchange(exchange, 'fanout', { durable: true });
      await channel.deleteExchange(exchange);
    });
  } catch (error) {
    throw topologyFailure(`to write the declared definitions to disk (exchange "${exchange}")`, error);
  }
  return exchange;
}

/**
 * flushDefinitions, for callers that just created topology. A refusal (e.g. no configure
 * permission on the barrier's name) is logged, not thrown: the definitions work, they are only
 * exposed to a crash until RabbitMQ next syncs its log. A lost connection still throws.
 */
export async function flushDefinitionsOrWarn(model: ChannelModel, logger: Logger, created: string): Promise<void> {
  try {
    await flushDefinitions(model);
  } catch (error) {
    if (!(error instanceof BusgateError) || error.code !== 'broker_rejected') throw error;
    logger.warn(
      `rabbitmq: after declaring ${created}: ${error.message}; until RabbitMQ next syncs its metadata log (3 minutes at most), a broker crash can lose that declaration`,
    );
  }
}

/** True when it had to create the exchange. */
export async function declareExchangeIfMissing(model: ChannelModel, exchange: string, type: ExchangeType): Promise<boolean> {
  if (await exists(model, 'exchange', exchange)) return false;
  try {
    await onShortLivedChannel(model, (channel) => channel.assertExchange(exchange, type, { durable: true }));
  } catch (error) {
    throw topologyFailure(`to declare exchange "${exchange}"`, error);
  }
  return true;
}

/** True when it had to create the queue (durable, of `type`). */
export async function declareQueueIfMissing(model: ChannelModel, queue: string, type: QueueType): Promise<boolean> {
  if (await exists(model, 'queue', queue)) return false;
  try {
    await onShortLivedChannel(model, (channel) => channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': type } }));
  } catch (error) {
    throw topologyFailure(`to declare queue "${queue}"`, error);
  }
  return true;
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
