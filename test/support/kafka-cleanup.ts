/** Deletes the topics a test created on the shared Kafka (those that exist). */
import { Kafka, logLevel } from 'kafkajs';

export async function deleteKafkaTopics(brokers: readonly string[], names: readonly string[]): Promise<void> {
  const admin = new Kafka({ clientId: 'test-cleanup', brokers: [...brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const topics = names.filter((topic) => existing.has(topic));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Creates topics up front, as an operator would, and waits until the cluster reports their
 * leaders. A topic created on first use by a consumer changes the group's metadata after it has
 * joined, and the rebalance that follows can hand uncommitted messages to the other member.
 */
export async function createKafkaTopics(brokers: readonly string[], names: readonly string[], numPartitions = 2): Promise<void> {
  const admin = new Kafka({ clientId: 'test-setup', brokers: [...brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const topics = names.filter((topic) => !existing.has(topic)).map((topic) => ({ topic, numPartitions }));
    if (topics.length > 0) await admin.createTopics({ topics, waitForLeaders: true });
    // Right after creation a broker may still answer "does not host this topic-partition" (a
    // retriable error) for a moment, even after waitForLeaders: ask again until it knows.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await admin.fetchTopicMetadata({ topics: [...names] });
        break;
      } catch (error) {
        if (attempt >= 20 || (error as { retriable?: unknown }).retriable !== true) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } finally {
    await admin.disconnect();
  }
}
