/**
 * One kafkajs producer shared by every request, with concurrent sends coalesced: kafkajs does no
 * batching of its own (kafkajs #772), so one awaited send per HTTP request costs a produce round
 * trip each. Messages queue while a send is in flight (or for lingerMs), then go out together in
 * one sendBatch; each caller settles when its batch is acknowledged by all in-sync replicas.
 *
 * Only one send is in flight at a time: kafkajs's idempotent producer loses track of its sequence
 * numbers under concurrent sends (OUT_OF_ORDER_SEQUENCE_NUMBER, kafkajs #598).
 */
import kafkajs, { type ICustomPartitioner, type Kafka, type Message, type Producer, type RecordMetadata } from 'kafkajs';
import type { Logger } from '../../core/plugins/contract.js';
import { BusgateError } from '../../core/errors.js';
import { pluginClosed } from '../../core/brokers/kit.js';
import type { Receipt } from '../../core/plugins/contract.js';
import { describeKafkaError, isConnectivityFailure, isProducerDisconnected, isRefusal, isUnknownTopic, toBusgateError } from './errors.js';
import type { HealthBoard } from './health-board.js';
import { recordBytes, singleBatchBytes } from './limits.js';

const { Partitioners } = kafkajs;

export interface KafkaReceipt extends Receipt {
  readonly id: string;
  readonly topic: string;
  readonly partition: number;
  /** Decimal string: Kafka offsets are 64-bit. */
  readonly offset: string;
}

export interface ProduceRequest {
  readonly id: string;
  readonly topic: string;
  readonly record: Message;
  readonly signal: AbortSignal;
}

export interface BatchingProducerSettings {
  readonly maxMessages: number;
  readonly lingerMs: number;
  /** No batch is larger (see limits.ts); read per batch, as the cluster's limit is learnt at connect time. */
  readonly maxBatchBytes: () => number;
  /** A send that takes longer is given up: its callers get broker_timeout, the producer is replaced. */
  readonly stuckAfterMs: number;
  readonly allowAutoTopicCreation: boolean;
}

interface Queued {
  readonly request: ProduceRequest;
  /** What the record adds to a record batch. */
  readonly bytes: number;
  readonly resolve: (receipt: KafkaReceipt) => void;
  readonly reject: (error: BusgateError) => void;
  state: 'queued' | 'sending' | 'settled';
  readonly stopListening: () => void;
}

/**
 * kafkajs bounds its retries by count; these keep a down broker's failure well inside a request
 * deadline. The idempotent producer still de-duplicates the retries it does make.
 */
const PRODUCER_RETRY = { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 };
const RECOVERY_FIRST_DELAY_MS = 500;
// A reconnect attempt is one producer connect: cheap enough to try every 2 s, so sends resume
// within about 2 s of the cluster coming back (10 s here made recovery visibly slow).
const RECOVERY_MAX_DELAY_MS = 2_000;

export class BatchingProducer {
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  private queue: Queued[] = [];
  private lingerTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private recoveryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /**
   * The partition kafkajs chose for each record, so each caller can be told its own offset
   * (a produce response has one base offset per partition). Kept across kafkajs's internal
   * retries, so a retried keyless record goes to the same partition and stays de-duplicated.
   */
  private readonly partitionOf = new WeakMap<Message, number>();

  constructor(
    private readonly kafka: Kafka,
    private readonly settings: BatchingProducerSettings,
    private readonly health: HealthBoard,
    private readonly logger: Logger,
    private readonly onUnknownTopic: (topic: string) => void,
  ) {}

  async connect(): Promise<void> {
    await this.currentProducer();
  }

  send(request: ProduceRequest): Promise<KafkaReceipt> {
    if (this.closed) return Promise.reject(pluginClosed('Kafka'));
    if (request.signal.aborted) return Promise.reject(notSent(request.topic));
    return new Promise<KafkaReceipt>((resolve, reject) => {
      const onAbort = (): void => {
        if (entry.state === 'settled') return;
        const wasQueued = entry.state === 'queued';
        entry.state = 'settled';
        if (wasQueued) this.queue = this.queue.filter((queued) => queued !== entry);
        reject(wasQueued ? notSent(request.topic) : outcomeUnknown(request.topic));
      };
      const entry: Queued = {
        request,
        bytes: recordBytes(request.record),
        resolve,
        reject,
        state: 'queued',
        stopListening: () => request.signal.removeEventListener('abort', onAbort),
      };
      request.signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(entry);
      this.schedule();
    });
  }

