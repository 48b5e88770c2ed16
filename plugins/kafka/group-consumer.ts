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
import { crashFailsJoin } from './coordinator-moves.js';
import { HEADER_ID, inboundMessage } from './messages.js';

export interface GroupConsumerSpec {
  readonly topic: string;
  readonly groupId: string;
  readonly startAt: 'end' | 'earliest';
  /** The group id was made up for this member alone: it cannot have committed offsets. */
  readonly uniqueGroup: boolean;
  /** Where to start each listed partition instead (history reads); others start at `startAt`. */
  readonly seekTo?: ReadonlyMap<number, string>;
  readonly onMessage: (message: InboundMessage) => Promise<void>;
  /**
   * Handler calls left unsettled at once, over all partitions (egress). Above 1, messages of a
   * partition are handed out before earlier ones settle, and offsets are committed only up to the
   * first unsettled one; while any is held the member keeps heartbeating.
   */
  readonly maxInFlight?: number;
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

/** How often a member holding messages heartbeats (the group's session timeout is 6 s). */
const HOLD_HEARTBEAT_MS = 1000;

/**
 * Settled offsets are committed at least this often within a batch. kafkajs alone commits when a
 * batch ends, and a fetched batch can be hundreds of messages that take minutes to deliver: a
 * crash in between brought every one of them again.
 */
const COMMIT_EVERY_MS = 1000;

export class GroupConsumer implements Subscription {
  private readonly pausedTimers = new Set<NodeJS.Timeout>();
  private closing: Promise<void> | undefined;
  /** Handlers running now, over all partitions (bounded by spec.maxInFlight). */
  private running = 0;
  private readonly slotFreed = new Set<() => void>();
  /** Where a member of a new group started reading partitions without a committed offset ('end'). */
  private startedAt: ReadonlyMap<number, string> = new Map();
  private committing = false;

  private constructor(
    private readonly consumer: Consumer,
    private readonly admin: Admin,
    private readonly spec: GroupConsumerSpec,
    private readonly settings: GroupConsumerSettings,
    private readonly logger: Logger,
  ) {}

