import { randomUUID } from 'node:crypto';
import { deleteRabbitObjects } from '../support/rabbitmq-cleanup.js';
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
  cleanup: (destinations) => deleteRabbitObjects(url, destinations, { exchanges: true }),
});
