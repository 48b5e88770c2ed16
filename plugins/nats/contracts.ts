/**
 * What the core's contract documents and CloudEvents mapping need to know of NATS: the
 * CloudEvents NATS binding (binary mode: `ce-` headers, as over HTTP), the receipt, and the
 * AsyncAPI protocol (the NATS bindings have nothing to say about a publisher).
 */
import type { PluginFactory } from '../../core/plugins/contract.js';

type Declarations = Pick<PluginFactory, 'cloudEvents' | 'receiptSchema' | 'asyncApi'>;

export const natsContracts: Declarations = {
  cloudEvents: { attributePrefix: 'ce-', percentEncoded: true },
  receiptSchema: {
    type: 'object',
    required: ['subject'],
    properties: {
      subject: { type: 'string' },
      persisted: { type: 'boolean', description: 'false: core NATS, at most once' },
      stream: { type: 'string', description: 'JetStream: the stream that stored it' },
      seq: { type: 'integer' },
      duplicate: { type: 'boolean', description: 'JetStream dropped it as a repeat of the same id' },
    },
  },
  asyncApi: {
    protocol: 'nats',
    reply: {
      description:
        "Publish the reply to the request's reply subject (msg.respond()); the subject is the correlation. Set a content-type header. A request nobody listens to gets no_responders at once.",
    },
  },
};
