/**
 * The Kafka broker plugin: one kafkajs client per broker instance, holding an admin client
 * (topic checks, offsets), one coalescing producer for every mode, the reply router, and one
 * consumer-group member per subscription or responder.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import kafkajs, { type Admin, type Kafka, type Message, type PartitionMetadata } from 'kafkajs';
import { BusgateError } from '../../core/errors.js';
import { pluginClosed, raceAbort, routeOptions, stopOn } from '../../core/brokers/kit.js';
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
import { BatchingProducer, type KafkaReceipt } from './batching-producer.js';
import { describeKafkaError, toBusgateError } from './errors.js';
import { GroupConsumer, type GroupConsumerSpec } from './group-consumer.js';
import { HealthBoard } from './health-board.js';
import { formatToken, historyStart, withResumeTokens } from './history.js';
import { checkRecord, DEFAULT_MESSAGE_MAX_BYTES, kafkaLimits, readMessageMaxBytes, type KafkaLimits } from './limits.js';
import { kafkaLogCreator, kafkaLogLevel } from './log-bridge.js';
import { HEADER_CORRELATION_ID, HEADER_REPLY_TO, outboundHeaders } from './messages.js';
import { routeOptionsSchema, type KafkaOptions } from './options.js';
import { groupsReading, judgeReaders, judgeTopic } from './preflight.js';
import { ReplyRouter } from './reply-router.js';
import { TopicCatalog } from './topic-catalog.js';
import { SettlingTopics } from './settling-topics.js';
import { checkDestination, replyGroupId } from './names.js';

/** Short, bounded retries: connect() and sends against a down cluster fail in seconds, not minutes. */
const CLIENT_RETRY = { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 };
const ADMIN_RETRY = { retries: 2, initialRetryTime: 100, maxRetryTime: 500 };
/** How long `check --live` spends looking for consumer groups of a request topic. */
const PREFLIGHT_GROUPS_MS = 3000;

const CLOSED_HEALTH: BrokerHealth = Object.freeze({ up: false, detail: 'closed' });

export class KafkaBroker implements BrokerPlugin {
  private readonly kafka: Kafka;
  private readonly admin: Admin;
  private adminConnected: Promise<void> | undefined;
  private readonly topics: TopicCatalog;
  private readonly settling = new SettlingTopics();
  private readonly producer: BatchingProducer;
  private readonly replies: ReplyRouter;
  private readonly subscriptions = new Set<GroupConsumer>();
  private readonly healthBoard: HealthBoard;
  private closing: Promise<void> | undefined;
  /** message.max.bytes is read from the cluster at connect time; the default until then. */
  private limits: KafkaLimits;
  /** What health() last answered, and from what. */
  private reported: { readonly board: BrokerHealth; readonly limits: KafkaLimits; readonly health: BrokerHealth } | undefined;

