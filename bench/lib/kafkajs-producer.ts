/**
 * A kafkajs producer set up as the Kafka plugin's (plugins/kafka/batching-producer.ts): one
 * request in flight, so the idempotent producer keeps its sequence numbers in order, and no
 * topic created by a send.
 */
import kafkajs from 'kafkajs';

export async function connectedProducer(kafka: kafkajs.Kafka, idempotent = true): Promise<kafkajs.Producer> {
  const producer = kafka.producer({
    idempotent,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return producer;
}
