import { randomUUID } from 'node:crypto';
import { deleteStreamsHolding } from '../support/nats-streams.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runConformance } from '../../conformance/index.js';

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

runConformance({
  name: 'nats',
  plugin: 'nats',
  options: () => ({ url }),
  unavailableOptions: () => ({ url: 'nats://127.0.0.1:1' }),
  require: (context) => requireBroker(context, 'nats', brokerEndpoints.nats()),
  destination: (mode) => `conformance.${mode.replace(/-/g, '')}.${randomUUID().slice(0, 8)}`,
  unsafeTokens: ['>', '$SYS', 'a>'],
  detectsNoResponders: true,
  // Work-queue streams created for point-to-point routes hold the destination subject.
  cleanup: (destinations) => deleteStreamsHolding(url, destinations),
});