  static async start(kafka: Kafka, admin: Admin, spec: GroupConsumerSpec, settings: GroupConsumerSettings, logger: Logger): Promise<GroupConsumer> {
    let seekTo = new Map<number, string>();
    try {
      if (spec.seekTo !== undefined) seekTo = new Map(spec.seekTo);
      else if (spec.startAt === 'end') seekTo = await startOffsets(admin, spec);
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
    const member = new GroupConsumer(consumer, admin, spec, settings, logger);
    member.startedAt = seekTo;
    try {
      await member.run(seekTo);
    } catch (error) {
      await member.close();
      throw toBusgateError(error, `subscribing to "${spec.topic}" as group "${spec.groupId}"`);
    }
    return member;
  }

  /**
   * Consumer lag: per partition, the end offset minus the group's committed offset; without one,
   * minus where the group started reading: the end offset at its start for a new pubsub group
   * (what was published before it is not waiting for it), else the log's start.
   */
  async backlog(): Promise<number | undefined> {
    try {
      const [ends, committed] = await Promise.all([
        this.admin.fetchTopicOffsets(this.spec.topic),
        this.admin.fetchOffsets({ groupId: this.spec.groupId, topics: [this.spec.topic] }),
      ]);
      const done = new Map((committed[0]?.partitions ?? []).map(({ partition, offset }) => [partition, Number(offset)]));
      return ends.reduce((sum, { partition, high, low }) => {
        const at = done.get(partition);
        const from = at !== undefined && at >= 0 ? at : Number(this.startedAt.get(partition) ?? low);
        return sum + Math.max(0, Number(high) - from);
      }, 0);
    } catch {
      return undefined;
    }
  }

  /**
   * Commits what has settled if COMMIT_EVERY_MS passed, in the background: one commit at a time
   * (while the broker is away each would wait on the same reconnecting socket), and never holding
   * up heartbeats or the next message. A failure waits for the next try or the batch's end.
   */
  private commitSettled(commitOffsetsIfNecessary: () => Promise<void>): void {
    if (this.committing) return;
    this.committing = true;
    commitOffsetsIfNecessary()
      .catch(() => undefined)
      .finally(() => (this.committing = false));
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
        if (!joined) {
          if (crashFailsJoin(payload)) reject(payload.error);
          else
            this.logger.info(`Kafka consumer of "${topic}" (group ${this.spec.groupId}) waits for its group coordinator: ${describeKafkaError(payload.error)}`);
        } else if (payload.restart) {
          if (!lost)
            this.logger.warn(
              `Kafka consumer of "${topic}" (group ${this.spec.groupId}) lost the cluster; restarting until it is back: ${describeKafkaError(payload.error)}`,
            );
          lost = true;
        } else {
          this.logger.error(`Kafka consumer of "${topic}" (group ${this.spec.groupId}) stopped: ${describeKafkaError(payload.error)}`);
          this.spec.onFatalCrash?.(payload.error);
        }
      });
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [topic], fromBeginning: this.spec.startAt === 'earliest' });
    const window = this.spec.maxInFlight ?? 1;
    await this.consumer.run(
      window > 1
        ? {
            eachBatchAutoResolve: false,
            autoCommitInterval: COMMIT_EVERY_MS,
            partitionsConsumedConcurrently: Math.min(window, 64),
            eachBatch: (payload) => this.handleBatchConcurrently(payload, window),
          }
        : { eachBatchAutoResolve: false, autoCommitInterval: COMMIT_EVERY_MS, eachBatch: (payload) => this.handleBatch(payload) },
    );

    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new BusgateError('broker_timeout', `Kafka: joining consumer group "${this.spec.groupId}" took longer than ${this.settings.joinTimeoutMs} ms`)),
        this.settings.joinTimeoutMs,
      );
    });
    await Promise.race([assigned, late]).finally(() => clearTimeout(timer));
  }

  private async handleBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale, pause }: EachBatchPayload): Promise<void> {
    for (const record of batch.messages) {
      if (!isRunning() || isStale()) return;
      try {
        await this.spec.onMessage(withPosition(inboundMessage(batch.topic, record), batch.topic, batch.partition, record.offset));
      } catch (error) {
        this.logger.warn(
          `Kafka handler for "${batch.topic}" partition ${batch.partition} rejected offset ${record.offset}; ` +
            `redelivering in ${this.settings.redeliveryDelayMs} ms: ${describeKafkaError(error)}`,
        );
        this.rewind(batch.topic, batch.partition, record.offset, pause);
        return;
      }
      resolveOffset(record.offset);
      await heartbeat();
      this.commitSettled(commitOffsetsIfNecessary);
    }
  }

  /**
   * Up to `window` handlers at once (over all partitions), started in offset order. Offsets are
   * resolved as far as every earlier message has settled; the first rejection rewinds the
   * partition to it (later ones that succeeded meanwhile come again: at-least-once). While
   * handlers hold messages the member heartbeats, so a long retry does not cost its partitions.
   */
  private async handleBatchConcurrently(payload: EachBatchPayload, window: number): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale, pause } = payload;
    const states: { offset: string; state: 'running' | 'done' | 'failed' }[] = [];
    let resolvedUpTo = 0;
    let failed: string | undefined;
    const advance = (): void => {
      while (resolvedUpTo < states.length && states[resolvedUpTo]!.state === 'done') resolveOffset(states[resolvedUpTo++]!.offset);
      const stuck = states[resolvedUpTo];
      if (stuck?.state === 'failed') failed ??= stuck.offset;
    };
    const beat = async (): Promise<void> => {
      try {
        await heartbeat();
      } catch {
        // A rebalance is under way: kafkajs rejoins once this batch returns.
      }
      this.commitSettled(commitOffsetsIfNecessary);
    };
    for (const record of batch.messages) {
      if (!isRunning() || isStale() || failed !== undefined) break;
      while (this.running >= window) await this.untilSlotFree(HOLD_HEARTBEAT_MS).then(beat);
      const entry = { offset: record.offset, state: 'running' as 'running' | 'done' | 'failed' };
      states.push(entry);
      this.running += 1;
      void Promise.resolve()
        .then(() => this.spec.onMessage(withPosition(inboundMessage(batch.topic, record), batch.topic, batch.partition, record.offset)))
        .then(
          () => (entry.state = 'done'),
          (error: unknown) => {
            entry.state = 'failed';
            this.logger.warn(
              `Kafka handler for "${batch.topic}" partition ${batch.partition} rejected offset ${record.offset}; redelivering: ${describeKafkaError(error)}`,
            );
          },
        )
        .finally(() => {
          this.running -= 1;
          advance();
          for (const wake of [...this.slotFreed]) wake();
        });
    }
    // The batch ends when everything it started has settled; meanwhile the member stays alive.
    while (states.some((entry) => entry.state === 'running')) await this.untilSlotFree(HOLD_HEARTBEAT_MS).then(beat);
    advance();
    if (failed !== undefined) this.rewind(batch.topic, batch.partition, failed, pause);
    await beat();
  }

  /** The partition starts again at `offset` after a short pause (Kafka keeps its order). */
  private rewind(topic: string, partition: number, offset: string, pause: EachBatchPayload['pause']): void {
    this.consumer.seek({ topic, partition, offset });
    const resume = pause();
    const timer = setTimeout(() => {
      this.pausedTimers.delete(timer);
      resume();
    }, this.settings.redeliveryDelayMs);
    this.pausedTimers.add(timer);
  }

  private untilSlotFree(maxWaitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.slotFreed.delete(done);
        resolve();
      };
      const timer = setTimeout(done, maxWaitMs);
      this.slotFreed.add(done);
    });
  }
}

/** Egress names a record by topic, partition and offset unless busgate gave it an id. */
function withPosition(message: InboundMessage, topic: string, partition: number, offset: string): InboundMessage {
  // Object.assign, not `{ ...message, delivery }`: a field added after a leading spread costs
  // about 1 µs on node 20, and every consumed record (replies included) comes through here.
  return Object.assign({}, message, {
    delivery: {
      messageId: message.headers[HEADER_ID] ?? `${topic}-${partition}-${offset}`,
      position: { partition: String(partition), offset },
    },
  });
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
