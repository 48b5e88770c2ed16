import { randomUUID } from 'node:crypto';
import { deleteStreamsHolding } from '../support/nats-streams.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runPullConformance } from './suite.js';

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

// Point-to-point sources are work-queue streams (busgate creates them); the group is their durable.
runPullConformance({
  name: 'nats',
  plugin: 'nats',
  options: () => ({ url }),
  require: (context) => requireBroker(context, 'nats', brokerEndpoints.nats()),
  destination: () => `pulls.${randomUUID().slice(0, 8)}`,
  groups: true,
  shared: true,
  cleanup: (destinations) => deleteStreamsHolding(url, destinations),
});
