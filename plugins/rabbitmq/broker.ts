/**
 * The RabbitMQ BrokerPlugin: one AMQP connection (amqplib's opt-in recovery reconnects it with
 * our backoff), a Session per live connection, and consumers that survive reconnects.
 */
import { connect, type ChannelModel, type Options, type RecoveringChannelModel } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../core/plugins/contract.js';
import { BusgateError } from '../../core/errors.js';
import { pluginClosed, routeOptions, withFields } from '../../core/brokers/kit.js';
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
  RouteTarget,
  SendContext,
  SubscribeOptions,
  Subscription,
} from '../../core/plugins/contract.js';
import { backoffDelay } from './backoff.js';
import { Consumers } from './consumers.js';
import { KEY_HEADER } from './messages.js';
import { NodeRotation, scrubSecrets } from './endpoint.js';
import { errorText, missingExchange, missingQueue, nothingSent } from './errors.js';
import { checkOutbound, rabbitMqLimits, type RabbitMqLimits } from './limits.js';
import { routeOptionsSchema, type RabbitMqOptions } from './options.js';
import { Session } from './session.js';
import { checkQueueName } from './names.js';
import { declareRouteTopology, exchangeExists, flushDefinitionsOrWarn, inspectQueue, planFor, type DeclarePlan } from './topology.js';

type State = 'idle' | 'connecting' | 'up' | 'reconnecting' | 'closed';

/**
 * RabbitMQ 3.10.8 (Ra 2.2.0) records a new quorum queue's member in its Ra directory, a DETS file
 * that reaches the disk only once the table was left alone for 500 ms (auto_save), and at the latest
 * when DETS's 3 s write cache is flushed. A node killed (kill -9) before then restarts without the
 * entry and starts a new, empty member for the queue that never elects a leader: the queue's
 * confirmed messages are orphaned and it never confirms again (plugins/rabbitmq/README.md). AMQP
 * cannot tell when the entry is on disk, so after creating a quorum queue the plugin waits past
 * that 3 s bound, with margin for a loaded node, before the routes are served: once per queue it
 * creates, never on the send path.
 */
const NEW_QUORUM_QUEUE_SETTLE_MS = 5000;

export class RabbitMqBroker implements BrokerPlugin {
  private state: State = 'idle';
  private connection: RecoveringChannelModel | undefined;
  private connecting: Promise<void> | undefined;
  /** Built by recovery's setup hook; becomes `session` when the 'connect' event follows. */
  private prepared: Session | undefined;
  private session: Session | undefined;
  private lastProblem: string | undefined;
  private blockedBecause: string | undefined;
  private serverVersion: string | undefined;
  /** frame_max is negotiated per connection; until the first one, RabbitMQ's default. */
  private limits: RabbitMqLimits;
  private closing: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** With declare: true, what the routes need declared; set up on every connection before it serves. */
  private topologyPlans: readonly DeclarePlan[] = [];
  private readonly consumers: Consumers;
  /** The node the next (re)connection goes to; the url option may list a cluster's nodes. */
  private readonly nodes: NodeRotation;
  private readonly scrub: (message: string) => string;
  private readonly log: Logger;

  constructor(
    private readonly options: RabbitMqOptions,
    private readonly context: PluginContext,
  ) {
    this.nodes = new NodeRotation(options.url, options.heartbeatSeconds);
    this.scrub = scrubSecrets(options.url);
    this.log = withFields(context.logger, { broker: context.name, plugin: 'rabbitmq' });
    this.limits = rabbitMqLimits(undefined, options.maxMessageBytes);
    this.consumers = new Consumers({
      options,
      logger: this.log,
      currentModel: () => (this.state === 'up' ? this.session?.model : undefined),
    });
  }

  private get endpoint(): string {
    return this.nodes.describe();
  }

  connect(signal: AbortSignal): Promise<void> {
    switch (this.state) {
      case 'closed':
        return Promise.reject(pluginClosed('RabbitMQ'));
      case 'up':
        return Promise.resolve();
      case 'reconnecting':
        // Already reconnecting by itself; say so instead of opening a second connection.
        return Promise.reject(nothingSent(`reconnecting to ${this.endpoint}: ${this.lastProblem ?? 'connection lost'}`));
      default:
        this.connecting ??= this.openConnection(signal).finally(() => {
          this.connecting = undefined;
        });
        return this.connecting;
    }
  }

  publish(destination: string, message: OutboundMessage, context: SendContext): Promise<Receipt> {
    return this.track(this.publishToExchange(destination, message, context));
  }

  enqueue(destination: string, message: OutboundMessage, context: SendContext): Promise<Receipt> {
    return this.track(this.publishToQueue(destination, message, context));
  }

  request(destination: string, message: OutboundMessage, context: SendContext): Promise<Reply> {
    return this.track(this.requestReply(destination, message, context));
  }

