/** What an operator does with RabbitMQ before busgate serves: declare the queues (amqplib directly). */
import amqplib from 'amqplib';
import type { QueueType } from '../../../plugins/rabbitmq/options.js';
import { flushDefinitions } from '../../../plugins/rabbitmq/topology.js';

/**
 * Declares the queues, then makes the node write the declarations to disk (the plugin's own
 * barrier, topology.ts): an operator's definitions are followed by later metadata changes, and
 * without one a kill -9 can still undo them minutes later (support/rabbitmq-mnesia.ts).
 */
export async function declareQueues(url: string, queues: readonly string[], type: QueueType): Promise<void> {
  const connection = await amqplib.connect(url);
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': type } });
    await flushDefinitions(connection);
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
