import { randomUUID } from 'node:crypto';
import { deleteRabbitObjects } from '../support/rabbitmq-cleanup.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runPullConformance } from './suite.js';

const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

// Point-to-point sources are queues (declare: created on first use, as in development); the
// queue is what the instances share, the group only names the pull path's consumer.
runPullConformance({
  name: 'rabbitmq',
  plugin: 'rabbitmq',
  options: () => ({ url, declare: true }),
  require: (context) => requireBroker(context, 'rabbitmq', brokerEndpoints.rabbitmq()),
  destination: () => `pulls-${randomUUID().slice(0, 8)}`,
  groups: true,
  shared: true,
  // A pubsub source is an exchange; the group is a durable queue bound to it.
  pubsub: {},
  cleanup: (destinations) => deleteRabbitObjects(url, destinations, { exchanges: true }),
});