  async subscribe(destination: string, options: SubscribeOptions, onMessage: (message: InboundMessage) => Promise<void>): Promise<Subscription> {
    this.refuseWhenClosed();
    return this.consumers.add({
      kind: options.mode,
      destination,
      route: routeOptions(routeOptionsSchema, options.options),
      onMessage,
      ...(options.group !== undefined ? { group: options.group } : {}),
      ...(options.maxInFlight !== undefined ? { prefetch: options.maxInFlight } : {}),
    });
  }

  async respond(destination: string, onRequest: (message: InboundMessage) => Promise<Reply>): Promise<Subscription> {
    this.refuseWhenClosed();
    const problem = checkQueueName(destination);
    if (problem !== undefined) throw new BusgateError('broker_rejected', problem);
    return this.consumers.add({ kind: 'respond', destination, onRequest });
  }

  /**
   * The routes' targets. With `declare: true`, their missing exchanges and queues are declared now
   * (the core serves the routes only after this resolves) and again at the start of every new
   * connection, before it counts as up (prepareSession). Templated destinations and request
   * queues are not declared: that would have to happen in the middle of traffic.
   */
  async prepare(targets: readonly RouteTarget[]): Promise<void> {
    this.refuseWhenClosed();
    if (!this.options.declare) return;
    const plans = targets.map((target) => ({ target, plan: planFor(target, this.options.queueType) }));
    for (const { target, plan } of plans) {
      if (plan.kind === 'skip' && target.mode !== 'request-reply') {
        this.log.warn(`rabbitmq: declare: true does not declare route "${target.route}": ${plan.why}`);
      }
    }
    const model = this.liveSession().model;
    await this.declareTopology(
      model,
      plans.map(({ plan }) => plan),
    );
    this.topologyPlans = plans.map(({ plan }) => plan);
  }

  /**
   * `busgate check --live`: passive exchange.declare / queue.declare on short-lived channels
   * (a 404 closes only that channel). Declares nothing, even with `declare: true`, and sends nothing.
   */
  async preflight(mode: Mode, destination: string, options: Readonly<Record<string, unknown>>): Promise<PreflightResult> {
    const model = this.liveSession().model;
    if (mode === 'pubsub') {
      if (await exchangeExists(model, destination)) return { ok: true, detail: `exchange ${destination} exists` };
      if (!this.options.declare) return { ok: false, detail: missingExchange(destination).message };
      const type = routeOptions(routeOptionsSchema, options).exchangeType ?? 'topic';
      return {
        ok: true,
        detail: `exchange ${destination} does not exist; busgate will declare it (${type}, durable) when it connects, before serving the route (declare: true)`,
      };
    }
    const problem = checkQueueName(destination);
    if (problem !== undefined) return { ok: false, detail: problem };
    const queue = await inspectQueue(model, destination);
    const counts = queue === undefined ? '' : `${queue.messageCount} message(s) ready, ${queue.consumerCount} consumer(s)`;
    if (mode === 'point-to-point') {
      if (queue !== undefined) return { ok: true, detail: `queue ${destination} exists: ${counts}` };
      if (this.options.declare) {
        const type = routeOptions(routeOptionsSchema, options).queueType ?? this.options.queueType;
        return {
          ok: true,
          detail: `queue ${destination} does not exist; busgate will declare it (${type}, durable) when it connects, before serving the route (declare: true)`,
        };
      }
      return { ok: false, detail: missingQueue(destination).message };
    }
    // request-reply: requests are never declared for; a responder declares and consumes the queue.
    if (queue === undefined) return { ok: false, detail: `no queue "${destination}": no responder has declared it` };
    if (queue.consumerCount === 0) return { ok: false, detail: `no consumer on queue ${destination} (${queue.messageCount} request(s) waiting)` };
    return { ok: true, detail: `queue ${destination}: ${counts}` };
  }

