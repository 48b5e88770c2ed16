import { randomUUID } from 'node:crypto';
import { deleteKafkaTopics } from '../support/kafka-cleanup.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runPullConformance } from './suite.js';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim());

runPullConformance({
  name: 'kafka',
  plugin: 'kafka',
  // createTopics: the suite's topics, and each instance's control topic, are created on first use.
  options: () => ({ brokers, createTopics: true }),
  require: (context) => requireBroker(context, 'kafka', brokerEndpoints.kafka()),
  destination: () => `pulls-${randomUUID().slice(0, 8)}`,
  groups: true,
  shared: true,
  // Group joins and rewinds take seconds.
  slowMs: 30_000,
  pubsub: {},
  cleanup: (destinations) => deleteKafkaTopics(brokers, destinations),
});
