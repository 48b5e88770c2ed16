import { randomUUID } from 'node:crypto';
import { createStream, deleteStreamsHolding } from '../support/nats-streams.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runEgressConformance } from './suite.js';

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

runEgressConformance({
  name: 'nats',
  plugin: 'nats',
  options: () => ({ url }),
  require: (context) => requireBroker(context, 'nats', brokerEndpoints.nats()),
  destination: () => `egress.${randomUUID().slice(0, 8)}`,
  // Sources and dead letters are point-to-point: busgate creates their work-queue streams.
  cleanup: (destinations) => deleteStreamsHolding(url, destinations),
  sharedGroups: true,
  // A pubsub subscription reads a stream: persistent pubsub routes publish into it.
  pubsubRouteOptions: '{ persistent: true }',
  preparePubsub: (subject) => createStream(url, `EGRESS_${subject.replace(/\W/g, '_')}`, subject),
});