  health(): BrokerHealth {
    switch (this.state) {
      case 'up':
        if (this.blockedBecause !== undefined) {
          return { up: false, detail: `RabbitMQ at ${this.endpoint} blocks publishing: ${this.blockedBecause}` };
        }
        return {
          up: true,
          detail: `connected to ${this.endpoint}${this.serverVersion ? ` (RabbitMQ ${this.serverVersion})` : ''}`,
          limits: { ...this.limits },
        };
      case 'reconnecting':
        return { up: false, detail: `reconnecting to ${this.endpoint}: ${this.lastProblem ?? 'connection lost'}` };
      case 'connecting':
        return { up: false, detail: `connecting to ${this.endpoint}` };
      case 'closed':
        return { up: false, detail: 'closed' };
      default:
        return { up: false, detail: `not connected to ${this.endpoint}${this.lastProblem ? `: ${this.lastProblem}` : ''}` };
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  // --- connection lifecycle -------------------------------------------------------------------

  private async openConnection(signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw nothingSent('connect cancelled');
    this.state = 'connecting';
    const connection = await connect(this.nodes.target, {
      // Confirms and replies are small frames: Nagle's algorithm would only add latency.
      noDelay: true,
      keepAlive: true,
      timeout: this.options.connectTimeoutMs,
      clientProperties: { connection_name: `busgate ${this.context.name}` },
      recovery: {
        // The first attempt fails fast: the core owns retries until the first success. After
        // that amqplib reconnects forever with our backoff.
        initialMaxRetries: 0,
        maxRetries: Infinity,
        waitForConnect: false,
        calculateDelay: (attempt: number) => backoffDelay(attempt, this.options.reconnect),
        setup: (model: ChannelModel) => this.prepareSession(model),
      },
    });
    if (this.closing !== undefined) {
      await connection.close().catch(() => undefined);
      throw new BusgateError('shutting_down', 'the RabbitMQ plugin was closed while connecting');
    }
    this.connection = connection;
    this.listenTo(connection);

    const onAbort = (): void => {
      void connection.close();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await connection.waitForConnect();
    } catch (error) {
      if (this.connection === connection) this.connection = undefined;
      if (this.state === 'connecting') this.state = 'idle';
      const reason = signal.aborted ? 'connect cancelled' : this.scrub(errorText(error));
      this.lastProblem = reason;
      throw nothingSent(`cannot connect to ${this.endpoint}: ${reason}`, error);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (this.closing !== undefined) throw new BusgateError('shutting_down', 'the RabbitMQ plugin was closed while connecting');
  }

  private listenTo(connection: RecoveringChannelModel): void {
    connection.on('connect', (model: ChannelModel) => this.connected(model));
    connection.on('disconnect', (error: Error) => this.disconnected(error));
    connection.on('connect-failed', (error: Error) => {
      this.lastProblem = this.scrub(errorText(error));
      // The next attempt (recovery's, or the core's next connect()) goes to the next node.
      this.nodes.advance();
    });
    connection.on('reconnect-scheduled', (info: { attempt: number; delay: number }) => {
      this.log.warn(`rabbitmq: reconnect attempt ${info.attempt} to ${this.endpoint} in ${info.delay} ms (${this.lastProblem ?? 'connection lost'})`);
    });
    // Protocol errors arrive here and are followed by 'disconnect'; without a listener they would
    // be thrown as unhandled 'error' events and take the process down.
    connection.on('error', (error: Error) => this.log.warn(`rabbitmq: connection error: ${this.scrub(errorText(error))}`));
    connection.on('handler-error', (error: Error, event: string) => this.log.error(`rabbitmq: a ${event} listener threw: ${errorText(error)}`));
    connection.on('blocked', (reason: string) => {
      this.blockedBecause = reason;
      this.log.warn(`rabbitmq: the broker blocks publishing: ${reason}`);
    });
    connection.on('unblocked', () => {
      this.blockedBecause = undefined;
      this.log.info('rabbitmq: the broker accepts publishing again');
    });
  }

  /** Runs inside amqplib's recovery after every (re)connect; a throw there means "retry". */
  private async prepareSession(model: ChannelModel): Promise<void> {
    // Recovery attaches its listeners only after setup; until then an 'error' would be unhandled.
    model.on('error', () => undefined);
    const version = model.connection.serverProperties.version;
    this.serverVersion = typeof version === 'string' ? version : undefined;
    this.limits = rabbitMqLimits((model.connection as { frameMax?: number }).frameMax, this.options.maxMessageBytes);
    const session = await Session.open(model, this.log);
    try {
      // The routes' topology first: this connection serves nothing until it is declared.
      await this.declareTopology(model, this.topologyPlans);
    } catch (error) {
      await session.close().catch(() => undefined);
      throw error;
    }
    this.prepared = session;
  }

  private async declareTopology(model: ChannelModel, plans: readonly DeclarePlan[]): Promise<void> {
    const created = await declareRouteTopology(model, plans);
    if (created.length === 0) return;
    this.log.info(
      `rabbitmq: declared ${created.map((plan) => `${plan.kind} ${plan.name} (${plan.type})`).join(', ')} before serving the routes (declare: true)`,
    );
    await flushDefinitionsOrWarn(model, this.log, created.map((plan) => `${plan.kind} ${plan.name}`).join(', '));
    if (created.some((plan) => plan.kind === 'queue' && plan.type === 'quorum')) await sleep(NEW_QUORUM_QUEUE_SETTLE_MS);
  }

  private connected(model: ChannelModel): void {
    const session = this.prepared?.model === model ? this.prepared : undefined;
    this.prepared = undefined;
    if (session === undefined) return;
    if (this.state === 'closed') {
      void session.close();
      return;
    }
    const reconnected = this.state === 'reconnecting';
    this.session = session;
    this.state = 'up';
    this.lastProblem = undefined;
    this.blockedBecause = undefined;
    this.log.info(`rabbitmq: ${reconnected ? 'reconnected' : 'connected'} to ${this.endpoint}`);
    if (reconnected) this.consumers.reattachAll(model);
  }

  private disconnected(error: Error): void {
    // Unconfirmed publishes and pending replies were already failed by their channels closing.
    this.session?.markLost();
    this.session = undefined;
    this.blockedBecause = undefined;
    if (this.state === 'closed') return;
    this.state = 'reconnecting';
    this.lastProblem = this.scrub(errorText(error));
    this.log.warn(`rabbitmq: lost the connection to ${this.endpoint}: ${this.lastProblem}`);
    // The node may be gone: recovery reconnects to the next one (the same one when there is one).
    this.nodes.advance();
  }

  private async shutdown(): Promise<void> {
    this.state = 'closed';
    await settledWithin([...this.inFlight], this.options.closeTimeoutMs);
    await this.consumers.closeAll();
    const session = this.session;
    this.session = undefined;
    await session?.close().catch(() => undefined);
    const connection = this.connection;
    this.connection = undefined;
    await connection?.close().catch(() => undefined);
  }

  // --- sending -------------------------------------------------------------------------------

  private async publishToExchange(destination: string, message: OutboundMessage, context: SendContext): Promise<Receipt> {
    const session = this.liveSession();
    const route = routeOptions(routeOptionsSchema, context.options);
    const routingKey = message.key ?? route.routingKey ?? '';
    checkOutbound(destination, routingKey, message, this.limits);
    await session.topology.ensureExchange(destination);
    const publisher = await session.confirmPublisher();
    await publisher.publish(
      {
        exchange: destination,
        routingKey,
        content: message.payload,
        properties: storedMessageProperties(message),
        whenReturned: (replyText) =>
          new BusgateError(
            'broker_rejected',
            `unroutable: no queue is bound to exchange "${destination}" for routing key "${routingKey}" (${replyText}); nothing was stored`,
          ),
      },
      context.signal,
    );
    return { id: message.id, exchange: destination, routingKey };
  }

  private async publishToQueue(queue: string, message: OutboundMessage, context: SendContext): Promise<Receipt> {
    const problem = checkQueueName(queue);
    if (problem !== undefined) throw new BusgateError('broker_rejected', problem);
    checkOutbound('', queue, message, this.limits);
    const session = this.liveSession();
    const publisher = await session.confirmPublisher();
    await publisher.publish(
      {
        exchange: '',
        routingKey: queue,
        content: message.payload,
        // The routing key names the queue here, so a route's key travels in a header instead.
        properties: storedMessageProperties(message, message.key === undefined ? {} : { [KEY_HEADER]: message.key }),
        whenReturned: (replyText) => missingQueue(queue, replyText),
      },
      context.signal,
    );
    return { id: message.id, queue };
  }

  private async requestReply(queue: string, message: OutboundMessage, context: SendContext): Promise<Reply> {
    const problem = checkQueueName(queue);
    if (problem !== undefined) throw new BusgateError('broker_rejected', problem);
    checkOutbound('', queue, message, this.limits);
    const rpc = await this.liveSession().rpcClient();
    return rpc.request(queue, message, context);
  }

  private liveSession(): Session {
    this.refuseWhenClosed();
    const session = this.session;
    if (session === undefined || this.state !== 'up') {
      const why = this.state === 'reconnecting' ? `reconnecting: ${this.lastProblem ?? 'connection lost'}` : 'not connected';
      throw nothingSent(why);
    }
    if (this.blockedBecause !== undefined) throw nothingSent(`the broker blocks publishing: ${this.blockedBecause}`);
    return session;
  }

  private refuseWhenClosed(): void {
    if (this.state === 'closed') throw pluginClosed('RabbitMQ');
  }

  private track<T>(operation: Promise<T>): Promise<T> {
    this.inFlight.add(operation);
    const forget = (): void => {
      this.inFlight.delete(operation);
    };
    operation.then(forget, forget);
    return operation;
  }
}

function storedMessageProperties(message: OutboundMessage, extraHeaders: Readonly<Record<string, string>> = {}): Options.Publish & { messageId: string } {
  return {
    messageId: message.id,
    contentType: message.contentType,
    // Object.assign, not spreads: a field added after a spread costs about 1 µs on node 20.
    headers: Object.assign({}, message.headers, extraHeaders),
    persistent: true,
    timestamp: Math.floor(Date.now() / 1000),
  };
}

async function settledWithin(operations: Array<Promise<unknown>>, timeoutMs: number): Promise<void> {
  if (operations.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(operations),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
}
