/** What an operator does with RabbitMQ before busgate serves: declare the queues (amqplib directly). */
import amqplib from 'amqplib';
import type { QueueType } from '../../../plugins/rabbitmq/options.js';

export async function declareQueues(url: string, queues: readonly string[], type: QueueType): Promise<void> {
  const connection = await amqplib.connect(url);
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': type } });
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** The queue's ready-message count as the broker itself reports it, or undefined when it does not exist. */
export async function queueDepth(url: string, queue: string): Promise<number | undefined> {
  const connection = await amqplib.connect(url);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    return (await channel.checkQueue(queue)).messageCount;
  } catch {
    return undefined;
  } finally {
    await connection.close().catch(() => undefined);
  }
}
