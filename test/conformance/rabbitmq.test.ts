import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runConformance } from '../../conformance/index.js';

const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

runConformance({
  name: 'rabbitmq',
  plugin: 'rabbitmq',
  // declare: the suite's exchanges and queues are created on first use, as in development.
  options: () => ({ url, declare: true }),
  unavailableOptions: () => ({ url: 'amqp://guest:guest@127.0.0.1:1' }),
  require: (context) => requireBroker(context, 'rabbitmq', brokerEndpoints.rabbitmq()),
  destination: (mode) => `conformance-${mode}-${randomUUID().slice(0, 8)}`,
  unsafeTokens: ['a#', 'amq.x'],
  detectsNoResponders: true,
  async cleanup(destinations) {
    const connection = await amqplib.connect(url);
    try {
      for (const name of destinations) {
        // Each on its own channel: deleting what does not exist closes the channel.
        const channel = await connection.createChannel();
        channel.on('error', () => undefined);
        await channel.deleteQueue(name).catch(() => undefined);
        const again = await connection.createChannel();
        again.on('error', () => undefined);
        await again.deleteExchange(name).catch(() => undefined);
      }
    } finally {
      await connection.close().catch(() => undefined);
    }
  },
});
