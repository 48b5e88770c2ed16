/** Test clean-up on the shared brokers: what a suite made under its unique prefix goes away. */
import amqplib from 'amqplib';
import kafkajs from 'kafkajs';

/** Deletes every Kafka topic whose name starts with `prefix`. */
export async function deleteKafkaTopics(brokers: string, prefix: string): Promise<void> {
  const admin = new kafkajs.Kafka({ brokers: brokers.split(','), logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}

/** Runs `work` on a channel of a short-lived connection. */
export async function onRabbitChannel<T>(url: string, work: (channel: amqplib.Channel) => Promise<T>): Promise<T> {
  const connection = await amqplib.connect(url);
  try {
    return await work(await connection.createChannel());
  } finally {
    await connection.close();
  }
}

/** Deletes these RabbitMQ queues (a missing one is fine). */
export function deleteRabbitQueues(url: string, queues: readonly string[]): Promise<void> {
  return onRabbitChannel(url, async (channel) => {
    for (const queue of queues) await channel.deleteQueue(queue);
  });
}
