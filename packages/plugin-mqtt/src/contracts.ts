/**
 * What busgate's contract features need to know of MQTT: the CloudEvents MQTT 5 binding (binary
 * mode: each attribute a User Property named exactly as the attribute, the data content type in
 * the Content Type property), the receipt, and the AsyncAPI MQTT bindings (0.2.0: QoS 1, no retain).
 */
import type { ContractDeclarations } from 'busgate';

export const mqttContracts: ContractDeclarations = {
  cloudEvents: { attributePrefix: '' },
  receiptSchema: {
    type: 'object',
    required: ['topic'],
    properties: {
      topic: { type: 'string' },
      subscribed: { type: 'boolean', description: 'pubsub: false when the broker said nobody subscribes (PUBACK 0x10)' },
    },
  },
  asyncApi: {
    protocol: 'mqtt',
    bindings: () => ({ operation: { qos: 1, retain: false, bindingVersion: '0.2.0' } }),
    reply: {
      description: "Publish the reply to the request's MQTT 5 Response Topic, with its Correlation Data copied and a Content Type.",
    },
  },
};
