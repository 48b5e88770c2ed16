import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runEgressConformance } from './suite.js';

const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

runEgressConformance({
  name: 'rabbitmq',
  plugin: 'rabbitmq',
  // declare: the suite's queues are created on first use, as in development.
  options: () => ({ url, declare: true }),
  require: (context) => requireBroker(context, 'rabbitmq', brokerEndpoints.rabbitmq()),
  destination: () => `egress-${randomUUID().slice(0, 8)}`,
  sharedGroups: true,
  async cleanup(destinations) {
    const connection = await amqplib.connect(url);
    try {
      for (const name of destinations) {
        // Each on its own channel: deleting what does not exist closes the channel.
        const channel = await connection.createChannel();
        channel.on('error', () => undefined);
        await channel.deleteQueue(name).catch(() => undefined);
      }
    } finally {
      await connection.close().catch(() => undefined);
    }
  },
});
