/**
 * Plugin caches keyed by destination stay bounded (found by going looking, issue #16): a templated
 * route lets clients render any number of destinations, and the NATS stream look-ups, the NATS
 * work-queue checks and the Kafka topic catalog's "missing" entries were kept for good, so a client
 * sending to ever new subjects or topics grew the daemon's memory without end.
 */
import { expect } from 'chai';
import { RetentionPolicy, type JetStreamManager } from '@nats-io/jetstream';
import type { Admin } from 'kafkajs';
import { BoundedMap, DESTINATION_CACHE_ENTRIES } from '../../core/brokers/kit.js';
import { TopicCatalog } from '../../plugins/kafka/topic-catalog.js';
import { StreamDirectory } from '../../plugins/nats/stream-directory.js';
import { WorkQueues } from '../../plugins/nats/work-queues.js';

const MANY = DESTINATION_CACHE_ENTRIES * 2;

/** The private caches' sizes: only a test looks inside. */
function sizeOf(owner: object, field: string): number {
  return (owner as Record<string, { size: number }>)[field]!.size;
}

describe('destination caches', () => {
  it('BoundedMap forgets its oldest entry past the limit, and keeps a re-set key where it was', () => {
    const map = new BoundedMap<string, number>(3);
    for (const [key, value] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
      ['b', 4],
      ['d', 5],
    ] as const)
      map.set(key, value);
    expect([...map.entries()]).to.deep.equal([
      ['b', 4],
      ['c', 3],
      ['d', 5],
    ]);
  });

  it('NATS: the subject -> stream look-ups of a persistent route stay bounded', async () => {
    // A stream capturing `events.>`: every subject a client renders is found.
    const manager = { streams: { find: () => Promise.resolve('EVENTS') } } as unknown as JetStreamManager;
    const directory = new StreamDirectory(manager);
    for (let index = 0; index < MANY; index += 1) expect(await directory.streamFor(`events.${index}`)).to.equal('EVENTS');
    expect(sizeOf(directory, 'lookups')).to.equal(DESTINATION_CACHE_ENTRIES);
  });

  it('NATS: the work-queue checks of a point-to-point route stay bounded', async () => {
    // An operator's work-queue stream capturing `jobs.>`: every subject a client renders is ready.
    const info = { config: { name: 'JOBS', retention: RetentionPolicy.Workqueue, subjects: ['jobs.>'] } };
    const manager = { streams: { info: () => Promise.resolve(info) } } as unknown as JetStreamManager;
    const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    const queues = new WorkQueues(manager, false, logger);
    for (let index = 0; index < MANY; index += 1) await queues.ensureStream('JOBS', `jobs.${index}`);
    expect(sizeOf(queues, 'streamsReady')).to.equal(DESTINATION_CACHE_ENTRIES);
  });

  it('Kafka: topics a client names that do not exist are not remembered without end', async () => {
    const unknown = Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' });
    const admin = { fetchTopicMetadata: () => Promise.reject(unknown) } as unknown as Admin;
    const catalog = new TopicCatalog(admin, { createTopics: false, newTopicPartitions: undefined });
    for (let index = 0; index < MANY; index += 1) {
      const refused = await catalog.ensure(`nope-${index}`).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).to.be.instanceOf(Error);
    }
    expect(sizeOf(catalog, 'missing')).to.equal(DESTINATION_CACHE_ENTRIES);
  });
});
