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