  /** Sends what is queued, waits for what is in flight, then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.recoveryTimer);
    clearTimeout(this.lingerTimer);
    while (this.flushing || this.queue.length > 0) {
      await (this.flushing ?? this.flush());
    }
    const producer = this.producer ?? (await this.connecting?.catch(() => undefined));
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
  }

  private schedule(): void {
    if (this.flushing) return; // the running flush takes the queue when it finishes
    if (this.queue.length >= this.settings.maxMessages || this.settings.lingerMs === 0) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
      void this.flush();
      return;
    }
    this.lingerTimer ??= setTimeout(() => {
      this.lingerTimer = undefined;
      void this.flush();
    }, this.settings.lingerMs);
  }

  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    const batch = this.queue.splice(0, this.batchLength());
    if (batch.length === 0) return Promise.resolve();
    this.flushing = this.sendBatch(batch).finally(() => {
      this.flushing = undefined;
      // Whatever queued meanwhile has already waited a whole round trip: send it now.
      if (this.queue.length > 0) void this.flush();
    });
    return this.flushing;
  }

  /**
   * How many queued messages fit one produce request: at most maxMessages, and at most
   * maxBatchBytes together (Kafka refuses a whole record batch over message.max.bytes). The first
   * always goes: the plugin refused anything that does not fit on its own.
   */
  private batchLength(): number {
    const limit = this.settings.maxBatchBytes();
    const first = this.queue[0];
    if (first === undefined) return 0;
    let size = singleBatchBytes(first.request.record);
    let count = 1;
    while (count < this.queue.length && count < this.settings.maxMessages) {
      size += this.queue[count]!.bytes;
      if (size > limit) break;
      count += 1;
    }
    return count;
  }

  private async sendBatch(batch: Queued[]): Promise<void> {
    for (const entry of batch) entry.state = 'sending';
    const topicMessages = groupByTopic(batch);
    for (let attempt = 1; ; attempt++) {
      let producer: Producer;
      try {
        producer = await this.currentProducer();
      } catch (error) {
        this.fail(batch, toBusgateError(error, 'connecting the producer'));
        this.scheduleRecovery();
        return;
      }
      try {
        const results = await this.withinStuckLimit(producer.sendBatch({ acks: -1, topicMessages }));
        this.health.up('producer');
        this.settle(batch, results);
        return;
      } catch (error) {
        if (attempt === 1 && isProducerDisconnected(error) && batch.some((e) => e.state === 'sending')) {
          // Thrown before anything was written (see isProducerDisconnected): safe to resend.
          this.logger.warn(`Kafka producer was left disconnected; replacing it and resending the batch`);
          this.discardProducer(producer);
          continue;
        }
        const waiting = batch.filter((entry) => entry.state !== 'settled');
        if (waiting.length > 1 && isRefusal(error)) {
          // The broker looked at the batch and refused it (a message over a topic's own size
          // limit, a topic that went away...): nothing of it was stored. Which message was at
          // fault is not said, so each is sent again alone and gets its own answer; the
          // innocent ones are stored, only the faulty one fails.
          this.logger.warn(`Kafka refused a batch of ${waiting.length} messages (${describeKafkaError(error)}); sending them one by one`);
          for (const entry of waiting) await this.sendBatch([entry]);
          return;
        }
        this.afterFailure(producer, error, batch);
        return;
      }
    }
  }

  private afterFailure(producer: Producer, error: unknown, batch: Queued[]): void {
    const stuck = error instanceof StuckSend;
    if (stuck || isConnectivityFailure(error) || isProducerDisconnected(error)) {
      this.health.down('producer', `last send failed: ${describeKafkaError(error)}`);
      this.discardProducer(producer);
      this.scheduleRecovery();
    }
    const topicSet = new Set(batch.map((e) => e.request.topic));
    if (isUnknownTopic(error)) for (const topic of topicSet) this.onUnknownTopic(topic);
    const named = [...topicSet].slice(0, 3).map((t) => `"${t}"`);
    const topics = topicSet.size > 3 ? `${named.join(', ')} and ${topicSet.size - 3} more topics` : named.join(', ');
    this.fail(
      batch,
      stuck
        ? new BusgateError(
            'broker_timeout',
            `Kafka did not acknowledge ${topics} in ${this.settings.stuckAfterMs} ms; the outcome is unknown, the message may be stored`,
          )
        : toBusgateError(error, `producing to ${topics}`, true),
    );
  }

