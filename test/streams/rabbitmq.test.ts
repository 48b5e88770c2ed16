import { randomUUID } from 'node:crypto';
import { deleteRabbitObjects } from '../support/rabbitmq-cleanup.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runStreamConformance } from './suite.js';

const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

// A pubsub source is an exchange; each stream client gets its own exclusive queue bound to it.
runStreamConformance({
  name: 'rabbitmq',
  plugin: 'rabbitmq',
  options: () => ({ url, declare: true }),
  require: (context) => requireBroker(context, 'rabbitmq', brokerEndpoints.rabbitmq()),
  destination: () => `streams-${randomUUID().slice(0, 8)}`,
  unroutableWithoutSubscribers: true,
  cleanup: (destinations) => deleteRabbitObjects(url, destinations, { exchanges: true }),
});
