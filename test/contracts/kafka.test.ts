/**
 * CloudEvents and batches on Kafka, read back by a plain kafkajs consumer and turned into events by
 * the SDK's own Kafka binding (binary mode: `ce_` headers, `content-type` header).
 */
import { randomUUID } from 'node:crypto';
import { Kafka as CloudEventsKafka } from 'cloudevents';
import { Kafka, logLevel } from 'kafkajs';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { Inbox, runContractConformance } from './broker-suite.js';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim());
const kafka = new Kafka({ clientId: 'contracts-test', brokers, logLevel: logLevel.NOTHING });

runContractConformance({
  name: 'kafka',
  plugin: 'kafka',
  options: () => ({ brokers, createTopics: true }),
  require: (context) => requireBroker(context, 'kafka', brokerEndpoints.kafka()),
  mode: 'pubsub',
  destination: () => `contracts-${randomUUID().slice(0, 8)}`,
  readTimeoutMs: 20_000,
  carriesKey: true,
  async open(topic) {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const consumer = kafka.consumer({ groupId: `contracts-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const inbox = new Inbox();
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {}))
          if (value !== undefined) headers[name] = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
        inbox.push({ payload: message.value ?? Buffer.alloc(0), headers, contentType: headers['content-type'], key: message.key?.toString('utf8') });
      },
    });
    return { take: (count, timeoutMs) => inbox.take(count, timeoutMs), close: () => consumer.disconnect() };
  },
  toEvent(record) {
    const event = CloudEventsKafka.toEvent({ key: record.key ?? '', value: record.payload, headers: record.headers, body: record.payload } as never);
    if (Array.isArray(event)) throw new Error('expected one event');
    return event as never;
  },
  async cleanup(topics) {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [...topics], timeout: 10_000 }).catch(() => undefined);
    } finally {
      await admin.disconnect();
    }
  },
});
