import { randomUUID } from 'node:crypto';
import { deleteKafkaTopics } from '../support/kafka-cleanup.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runEgressConformance } from './suite.js';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim());

runEgressConformance({
  name: 'kafka',
  plugin: 'kafka',
  // createTopics: the suite's topics are created on first use, as in development.
  options: () => ({ brokers, createTopics: true }),
  require: (context) => requireBroker(context, 'kafka', brokerEndpoints.kafka()),
  destination: () => `egress-${randomUUID().slice(0, 8)}`,
  // Group joins take seconds.
  deliveryTimeoutMs: 30_000,
  sharedGroups: true,
  cleanup: (destinations) => deleteKafkaTopics(brokers, destinations),
});
