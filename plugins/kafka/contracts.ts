/**
 * What the core's contract documents and CloudEvents mapping need to know of Kafka: the
 * CloudEvents Kafka binding (binary mode: `ce_` headers, `content-type` header), the receipt, and
 * the AsyncAPI Kafka bindings (0.5.0).
 */
import type { PluginFactory } from '../../core/plugins/contract.js';
import { HEADER_CORRELATION_ID, HEADER_REPLY_TO } from './messages.js';

type Declarations = Pick<PluginFactory, 'cloudEvents' | 'receiptSchema' | 'asyncApi'>;

export const kafkaContracts: Declarations = {
  cloudEvents: { attributePrefix: 'ce_' },
  receiptSchema: {
    type: 'object',
    required: ['topic', 'partition', 'offset'],
    properties: {
      topic: { type: 'string' },
      partition: { type: 'integer', minimum: 0 },
      offset: { type: 'string', pattern: '^[0-9]+$', description: 'decimal: Kafka offsets are 64-bit' },
    },
  },
  asyncApi: {
    protocol: 'kafka',
    bindings: (mode, _destination, options, hasKey) => ({
      ...(typeof options.group === 'string' && mode === 'point-to-point'
        ? { operation: { groupId: { type: 'string', enum: [options.group] }, bindingVersion: '0.5.0' } }
        : {}),
      message: { ...(hasKey ? { key: { type: 'string', description: "rendered from the route's key template" } } : {}), bindingVersion: '0.5.0' },
    }),
    reply: {
      description: `Produce the reply to the topic named by the request header ${HEADER_REPLY_TO}, with the request's ${HEADER_CORRELATION_ID} header copied and a content-type header.`,
      addressLocation: `$message.header#/${HEADER_REPLY_TO}`,
      correlationLocation: `$message.header#/${HEADER_CORRELATION_ID}`,
    },
  },
};
