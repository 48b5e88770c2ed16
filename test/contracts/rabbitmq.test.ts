/**
 * CloudEvents and batches on RabbitMQ, read back by a plain amqplib consumer. The AMQP binding puts
 * attributes in application properties named `cloudEvents:NAME` (AMQP 0-9-1: the headers table)
 * and the data content type in the content-type property. The SDK has no AMQP binding, so the
 * attributes are taken from there and the SDK's CloudEvent checks the event (strict mode).
 */
import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { CloudEvent } from 'cloudevents';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { Inbox, runContractConformance } from './broker-suite.js';

const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const PREFIX = 'cloudEvents:';

runContractConformance({
  name: 'rabbitmq',
  plugin: 'rabbitmq',
  options: () => ({ url, declare: true }),
  require: (context) => requireBroker(context, 'rabbitmq', brokerEndpoints.rabbitmq()),
  mode: 'point-to-point',
  destination: () => `contracts-${randomUUID().slice(0, 8)}`,
  async open(destination) {
    const connection = await amqplib.connect(url);
    const channel = await connection.createChannel();
    await channel.assertQueue(destination, { durable: true });
    const inbox = new Inbox();
    await channel.consume(
      destination,
      (message) => {
        if (message === null) return;
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.properties.headers ?? {}))
          headers[name] = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
        inbox.push({ payload: message.content, headers, contentType: message.properties.contentType as string | undefined });
      },
      { noAck: true },
    );
    return {
      take: (count, timeoutMs) => inbox.take(count, timeoutMs),
      close: async () => {
        await channel.deleteQueue(destination).catch(() => undefined);
        await connection.close();
      },
    };
  },
  toEvent(record) {
    const attributes: Record<string, string> = {};
    for (const [name, value] of Object.entries(record.headers)) if (name.startsWith(PREFIX)) attributes[name.slice(PREFIX.length)] = value;
    const json = record.contentType?.startsWith('application/json') ?? false;
    const data: unknown = json ? JSON.parse(record.payload.toString('utf8')) : record.payload;
    return new CloudEvent<unknown>({ ...attributes, datacontenttype: record.contentType, data }, true);
  },
});
