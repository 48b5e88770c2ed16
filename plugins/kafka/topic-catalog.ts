/**
 * Which topics exist. Every message is checked against it before it joins a produce batch: one
 * produce request carries many topics, and kafkajs fails the whole request when one topic is
 * unknown, so a single bad route would otherwise fail its neighbours' messages too.
 */
import type { Admin, PartitionMetadata } from 'kafkajs';
import { BusgateError } from '../../core/errors.js';
import { BoundedMap } from '../../core/brokers/kit.js';
import { isUnknownTopic, toBusgateError } from './errors.js';

/** How long "does not exist" is remembered, so a flood of bad requests is not a flood of lookups. */
const MISSING_TTL_MS = 1000;

export interface TopicCatalogOptions {
  /** Create missing topics instead of refusing them (development and tests). */
  readonly createTopics: boolean;
  /** Partitions of created topics; undefined: the broker's num.partitions. */
  readonly newTopicPartitions: number | undefined;
}

export class TopicCatalog {
  // Bounded: a templated route lets clients name any number of topics, and a missing one was
  // remembered for good (its TTL was only checked, never expired); a forgotten entry is looked up again.
  private readonly known = new BoundedMap<string, true>();
  private readonly missing = new BoundedMap<string, number>();
  private readonly lookups = new Map<string, Promise<void>>();

  constructor(
    private readonly admin: Admin,
    private readonly options: TopicCatalogOptions,
  ) {}

  ensure(topic: string): Promise<void> {
    if (this.known.has(topic)) return Promise.resolve();
    const missingUntil = this.missing.get(topic);
    if (missingUntil !== undefined && missingUntil > Date.now()) return Promise.reject(this.missingError(topic));
    let lookup = this.lookups.get(topic);
    if (!lookup) {
      lookup = this.lookUp(topic).finally(() => this.lookups.delete(topic));
      this.lookups.set(topic, lookup);
    }
    return lookup;
  }

  /**
   * Read-only look-up for `busgate check --live`: the topic's partitions, or undefined when it does
   * not exist. The same metadata request as the check before a send (the admin client never lets the
   * broker auto-create a topic), but it creates nothing even with createTopics, and leaves the
   * known/missing caches as they were.
   */
  async describe(topic: string): Promise<readonly PartitionMetadata[] | undefined> {
    try {
      const { topics } = await this.admin.fetchTopicMetadata({ topics: [topic] });
      return topics.find((found) => found.name === topic)?.partitions;
    } catch (error) {
      if (isUnknownTopic(error)) return undefined;
      throw toBusgateError(error, `looking up topic "${topic}"`);
    }
  }

  /** After the broker said a topic is unknown (deleted since it was checked). */
  forget(topic: string): void {
    this.known.delete(topic);
  }

  private async lookUp(topic: string): Promise<void> {
    try {
      if (this.options.createTopics) {
        await this.admin.createTopics({
          topics: [{ topic, numPartitions: this.options.newTopicPartitions ?? -1 }],
          waitForLeaders: true,
        });
      } else {
        await this.admin.fetchTopicMetadata({ topics: [topic] });
      }
    } catch (error) {
      if (!isUnknownTopic(error)) throw toBusgateError(error, `looking up topic "${topic}"`);
      this.missing.set(topic, Date.now() + MISSING_TTL_MS);
      throw this.missingError(topic, error);
    }
    this.missing.delete(topic);
    this.known.set(topic, true);
  }

  private missingError(topic: string, cause?: unknown): BusgateError {
    return new BusgateError('broker_rejected', missingTopicMessage(topic), { cause });
  }
}

/** What a send to a missing topic answers, and what `check --live` reports for it. */
export function missingTopicMessage(topic: string, role: 'topic' | 'reply topic' = 'topic'): string {
  return `Kafka ${role} "${topic}" does not exist; create it, or set the broker option createTopics for development`;
}
