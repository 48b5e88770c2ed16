import { randomUUID } from 'node:crypto';
import { deleteKafkaTopics } from '../support/kafka-cleanup.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runConformance } from '../../conformance/index.js';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim());
const replyTopic = `conformance-replies-${randomUUID().slice(0, 8)}`;

runConformance({
  name: 'kafka',
  plugin: 'kafka',
  // createTopics: the suite's topics (and the reply topic) are created on first use, as in development.
  options: () => ({ brokers, createTopics: true, replyTopic }),
  unavailableOptions: () => ({ brokers: ['127.0.0.1:1'] }),
  require: (context) => requireBroker(context, 'kafka', brokerEndpoints.kafka()),
  destination: (mode) => `conformance-${mode}-${randomUUID().slice(0, 8)}`,
  unsafeTokens: ['$SYS', 'a#', 'a/b'],
  // Kafka cannot tell that nobody consumes a topic: a request without responder times out.
  detectsNoResponders: false,
  deliveryTimeoutMs: 10_000,
  cleanup: (destinations) => deleteKafkaTopics(brokers, [...destinations, replyTopic]),
});