  private settle(batch: Queued[], results: RecordMetadata[]): void {
    const baseOffsets = new Map<string, bigint>();
    for (const result of results) {
      if (result.baseOffset !== undefined) baseOffsets.set(partitionKey(result.topicName, result.partition), BigInt(result.baseOffset));
    }
    // Within one partition of one request, records get consecutive offsets in request order.
    const nextIndex = new Map<string, bigint>();
    for (const entry of batch) {
      const { topic, record, id } = entry.request;
      const partition = this.partitionOf.get(record);
      const key = partition === undefined ? undefined : partitionKey(topic, partition);
      const base = key === undefined ? undefined : baseOffsets.get(key);
      if (partition === undefined || key === undefined || base === undefined) {
        this.settleOne(
          entry,
          undefined,
          new BusgateError('broker_timeout', `Kafka returned no acknowledgement for a message to "${topic}"; the outcome is unknown`),
        );
        continue;
      }
      const index = nextIndex.get(key) ?? 0n;
      nextIndex.set(key, index + 1n);
      this.settleOne(entry, { id, topic, partition, offset: (base + index).toString() });
    }
  }

  private fail(batch: Queued[], error: BusgateError): void {
    for (const entry of batch) this.settleOne(entry, undefined, error);
  }

  private settleOne(entry: Queued, receipt: KafkaReceipt | undefined, error?: BusgateError): void {
    if (entry.state === 'settled') return;
    entry.state = 'settled';
    entry.stopListening();
    if (receipt) entry.resolve(receipt);
    else entry.reject(error ?? new BusgateError('internal_error', 'Kafka send settled without a result'));
  }

  private withinStuckLimit(send: Promise<RecordMetadata[]>): Promise<RecordMetadata[]> {
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StuckSend()), this.settings.stuckAfterMs);
    });
    // The abandoned send may still settle later; nobody listens to it any more.
    send.catch(() => undefined);
    return Promise.race([send, stuck]).finally(() => clearTimeout(timer));
  }

  private currentProducer(): Promise<Producer> {
    if (this.producer) return Promise.resolve(this.producer);
    this.connecting ??= this.createProducer().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async createProducer(): Promise<Producer> {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: this.settings.allowAutoTopicCreation,
      createPartitioner: this.recordingPartitioner,
      retry: PRODUCER_RETRY,
    });
    try {
      await producer.connect();
    } catch (error) {
      await producer.disconnect().catch(() => undefined);
      this.health.down('producer', `cannot connect: ${describeKafkaError(error)}`);
      throw toBusgateError(error, 'connecting to the cluster');
    }
    if (this.closed) {
      await producer.disconnect().catch(() => undefined);
      throw pluginClosed('Kafka');
    }
    this.producer = producer;
    this.health.up('producer');
    return producer;
  }

  private discardProducer(producer: Producer): void {
    if (this.producer === producer) this.producer = undefined;
    void producer.disconnect().catch(() => undefined);
  }

  /** Reconnects in the background after a connectivity failure, so /ready recovers without traffic. */
  private scheduleRecovery(delayMs = RECOVERY_FIRST_DELAY_MS): void {
    if (this.closed || this.recoveryTimer) return;
    this.recoveryTimer = setTimeout(() => {
      this.recoveryTimer = undefined;
      if (this.closed || this.producer) return;
      this.currentProducer().catch(() => this.scheduleRecovery(Math.min(delayMs * 2, RECOVERY_MAX_DELAY_MS)));
    }, delayMs);
    this.recoveryTimer.unref();
  }

  private readonly recordingPartitioner: ICustomPartitioner = () => {
    const choose = Partitioners.DefaultPartitioner();
    return (args) => {
      const earlier = this.partitionOf.get(args.message);
      if (earlier !== undefined && earlier < args.partitionMetadata.length) return earlier;
      const partition = choose(args);
      this.partitionOf.set(args.message, partition);
      return partition;
    };
  };
}

class StuckSend extends Error {
  constructor() {
    super('send did not finish in time');
    this.name = 'StuckSend';
  }
}

function groupByTopic(batch: readonly Queued[]): { topic: string; messages: Message[] }[] {
  const byTopic = new Map<string, Message[]>();
  for (const { request } of batch) {
    const messages = byTopic.get(request.topic);
    if (messages) messages.push(request.record);
    else byTopic.set(request.topic, [request.record]);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

function partitionKey(topic: string, partition: number): string {
  return `${partition}\u0000${topic}`;
}

function notSent(topic: string): BusgateError {
  return new BusgateError('broker_timeout', `Kafka: the deadline passed before the message to "${topic}" was sent; it was not sent`);
}

function outcomeUnknown(topic: string): BusgateError {
  return new BusgateError(
    'broker_timeout',
    `Kafka did not acknowledge the message to "${topic}" before the deadline; the outcome is unknown, the message may be stored`,
  );
}
