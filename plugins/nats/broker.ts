/**
 * The NATS broker plugin: one connection per broker instance, core NATS for pubsub and
 * request-reply, JetStream for persistent pubsub and point-to-point. Every wait for the server
 * also ends when the caller's deadline passes or the connection drops, so nothing hangs on a
 * connection that nats.js is quietly re-dialling.
 */
import { connect, type Msg, type MsgHdrs, type NatsConnection, type Subscription as NatsSubscription } from '@nats-io/transport-node';
import {
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamPublishOptions,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import type { Logger } from '../../core/plugins/contract.js';
import { BusgateError, describeError } from '../../core/errors.js';
import { pluginClosed, raceAbort, routeOptions, withFields, type Stop } from '../../core/brokers/kit.js';
import type {
  BrokerHealth,
  BrokerPlugin,
  InboundMessage,
  Mode,
  OutboundMessage,
  PluginContext,
  PreflightResult,
  Receipt,
  Reply,
  SendContext,
  SubscribeOptions,
  Subscription,
} from '../../core/plugins/contract.js';
import { ConnectionState, followStatus } from './connection-state.js';
import { connectFailure, connectionLost, deadlinePassed, isNoResponders, streamWithoutLeader, toBusgateError, type Waiting } from './errors.js';
import { FlushCoalescer } from './flush-coalescer.js';
import { PublishBatch } from './publish-batch.js';
import { fromNatsHeaders, ID_HEADER, toNatsHeaders } from './messages.js';
import { checkDerivedStreamName, checkMessage, checkSubject, natsLimits, type NatsLimits } from './limits.js';
import { preflightRoute } from './preflight.js';
import { parseServers, routeOptionsSchema, type NatsOptions, type ServerList } from './options.js';
import { StreamDirectory } from './stream-directory.js';
import { streamNameFor } from './names.js';
import { WorkQueues } from './work-queues.js';
import { startGroupConsumer } from './group-consumer.js';
import { subscribeFromHistory } from './history.js';

export const RESPONDER_QUEUE = 'busgate.responders';
// Messages a point-to-point subscriber holds unacknowledged; small, so competing subscribers share.
const PULL_BATCH = 16;
// A rejected message comes back after this pause rather than in a tight redelivery loop.
const NAK_DELAY_MS = 1000;
const DRAIN_LIMIT_MS = 5000;

/** Everything tied to one live connection; replaced as a whole if the connection is reopened. */
interface Link {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly flusher: FlushCoalescer;
  readonly batch: PublishBatch;
  readonly streams: StreamDirectory;
  readonly workQueues: WorkQueues;
  /** What this server closes the connection over, read from its INFO when the link opened. */
  readonly limits: NatsLimits;
  readonly manager: JetStreamManager;
}

export class NatsBroker implements BrokerPlugin {
  private readonly logger: Logger;
  private readonly servers: ServerList;
  private readonly state = new ConnectionState();
  private readonly subscriptions = new Set<Subscription>();
  private link: Link | undefined;
  private opening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private lastConnectError: string | undefined;
  private readonly clientName: string;

  constructor(
    private readonly options: NatsOptions,
    context: PluginContext,
  ) {
    this.logger = withFields(context.logger, { broker: context.name, plugin: 'nats' });
    this.servers = parseServers(options);
    this.clientName = options.name ?? `busgate-${context.name}`;
  }

  connect(signal: AbortSignal): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(closedError());
    if (this.link !== undefined && !this.link.nc.isClosed()) return Promise.resolve();
    this.opening ??= this.open(signal).finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  async publish(destination: string, message: OutboundMessage, context: SendContext): Promise<Receipt> {
    const link = this.ready(context, destination);
    const route = routeOptions(routeOptionsSchema, context.options);
    if (route.persistent) return this.publishPersistent(link, destination, message, context, route.stream);
    const headers = toNatsHeaders(message);
    checkMessage(destination, headers, message.payload, link.limits, false);
    try {
      await link.batch.publish(destination, message.payload, headers, context.signal);
    } catch (error) {
      throw toBusgateError(error, 'flush', destination);
    }
    return { id: message.id, subject: destination, persisted: false };
  }

  async enqueue(destination: string, message: OutboundMessage, context: SendContext): Promise<Receipt> {
    const link = this.ready(context, destination);
    const named = routeOptions(routeOptionsSchema, context.options).stream;
    const stream = named ?? streamNameFor(this.options.streamPrefix, destination);
    if (named === undefined) checkDerivedStreamName(stream);
    checkMessage(destination, toNatsHeaders(message), message.payload, link.limits, true);
    await this.wait(link.workQueues.ensureStream(stream, destination), context, 'jetstream-api', destination);
    try {
      return await this.publishToStream(link, destination, message, context, stream);
    } catch (error) {
      if (!isNoResponders(error)) throw toBusgateError(error, 'puback', destination);
      // The stream went away after it was checked: check again (recreating it if allowed), once.
      link.workQueues.forget(stream, destination);
      this.logger.warn('work-queue stream disappeared; checking it again', { stream, subject: destination });
    }
    await this.wait(link.workQueues.ensureStream(stream, destination), context, 'jetstream-api', destination);
    try {
      return await this.publishToStream(link, destination, message, context, stream);
    } catch (error) {
      // The stream was there a moment ago: no leader now, not a missing stream.
      if (isNoResponders(error)) throw streamWithoutLeader(destination, error);
      throw toBusgateError(error, 'puback', destination);
    }
  }

  async request(destination: string, message: OutboundMessage, context: SendContext): Promise<Reply> {
    const link = this.ready(context, destination);
    const headers = toNatsHeaders(message);
    checkMessage(destination, headers, message.payload, link.limits, false);
    try {
      const answer = link.nc.request(destination, message.payload, { timeout: timeoutOf(context), headers });
      return toReply(await raceAbort(answer, this.stops(context, 'reply', destination)));
    } catch (error) {
      throw toBusgateError(error, 'reply', destination);
    }
  }

  async subscribe(destination: string, options: SubscribeOptions, onMessage: (message: InboundMessage) => Promise<void>): Promise<Subscription> {
    const link = this.ready();
    checkSubject(destination, link.limits);
    if (options.group !== undefined) return this.track(await this.subscribeGroup(link, destination, options, options.group, onMessage));
    if (options.from !== undefined && options.mode === 'pubsub') {
      const stream = routeOptions(routeOptionsSchema, options.options).stream;
      return this.track(await subscribeFromHistory(link, destination, stream, options.from, onMessage, this.logger));
    }
    const subscription =
      options.mode === 'point-to-point'
        ? await this.consumeWorkQueue(link, destination, options, onMessage)
        : await this.subscribeCore(link, destination, onMessage);
    return this.track(subscription);
  }

  async respond(destination: string, onRequest: (message: InboundMessage) => Promise<Reply>): Promise<Subscription> {
    const link = this.ready();
    checkSubject(destination, link.limits);
    const sub = link.nc.subscribe(destination, {
      queue: RESPONDER_QUEUE,
      callback: (error, msg) => {
        if (error !== null) {
          this.logger.warn('responder subscription failed', { subject: destination, error: error.message });
          return;
        }
        void this.answer(msg, onRequest);
      },
    });
    await this.confirmSubscribed(link, sub, destination);
    return this.track({ close: () => drainQuietly(sub) });
  }

  /** `busgate check --live`: read-only JetStream and CONNZ lookups (see preflight.ts). */
  async preflight(mode: Mode, destination: string, options: Readonly<Record<string, unknown>>): Promise<PreflightResult> {
    const link = this.ready(undefined, destination);
    try {
      return await preflightRoute(link, mode, destination, routeOptions(routeOptionsSchema, options), this.options);
    } catch (error) {
      throw toBusgateError(error, 'jetstream-api', destination);
    }
  }

  health(): BrokerHealth {
    if (this.closing !== undefined) return { up: false, detail: 'closed' };
    if (this.link === undefined) {
      return { up: false, detail: this.lastConnectError ?? `not connected to ${this.servers.display}` };
    }
    return { up: this.state.up, detail: this.state.detail, limits: { ...this.link.limits } };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async open(signal: AbortSignal): Promise<void> {
    const attempt = connect({
      servers: this.servers.servers,
      name: this.clientName,
      ...(this.servers.user !== undefined ? { user: this.servers.user } : {}),
      ...(this.servers.pass !== undefined ? { pass: this.servers.pass } : {}),
      ...(this.servers.token !== undefined ? { token: this.servers.token } : {}),
      timeout: this.options.connectTimeoutMs,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: this.options.reconnectWaitMs,
      // The first connect fails fast (the core retries it); later drops are re-dialled forever,
      // even through authorization errors, which may be a credentials rotation in progress.
      waitOnFirstConnect: false,
      ignoreAuthErrorAbort: true,
      // debug prints protocol lines, CONNECT with credentials included: never.
      debug: false,
      // No Error (with a stack trace) built ahead of every request and JetStream publish: its
      // constructor was 17-19% of the daemon's CPU on request-reply (bench/results/profile-*).
      noAsyncTraces: true,
    });
    let nc: NatsConnection;
    try {
      nc = await raceAbort(attempt, [{ signal, error: () => new BusgateError('broker_unavailable', 'NATS connect aborted') }]);
    } catch (error) {
      attempt.then((late) => late.close()).catch(() => undefined);
      const failure = connectFailure(error, this.servers.display);
      this.lastConnectError = failure.message;
      throw failure;
    }
    if (this.closing !== undefined) {
      await nc.close().catch(() => undefined);
      throw closedError();
    }
    // checkAPI off: a server without JetStream still serves core pubsub and request-reply.
    const manager = await jetstreamManager(nc, { checkAPI: false, timeout: this.options.jetstreamTimeoutMs }).catch(async (error: unknown) => {
      await nc.close().catch(() => undefined);
      throw connectFailure(error, this.servers.display);
    });
    this.link = {
      nc,
      js: jetstream(nc, { timeout: this.options.jetstreamTimeoutMs }),
      flusher: new FlushCoalescer(() => nc.flush()),
      batch: new PublishBatch(nc, () => this.state.lostSignal, {
        deadline: (signal, subject) => deadlinePassed(signal, 'flush', subject),
        lost: (subject) => connectionLost('flush', subject),
      }),
      streams: new StreamDirectory(manager),
      workQueues: new WorkQueues(manager, this.options.createStreams, this.logger, this.options.streamReplicas, {
        prefix: `${this.options.streamPrefix}_`,
        maxStreams: this.options.maxCreatedStreams,
        maxSubjects: this.options.maxStreamSubjects,
      }),
      limits: natsLimits(nc.info?.max_payload, this.options.maxControlLine),
      manager,
    };
    this.lastConnectError = undefined;
    this.state.markUp(nc.getServer());
    this.logger.info('connected to NATS', { server: nc.getServer(), version: nc.info?.version });
    followStatus(nc, this.state, this.logger).catch((error: unknown) => {
      this.logger.warn('NATS status watcher stopped', { error: describeError(error) });
    });
    void nc.closed().then((error) => {
      // A connection reopened since then owns the state now.
      if (this.link?.nc !== nc) return;
      this.state.markDown(error instanceof Error ? `connection closed: ${error.message}` : 'connection closed');
      if (this.closing === undefined) {
        this.logger.error('NATS connection closed unexpectedly', { error: error instanceof Error ? error.message : undefined });
      }
    });
  }

  /** The live link, or a broker_unavailable at once: work sent now would only sit in a buffer. */
  private ready(context?: SendContext, subject = 'the subject'): Link {
    if (this.closing !== undefined) throw closedError();
    const link = this.link;
    if (link === undefined || link.nc.isClosed()) {
      throw new BusgateError('broker_unavailable', `not connected to NATS at ${this.servers.display}`, {
        retryAfterSeconds: 1,
      });
    }
    if (!this.state.up) {
      throw new BusgateError('broker_unavailable', `NATS is unreachable (${this.state.detail})`, {
        retryAfterSeconds: 1,
      });
    }
    if (context?.signal.aborted === true) throw deadlinePassed(context.signal, 'flush', subject);
    return link;
  }

  private stops(context: SendContext, waiting: Waiting, subject: string): Stop[] {
    const lost = this.state.lostSignal;
    return [
      { signal: context.signal, error: () => deadlinePassed(context.signal, waiting, subject) },
      { signal: lost, error: () => connectionLost(waiting, subject) },
    ];
  }

  private async wait<T>(work: Promise<T>, context: SendContext, waiting: Waiting, subject: string): Promise<T> {
    try {
      return await raceAbort(work, this.stops(context, waiting, subject));
    } catch (error) {
      throw toBusgateError(error, waiting, subject);
    }
  }

  private async publishPersistent(link: Link, subject: string, message: OutboundMessage, context: SendContext, stream: string | undefined): Promise<Receipt> {
    checkMessage(subject, toNatsHeaders(message), message.payload, link.limits, true);
    if (stream === undefined) {
      const found = await this.wait(link.streams.streamFor(subject), context, 'jetstream-api', subject);
      if (found === undefined) {
        throw new BusgateError('broker_rejected', `no JetStream stream captures subject "${subject}": create one, or make the route non-persistent`);
      }
    }
    try {
      return await this.publishToStream(link, subject, message, context, stream);
    } catch (error) {
      if (isNoResponders(error)) {
        // Looked up again on the next send: a stream deleted since is refused (502) there.
        link.streams.forget(subject);
        // Just found (or remembered) to exist: a stream without a leader for now (an election).
        if (stream === undefined) throw streamWithoutLeader(subject, error);
      }
      throw toBusgateError(error, 'puback', subject);
    }
  }

  /** Throws the client's own errors (callers map them); resolves with the PubAck as a receipt. */
  private async publishToStream(link: Link, subject: string, message: OutboundMessage, context: SendContext, stream: string | undefined): Promise<Receipt> {
    const options: Partial<JetStreamPublishOptions> = {
      // The server drops a second message with the same id inside its duplicate window, whoever
      // sent it: the core's client-scoped id, so one client cannot make another's disappear.
      msgID: message.dedupeId ?? message.id,
      headers: toNatsHeaders(message),
      timeout: timeoutOf(context),
      ...(stream !== undefined ? { expect: { streamName: stream } } : {}),
    };
    const ack = await raceAbort(link.js.publish(subject, message.payload, options), this.stops(context, 'puback', subject));
    return { id: message.id, subject, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  }

  private async subscribeCore(link: Link, subject: string, onMessage: (message: InboundMessage) => Promise<void>): Promise<Subscription> {
    const sub = link.nc.subscribe(subject);
    const loop = (async () => {
      for await (const msg of sub) {
        try {
          await onMessage(toInbound(msg.subject, msg.data, msg.headers));
        } catch (error) {
          // Core NATS cannot redeliver: the message is gone for this subscriber either way.
          this.logger.warn('pubsub handler failed; core NATS cannot redeliver', { subject, error: describeError(error) });
        }
      }
    })();
    await this.confirmSubscribed(link, sub, subject);
    return {
      close: async () => {
        await drainQuietly(sub);
        await loop.catch(() => undefined);
      },
    };
  }

  /**
   * A named durable consumer (egress): on the work-queue stream for point-to-point, on the stream
   * capturing the subject for pubsub (which must exist: busgate creates no pubsub streams).
   */
  private async subscribeGroup(
    link: Link,
    subject: string,
    options: SubscribeOptions,
    group: string,
    onMessage: (message: InboundMessage) => Promise<void>,
  ): Promise<Subscription> {
    const route = routeOptions(routeOptionsSchema, options.options);
    let stream: string;
    if (options.mode === 'point-to-point') {
      stream = route.stream ?? streamNameFor(this.options.streamPrefix, subject);
      try {
        await link.workQueues.ensureStream(stream, subject);
      } catch (error) {
        throw toBusgateError(error, 'jetstream-api', subject);
      }
    } else {
      const found =
        route.stream ??
        (await link.streams.streamFor(subject).catch((error: unknown) => {
          throw toBusgateError(error, 'jetstream-api', subject);
        }));
      if (found === undefined) {
        throw new BusgateError('broker_rejected', `no JetStream stream captures subject "${subject}": a pubsub subscription reads a stream; create one`);
      }
      stream = found;
    }
    return startGroupConsumer(
      link.js,
      link.manager,
      {
        stream,
        subject,
        group,
        deliverPolicy: options.mode === 'point-to-point' ? 'all' : 'new',
        maxInFlight: Math.max(1, options.maxInFlight ?? 1),
        onMessage,
      },
      this.logger,
    );
  }

  private async consumeWorkQueue(
    link: Link,
    subject: string,
    options: SubscribeOptions,
    onMessage: (message: InboundMessage) => Promise<void>,
  ): Promise<Subscription> {
    const stream = routeOptions(routeOptionsSchema, options.options).stream ?? streamNameFor(this.options.streamPrefix, subject);
    let messages: ConsumerMessages;
    try {
      const durable = await link.workQueues.ensureConsumer(stream, subject);
      const consumer = await link.js.consumers.get(stream, durable);
      messages = await consumer.consume({ max_messages: PULL_BATCH });
    } catch (error) {
      throw toBusgateError(error, 'jetstream-api', subject);
    }
    const loop = (async () => {
      try {
        for await (const msg of messages) await this.handleQueued(msg, subject, onMessage);
      } catch (error) {
        this.logger.warn('work-queue consumer stopped', { stream, subject, error: describeError(error) });
      }
    })();
    return {
      close: async () => {
        await messages.close().catch(() => undefined);
        await loop;
      },
    };
  }

  private async handleQueued(msg: JsMsg, subject: string, onMessage: (message: InboundMessage) => Promise<void>): Promise<void> {
    try {
      await onMessage(toInbound(msg.subject, msg.data, msg.headers));
      msg.ack();
    } catch (error) {
      this.logger.warn('point-to-point handler failed; message handed back for redelivery', {
        subject,
        error: describeError(error),
      });
      msg.nak(NAK_DELAY_MS);
    }
  }

  private async answer(msg: Msg, onRequest: (message: InboundMessage) => Promise<Reply>): Promise<void> {
    if (msg.reply === undefined || msg.reply === '') return;
    try {
      const request = toInbound(msg.subject, msg.data, msg.headers);
      const reply = await onRequest(request);
      // Echo the request's id unless the handler set one, as the responder contract asks.
      const id = reply.headers[ID_HEADER] ?? request.headers[ID_HEADER];
      msg.respond(reply.payload, { headers: toNatsHeaders(id !== undefined ? Object.assign({}, reply, { id }) : reply) });
    } catch (error) {
      // No reply: the requester gets a reply_timeout, which is the truth (nothing answered).
      this.logger.warn('responder handler failed; no reply sent', { subject: msg.subject, error: describeError(error) });
    }
  }

  /** A SUB is only a line in the outbound buffer until a flush shows the server has it. */
  private async confirmSubscribed(link: Link, sub: NatsSubscription, subject: string): Promise<void> {
    try {
      await link.flusher.afterFlush();
    } catch (error) {
      sub.unsubscribe();
      throw toBusgateError(error, 'flush', subject);
    }
  }

  private track(subscription: Subscription): Subscription {
    let closed: Promise<void> | undefined;
    const tracked: Subscription = {
      close: () => {
        closed ??= subscription.close().finally(() => this.subscriptions.delete(tracked));
        return closed;
      },
      ...(subscription.start !== undefined ? { start: subscription.start } : {}),
      ...(subscription.gap ? { gap: true } : {}),
    };
    this.subscriptions.add(tracked);
    return tracked;
  }

  private async shutdown(): Promise<void> {
    await this.opening?.catch(() => undefined);
    // Bounded: draining a subscription needs the server, which may be gone.
    await Promise.race([Promise.allSettled([...this.subscriptions].map((subscription) => subscription.close())), delay(DRAIN_LIMIT_MS)]);
    const link = this.link;
    if (link === undefined || link.nc.isClosed()) return;
    if (this.state.up) {
      // drain = stop subscriptions, send what is buffered, then close. Bounded, and given up when
      // the connection drops half way: there is nothing left to drain into.
      const lost = this.state.lostSignal;
      const drained = await Promise.race([
        link.nc.drain().then(
          () => true,
          () => false,
        ),
        delay(DRAIN_LIMIT_MS).then(() => false),
        new Promise<boolean>((resolve) => lost.addEventListener('abort', () => resolve(false), { once: true })),
      ]);
      if (drained) return;
    }
    await link.nc.close().catch(() => undefined);
  }
}

function toInbound(subject: string, data: Uint8Array, headers: MsgHdrs | undefined): InboundMessage {
  const read = fromNatsHeaders(headers);
  // Copy: the client may reuse the buffer the payload was parsed into.
  return { destination: subject, payload: Buffer.from(data), ...read };
}

function toReply(msg: Msg): Reply {
  const read = fromNatsHeaders(msg.headers);
  return { payload: Buffer.from(msg.data), ...read };
}

function timeoutOf(context: SendContext): number {
  return Number.isFinite(context.timeoutMs) && context.timeoutMs >= 1 ? Math.ceil(context.timeoutMs) : 5000;
}

async function drainQuietly(sub: NatsSubscription): Promise<void> {
  if (sub.isClosed() || sub.isDraining()) return;
  try {
    await sub.drain();
  } catch {
    try {
      sub.unsubscribe();
    } catch {
      // the connection is already gone, and the subscription with it
    }
  }
}

function closedError(): BusgateError {
  return pluginClosed('NATS');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
