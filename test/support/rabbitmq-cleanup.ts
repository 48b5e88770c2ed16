/** Removes the queues (and, when asked, exchanges) a test created on the shared RabbitMQ. */
import amqplib from 'amqplib';

export async function deleteRabbitObjects(url: string, names: readonly string[], options: { exchanges: boolean }): Promise<void> {
  const connection = await amqplib.connect(url);
  try {
    for (const name of names) {
      // Each on its own channel: deleting what does not exist closes the channel.
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await channel.deleteQueue(name).catch(() => undefined);
      if (!options.exchanges) continue;
      const again = await connection.createChannel();
      again.on('error', () => undefined);
      await again.deleteExchange(name).catch(() => undefined);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}
