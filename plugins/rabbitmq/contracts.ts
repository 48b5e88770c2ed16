/**
 * What the core's contract documents and CloudEvents mapping need to know of RabbitMQ: the
 * CloudEvents AMQP binding (binary mode: application properties `cloudEvents:NAME`, which AMQP
 * 0-9-1 carries in the headers table; the content-type property), the receipt, and the AsyncAPI
 * AMQP bindings (0.3.0).
 */
import type { PluginFactory } from '../../core/plugins/contract.js';

type Declarations = Pick<PluginFactory, 'cloudEvents' | 'receiptSchema' | 'asyncApi'>;

export const rabbitmqContracts: Declarations = {
  cloudEvents: { attributePrefix: 'cloudEvents:' },
  receiptSchema: {
    type: 'object',
    properties: {
      exchange: { type: 'string', description: 'pubsub: the exchange' },
      routingKey: { type: 'string' },
      queue: { type: 'string', description: 'point-to-point: the durable queue' },
    },
  },
  asyncApi: {
    protocol: 'amqp',
    bindings: (mode, destination, options) => ({
      channel:
        mode === 'pubsub'
          ? {
              is: 'routingKey',
              exchange: {
                name: destination.slice(0, 255),
                type: typeof options.exchangeType === 'string' ? options.exchangeType : 'topic',
                durable: true,
                autoDelete: false,
              },
              bindingVersion: '0.3.0',
            }
          : {
              is: 'queue',
              queue: { name: destination.slice(0, 255), durable: mode === 'point-to-point', exclusive: false, autoDelete: false },
              bindingVersion: '0.3.0',
            },
      // Persistent, mandatory (unroutable is an error, not a silent drop), with a timestamp.
      operation: { deliveryMode: 2, mandatory: true, timestamp: true, bindingVersion: '0.3.0' },
    }),
    reply: {
      description:
        "Send the reply to the queue named by the request's reply_to property (RabbitMQ direct reply-to), on the connection that consumed the request, with the request's correlation_id property and a content_type.",
    },
  },
};
