import { randomUUID } from 'node:crypto';
import { deleteRabbitObjects } from '../support/rabbitmq-cleanup.js';
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
  cleanup: (destinations) => deleteRabbitObjects(url, destinations, { exchanges: true }),
});
