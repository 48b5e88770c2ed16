import { randomUUID } from 'node:crypto';
import { createStream, deleteStreamsHolding } from '../support/nats-streams.js';
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
  // A pubsub source is a stream capturing the subject; persistent pubsub routes publish into it.
  pubsub: { routeOptions: '{ persistent: true }', prepare: (subject) => createStream(url, `PULLS_${subject.replace(/\W/g, '_')}`, subject) },
});