  constructor(
    private readonly options: KafkaOptions,
    private readonly context: PluginContext,
  ) {
    const { logger } = context;
    this.kafka = new kafkajs.Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      ...(options.ssl !== undefined ? { ssl: options.ssl } : {}),
      ...(options.sasl ? { sasl: { ...options.sasl } } : {}),
      connectionTimeout: options.connectionTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      enforceRequestTimeout: true,
      retry: CLIENT_RETRY,
      logLevel: kafkaLogLevel(logger),
      logCreator: kafkaLogCreator(logger),
    });
    this.admin = this.kafka.admin({ retry: ADMIN_RETRY });
    this.limits = kafkaLimits(DEFAULT_MESSAGE_MAX_BYTES, options.batch.maxBytes);
    this.healthBoard = new HealthBoard(options.brokers.join(','), logger);
    this.topics = new TopicCatalog(
      this.admin,
      {
        createTopics: options.createTopics,
        newTopicPartitions: options.newTopicPartitions,
      },
      this.settling,
    );
    this.producer = new BatchingProducer(
      this.kafka,
      {
        maxMessages: options.batch.maxMessages,
        lingerMs: options.batch.lingerMs,
        maxBatchBytes: () => this.limits.maxBatchBytes,
        stuckAfterMs: options.requestTimeoutMs + 1000,
        allowAutoTopicCreation: options.createTopics,
      },
      this.healthBoard,
      logger,
      (topic) => this.topics.forget(topic),
    );
    // Unique per process and per plugin instance: every daemon must see every reply.
    const replyGroup = replyGroupId(options.clientId, `${hostname()}.${process.pid}.${randomUUID()}`);
    this.replies = new ReplyRouter(
      options.replyTopic,
      replyGroup,
      (spec) => this.startConsumer(spec),
      (error) => this.healthBoard.down('replies', `reply consumer stopped: ${describeKafkaError(error)}`),
    );
  }

  async connect(signal: AbortSignal): Promise<void> {
    this.assertOpen();
    await untilAborted(this.connectParts(), signal, 'connecting');
  }

  publish(destination: string, message: OutboundMessage, context: SendContext): Promise<Receipt> {
    this.refuseReplyTopic(destination);
    return this.produce(destination, message, context);
  }

  /** Same produce as publish: what makes it a work queue is the consumers sharing one group. */
  enqueue(destination: string, message: OutboundMessage, context: SendContext): Promise<Receipt> {
    this.refuseReplyTopic(destination);
    return this.produce(destination, message, context);
  }

  async request(destination: string, message: OutboundMessage, context: SendContext): Promise<Reply> {
    this.assertOpen();
    this.refuseReplyTopic(destination);
    await untilAborted(this.startReplies(), context.signal, 'starting the reply consumer');
    const correlationId = randomUUID();
    const pending = this.replies.wait(correlationId, context.timeoutMs, context.signal);
    try {
      await this.produce(destination, message, context, {
        [HEADER_REPLY_TO]: this.options.replyTopic,
        [HEADER_CORRELATION_ID]: correlationId,
      });
    } catch (error) {
      pending.cancel();
      throw error;
    }
    return pending.reply;
  }

  async subscribe(destination: string, options: SubscribeOptions, onMessage: (message: InboundMessage) => Promise<void>): Promise<Subscription> {
    this.assertOpen();
    this.assertTopic(destination);
    this.refuseReplyTopic(destination);
    await this.connectAdmin();
    await this.topics.ensure(destination);
    const pubsub = options.mode === 'pubsub';
    const group = options.group;
    if (options.from !== undefined && pubsub && group === undefined) return this.subscribeFromHistory(destination, options.from, onMessage);
    const consumer = await this.startConsumer({
      topic: destination,
      // A named group (egress) is shared by its members and keeps its offsets. Otherwise pubsub:
      // a group per subscriber, so each gets every message; point-to-point: one shared group, so
      // each message goes to one member.
      groupId:
        group ??
        (pubsub ? `busgate.subscriber.${destination}.${randomUUID()}` : (routeOptions(routeOptionsSchema, options.options).group ?? `busgate.${destination}`)),
      // A work queue keeps what was enqueued before its first consumer came; a new pubsub
      // subscriber (or a new named pubsub group) hears only what is published from now on.
      startAt: pubsub ? 'end' : 'earliest',
      uniqueGroup: pubsub && group === undefined,
      onMessage,
      ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
    });
    return this.subscriptionOf(consumer);
  }

  async respond(destination: string, onRequest: (message: InboundMessage) => Promise<Reply>): Promise<Subscription> {
    this.assertOpen();
    this.assertTopic(destination);
    await this.connectAdmin();
    await this.topics.ensure(destination);
    const consumer = await this.startConsumer({
      topic: destination,
      groupId: `busgate.responders.${destination}`,
      // Requests older than a new responder group have timed out long ago.
      startAt: 'end',
      uniqueGroup: false,
      // One by one, a responder's rate is one reply produce (acks=all) at a time: about 1,000/s.
      // Requests are independent, so several run at once and their replies share produce batches.
      maxInFlight: this.options.responderConcurrency,
      onMessage: (request) => this.answer(request, onRequest),
    });
    return this.subscriptionOf(consumer);
  }

  /**
   * `busgate check --live`: topic metadata and consumer-group descriptions through the admin
   * client. Creates no topic (even with createTopics), joins no group, produces nothing.
   */
  async preflight(mode: Mode, destination: string, options: Readonly<Record<string, unknown>>): Promise<PreflightResult> {
    this.assertOpen();
    const problem = checkDestination(destination);
    if (problem) return { ok: false, detail: problem };
    const { partition } = routeOptions(routeOptionsSchema, options);
    // The admin client retries; a frozen cluster must not hold the whole check.
    const signal = AbortSignal.timeout(this.options.requestTimeoutMs + 1000);
    const lookUp = (topic: string): Promise<readonly PartitionMetadata[] | undefined> =>
      untilAborted(
        this.connectAdmin().then(() => this.topics.describe(topic)),
        signal,
        `looking up topic "${topic}"`,
      );
    const facts = { createTopics: this.options.createTopics, newTopicPartitions: this.options.newTopicPartitions };
    const request = judgeTopic({ ...facts, topic: destination, role: 'topic', partitions: await lookUp(destination), partition });
    if (mode !== 'request-reply' || !request.ok) return request;
    const replyTopic = this.options.replyTopic;
    const reply = judgeTopic({ ...facts, topic: replyTopic, role: 'reply topic', partitions: await lookUp(replyTopic) });
    if (!reply.ok) return reply;
    const readers = await groupsReading(this.admin, destination, PREFLIGHT_GROUPS_MS);
    return judgeReaders(destination, readers, `${request.detail}; ${reply.detail}`);
  }

  /** Read before every send: a new object only when the board or the limits changed. */
  health(): BrokerHealth {
    if (this.closing) return CLOSED_HEALTH;
    const board = this.healthBoard.snapshot();
    if (this.reported?.board !== board || this.reported.limits !== this.limits) {
      this.reported = { board, limits: this.limits, health: Object.freeze({ ...board, limits: Object.freeze({ ...this.limits }) }) };
    }
    return this.reported.health;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.replies.close();
      await this.producer.close();
      await Promise.allSettled([...this.subscriptions].map((subscription) => subscription.close()));
      await this.adminConnected?.catch(() => undefined);
      await this.admin.disconnect().catch(() => undefined);
    })();
    return this.closing;
  }

  private async connectParts(): Promise<void> {
    await this.connectAdmin();
    await this.readLimits();
    await this.producer.connect();
    // The reply consumer starts now so the first request does not pay for a group join. A
    // missing reply topic must not keep pubsub routes down: request() retries the start.
    await this.startReplies().catch((error: unknown) => {
      if (!(error instanceof BusgateError) || error.code !== 'broker_rejected') throw error;
      this.context.logger.warn(`${error.message} (request-reply on this broker will fail until it exists)`);
    });
  }

  /** A cluster that does not let busgate read its configuration keeps Kafka's default limit. */
  private async readLimits(): Promise<void> {
    try {
      const messageMaxBytes = await readMessageMaxBytes(this.admin);
      if (messageMaxBytes !== undefined) this.limits = kafkaLimits(messageMaxBytes, this.options.batch.maxBytes);
    } catch (error) {
      this.context.logger.warn(`Kafka: cannot read message.max.bytes (${describeKafkaError(error)}); assuming Kafka's default ${DEFAULT_MESSAGE_MAX_BYTES}`);
    }
  }

  private async startReplies(): Promise<void> {
    if (this.replies.running) return;
    await this.connectAdmin();
    await this.topics.ensure(this.options.replyTopic).catch((error: unknown) => {
      throw new BusgateError('broker_rejected', `Kafka reply topic "${this.options.replyTopic}" is not usable: ${describeKafkaError(error)}`, { cause: error });
    });
    await this.replies.start();
    this.healthBoard.up('replies');
  }

  private async produce(
    topic: string,
    message: OutboundMessage,
    context: Pick<SendContext, 'signal' | 'options'>,
    control?: Record<string, string>,
  ): Promise<KafkaReceipt> {
    this.assertOpen();
    this.assertTopic(topic);
    const { partition } = routeOptions(routeOptionsSchema, context.options);
    const record: Message = {
      value: message.payload,
      headers: outboundHeaders(message, control),
      ...(message.key !== undefined ? { key: message.key } : {}),
      ...(partition !== undefined ? { partition } : {}),
    };
    // Before the topic check: an oversized message must not even create a topic.
    checkRecord(topic, record, this.limits);
    // A topic created (or first seen) a moment ago may be unknown to the broker asked: tried
    // again within the deadline rather than refused (settling-topics.ts).
    return this.settling.retry(topic, context.signal, async () => {
      await untilAborted(
        this.connectAdmin().then(() => this.topics.ensure(topic)),
        context.signal,
        `checking topic "${topic}"`,
      );
      return this.producer.send({ id: message.id, topic, record, signal: context.signal });
    });
  }

  /** One responder turn: call the handler, send its reply where the request asked. */
  private async answer(request: InboundMessage, onRequest: (message: InboundMessage) => Promise<Reply>): Promise<void> {
    const replyTo = request.headers[HEADER_REPLY_TO];
    const correlationId = request.headers[HEADER_CORRELATION_ID];
    if (replyTo === undefined || correlationId === undefined || checkDestination(replyTo) !== undefined) {
      this.context.logger.warn(`Kafka responder on "${request.destination}" skipped a message without valid reply-to and correlation-id headers`);
      return;
    }
    let reply: Reply;
    try {
      reply = await onRequest(request);
    } catch (error) {
      // The requester times out; redelivering would run the handler again for an answer nobody may await.
      this.context.logger.warn(`Kafka responder on "${request.destination}" failed; no reply sent: ${describeKafkaError(error)}`);
      return;
    }
    const replyMessage: OutboundMessage = {
      id: correlationId,
      payload: reply.payload,
      headers: reply.headers,
      ...(reply.contentType !== undefined ? { contentType: reply.contentType } : {}),
    };
    try {
      await this.produce(
        replyTo,
        replyMessage,
        { signal: AbortSignal.timeout(this.options.requestTimeoutMs * 2), options: {} },
        { [HEADER_CORRELATION_ID]: correlationId },
      );
    } catch (error) {
      // A missing reply topic will not appear by retrying; a broker outage may pass.
      if (error instanceof BusgateError && error.code === 'broker_rejected') {
        this.context.logger.warn(`Kafka responder could not reply to "${replyTo}": ${error.message}`);
        return;
      }
      throw error;
    }
  }

  private async startConsumer(spec: GroupConsumerSpec): Promise<GroupConsumer> {
    const consumer = await GroupConsumer.start(
      this.kafka,
      this.admin,
      spec,
      { joinTimeoutMs: 30_000, redeliveryDelayMs: 1000, closeTimeoutMs: 10_000 },
      this.context.logger,
    );
    this.subscriptions.add(consumer);
    return consumer;
  }

  /** A reader of its own (a unique group) seeked to a position: see history.ts. */
  private async subscribeFromHistory(
    topic: string,
    from: NonNullable<SubscribeOptions['from']>,
    onMessage: (message: InboundMessage) => Promise<void>,
  ): Promise<Subscription> {
    const { start, gap } = await historyStart(this.admin, topic, from);
    const consumer = await this.startConsumer({
      topic,
      groupId: `busgate.reader.${topic}.${randomUUID()}`,
      startAt: 'earliest',
      uniqueGroup: true,
      seekTo: start,
      onMessage: withResumeTokens(start, onMessage),
    });
    return { ...this.subscriptionOf(consumer), start: formatToken(start), gap };
  }

  /** What subscribe() and respond() hand out: closing it also forgets the consumer. */
  private subscriptionOf(consumer: GroupConsumer): Subscription {
    return {
      close: async () => {
        this.subscriptions.delete(consumer);
        await consumer.close();
      },
      backlog: () => consumer.backlog(),
    };
  }

  /** The admin client backs topic checks and offset lookups, so every path needs it first. */
  private connectAdmin(): Promise<void> {
    this.adminConnected ??= this.admin.connect().catch((error: unknown) => {
      this.adminConnected = undefined;
      throw toBusgateError(error, 'connecting to the cluster');
    });
    return this.adminConnected;
  }

  private assertOpen(): void {
    if (this.closing) throw pluginClosed('Kafka');
  }

  /**
   * The reply topic carries every client's replies: a message sent there by a client could
   * answer someone else's request, and a tap on it would read them all. The linter keeps routes
   * off it; this holds for anything else that reaches the plugin.
   */
  private refuseReplyTopic(topic: string): void {
    if (topic === this.options.replyTopic) {
      throw new BusgateError('invalid_token', `Kafka topic "${topic}" is busgate's reply topic; only busgate writes to it`);
    }
  }

  private assertTopic(topic: string): void {
    const problem = checkDestination(topic);
    if (problem) throw new BusgateError('broker_rejected', problem);
  }
}

/** Stops waiting when the caller's deadline passes (the core's reason); the work may still finish. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, doing: string): Promise<T> {
  return raceAbort(
    work,
    stopOn(signal, () => new BusgateError('broker_timeout', `Kafka: deadline passed while ${doing}`)),
  );
}
