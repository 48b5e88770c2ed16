/**
 * Topics whose metadata may still be spreading through the cluster. In a multi-broker cluster a
 * topic exists once the controller has it, but each broker learns of it a moment later (under
 * load, seconds later); until then that broker answers UNKNOWN_TOPIC_OR_PARTITION. kafkajs asks
 * whichever broker it is connected to: its `createTopics({ waitForLeaders: true })` gives up on
 * that answer (it retries only LEADER_NOT_AVAILABLE, tulios/kafkajs#815) although the topic was
 * created, and the first produce to a topic made a moment ago can meet the same answer. Both
 * were answered "topic does not exist" (broker_rejected), which tells a client not to retry.
 *
 * A topic busgate has seen exist (created it, or found it in metadata) is "settling" for a while:
 * an unknown-topic answer about it then means "not everywhere yet", the send is tried again
 * until the caller's deadline, and what is left is a retryable 503, never a refusal.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BoundedMap } from '../../core/brokers/kit.js';
import { BusgateError } from '../../core/errors.js';
import { isUnknownTopic } from './errors.js';

/** How long after busgate last saw a topic exist an unknown-topic answer is taken for lagging metadata. */
export const SETTLING_MS = 30_000;
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 1000;

export class SettlingTopics {
  // Bounded like the topic catalog: clients of a templated route can name any number of topics.
  private readonly seenAt = new BoundedMap<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** busgate created `topic`, or a broker's metadata had it. */
  seen(topic: string): void {
    this.seenAt.delete(topic); // re-inserted last, so the bound drops the longest-unseen first
    this.seenAt.set(topic, this.now());
  }

  /** Whether an unknown-topic answer about `topic` may be lagging metadata rather than a missing topic. */
  isSettling(topic: string): boolean {
    const at = this.seenAt.get(topic);
    return at !== undefined && this.now() - at <= SETTLING_MS;
  }

  /**
   * Runs `attempt` (a send that was not stored when it failed with an unknown topic: the broker
   * refused it unread) again while the topic is settling and the signal allows, with a short
   * backoff. kafkajs asks for fresh metadata on each try (an unknown topic is dropped from its
   * target topics). Other errors, and unknown topics busgate never saw, pass through unchanged.
   */
  async retry<T>(topic: string, signal: AbortSignal, attempt: () => Promise<T>): Promise<T> {
    let delayMs = FIRST_RETRY_MS;
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        if (!isUnknownTopic(error) || !this.isSettling(topic)) throw error;
        if (signal.aborted) throw notEverywhereYet(topic, error);
        try {
          await sleep(delayMs, undefined, { signal });
        } catch {
          throw notEverywhereYet(topic, error);
        }
        delayMs = Math.min(delayMs * 2, MAX_RETRY_MS);
      }
    }
  }
}

/** The answer once the deadline passed with the topic still unknown to the broker asked: retry later. */
function notEverywhereYet(topic: string, cause: unknown): BusgateError {
  return new BusgateError(
    'broker_unavailable',
    `Kafka: topic "${topic}" exists but the broker asked has not learned of it yet (new topic, metadata still spreading); it was not stored, retry`,
    { cause },
  );
}
