/**
 * A kafkajs consumer-group member for one topic, used by subscribe(), respond() and the reply
 * router. start() resolves only once the group has assigned partitions, and:
 *
 * - partitions the group has no committed offset for start at `startAt`. For 'end' the topic's
 *   end offsets are read *before* joining and the member seeks to them once assigned; kafkajs's
 *   own "latest" is resolved lazily at the first fetch, after start() would have resolved, so a
 *   message produced in between would be skipped.
 * - the handler's promise is the acknowledgement: offsets are committed only up to the last
 *   message whose handler resolved. A rejection rewinds the partition to that message and pauses
 *   it briefly, so the message is delivered again (Kafka keeps per-partition order, so the
 *   partition waits; other partitions go on).
 */
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from '../../core/plugins/contract.js';
import { BusgateError } from '../../core/errors.js';
import type { InboundMessage, Subscription } from '../../core/plugins/contract.js';
import { describeKafkaError, toBusgateError } from './errors.js';
import { inboundMessage } from './messages.js';

export interface GroupConsumerSpec {
  readonly topic: string;
  readonly groupId: string;
  readonly startAt: 'end' | 'earliest';
  /** The group id was made up for this member alone: it cannot have committed offsets. */
  readonly uniqueGroup: boolean;
  readonly onMessage: (message: InboundMessage) => Promise<void>;
  /** kafkajs gave up on the consumer for good (it restarts by itself after retriable errors). */
  readonly onFatalCrash?: (error: Error) => void;
}

export interface GroupConsumerSettings {
  readonly joinTimeoutMs: number;
  readonly redeliveryDelayMs: number;
  readonly closeTimeoutMs: number;
}

/** Restarts after a crash back off from 500 ms, so a down broker is not hammered by every consumer. */
const CONSUMER_RETRY = { retries: 5, initialRetryTime: 500, maxRetryTime: 5000 };

export class GroupConsumer implements Subscription {
  private readonly pausedTimers = new Set<NodeJS.Timeout>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly consumer: Consumer,
    private readonly spec: GroupConsumerSpec,
    private readonly settings: GroupConsumerSettings,
    private readonly logger: Logger,
  ) {}

  static async start(
    kafka: Kafka,
    admin: Admin,
    spec: GroupConsumerSpec,
    settings: GroupConsumerSettings,
    logger: Logger,
  ): Promise<GroupConsumer> {
    let seekTo = new Map<number, string>();
    try {
      if (spec.startAt === 'end') seekTo = await startOffsets(admin, spec);
    } catch (error) {
      throw toBusgateError(error, `reading the offsets of "${spec.topic}" for group "${spec.groupId}"`);
    }
    const consumer = kafka.consumer({
      groupId: spec.groupId,
      allowAutoTopicCreation: false,
      // Short fetch waits and heartbeats: a joining member waits for the others to notice the
      // rebalance, which they do only between fetches; and disconnect() waits for the fetch.
      maxWaitTimeInMs: 500,
      heartbeatInterval: 1000,
      // The broker's minimum. A member that vanished (crash, lost cluster) holds up the group's
      // next rebalance until its session expires, and a consumer that restarts comes back as a
      // new member, so after a broker restart every group waits this long once.
      sessionTimeout: 6000,
      rebalanceTimeout: 10_000,
      retry: CONSUMER_RETRY,
    });
    const member = new GroupConsumer(consumer, spec, settings, logger);
    try {
      await member.run(seekTo);
    } catch (error) {
      await member.close();
      throw toBusgateError(error, `subscribing to "${spec.topic}" as group "${spec.groupId}"`);
    }
    return member;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const timer of this.pausedTimers) clearTimeout(timer);
      this.pausedTimers.clear();
      // disconnect() waits for the running handler; a handler that never settles must not hang close().
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.settings.closeTimeoutMs);
      });
      await Promise.race([this.consumer.disconnect().catch(() => undefined), gaveUp]);
      clearTimeout(timer);
    })();
    return this.closing;
  }

  private async run(seekTo: ReadonlyMap<number, string>): Promise<void> {
    const { topic } = this.spec;
    const { GROUP_JOIN, CRASH } = this.consumer.events;
    let joined = false;
    let lost = false;
    const assigned = new Promise<void>((resolve, reject) => {
      this.consumer.on(GROUP_JOIN, ({ payload }) => {
        if (lost) this.logger.info(`Kafka consumer of "${topic}" (group ${this.spec.groupId}) is back`);
        lost = false;
        if (joined) return; // rejoins after a rebalance or restart resume from committed offsets
        joined = true;
        for (const partition of payload.memberAssignment[topic] ?? []) {
          const offset = seekTo.get(partition);
          if (offset !== undefined) this.consumer.seek({ topic, partition, offset });
        }
        resolve();
      });
      this.consumer.on(CRASH, ({ payload }) => {
        if (!joined) reject(payload.error);
        else if (payload.restart) {
          if (!lost) this.logger.warn(`Kafka consumer of "${topic}" (group ${this.spec.groupId}) lost the cluster; restarting until it is back: ${describeKafkaError(payload.error)}`);
          lost = true;
        } else {
          this.logger.error(`Kafka consumer of "${topic}" (group ${this.spec.groupId}) stopped: ${describeKafkaError(payload.error)}`);
          this.spec.onFatalCrash?.(payload.error);
        }
      });
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [topic], fromBeginning: this.spec.startAt === 'earliest' });
    await this.consumer.run({ eachBatchAutoResolve: false, eachBatch: (payload) => this.handleBatch(payload) });

    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BusgateError('broker_timeout', `Kafka: joining consumer group "${this.spec.groupId}" took longer than ${this.settings.joinTimeoutMs} ms`)),
        this.settings.joinTimeoutMs,
      );
    });
    await Promise.race([assigned, late]).finally(() => clearTimeout(timer));
  }

  private async handleBatch({ batch, resolveOffset, heartbeat, isRunning, isStale, pause }: EachBatchPayload): Promise<void> {
    for (const record of batch.messages) {
      if (!isRunning() || isStale()) return;
      try {
        await this.spec.onMessage(inboundMessage(batch.topic, record));
      } catch (error) {
        this.logger.warn(
          `Kafka handler for "${batch.topic}" partition ${batch.partition} rejected offset ${record.offset}; ` +
            `redelivering in ${this.settings.redeliveryDelayMs} ms: ${describeKafkaError(error)}`,
        );
        this.consumer.seek({ topic: batch.topic, partition: batch.partition, offset: record.offset });
        const resume = pause();
        const timer = setTimeout(() => {
          this.pausedTimers.delete(timer);
          resume();
        }, this.settings.redeliveryDelayMs);
        this.pausedTimers.add(timer);
        return;
      }
      resolveOffset(record.offset);
      await heartbeat();
    }
  }
}

async function startOffsets(admin: Admin, spec: GroupConsumerSpec): Promise<Map<number, string>> {
  const ends = await admin.fetchTopicOffsets(spec.topic);
  const seekTo = new Map(ends.map(({ partition, high }) => [partition, high]));
  if (!spec.uniqueGroup) {
    const committed = await admin.fetchOffsets({ groupId: spec.groupId, topics: [spec.topic] });
    for (const { partitions } of committed) {
      for (const { partition, offset } of partitions) if (Number(offset) >= 0) seekTo.delete(partition);
    }
  }
  return seekTo;
}
