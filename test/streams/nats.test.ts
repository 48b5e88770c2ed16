import { randomUUID } from 'node:crypto';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runStreamConformance } from './suite.js';

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

// Core NATS subjects: live only, nothing to clean up.
runStreamConformance({
  name: 'nats',
  plugin: 'nats',
  options: () => ({ url }),
  require: (context) => requireBroker(context, 'nats', brokerEndpoints.nats()),
  destination: () => `streams.${randomUUID().slice(0, 8)}`,
});
