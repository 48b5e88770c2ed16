import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
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
  async cleanup(destinations) {
    const admin = new Kafka({ clientId: 'conformance-cleanup', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const topics = [...destinations, replyTopic].filter((topic) => existing.has(topic));
      if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
    } finally {
      await admin.disconnect();
    }
  },
});
