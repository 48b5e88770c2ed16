import { randomUUID } from 'node:crypto';
import { createStream, deleteStreamsHolding, purgeStreamsHolding } from '../support/nats-streams.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runStreamConformance } from './suite.js';

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

const target = {
  name: 'nats',
  plugin: 'nats',
  options: () => ({ url }),
  require: (context: Mocha.Context) => requireBroker(context, 'nats', brokerEndpoints.nats()),
};

// Core NATS subjects: live only, nothing to clean up.
runStreamConformance({ ...target, destination: () => `streams.${randomUUID().slice(0, 8)}` });

// A persistent source is read from the JetStream stream capturing the subject: it has history.
runStreamConformance({
  ...target,
  destination: () => `streams.js.${randomUUID().slice(0, 8)}`,
  sourceOptions: '{ persistent: true }',
  prepare: (subject) => createStream(url, `STREAMS_${subject.split('.').at(-1)!.toUpperCase()}`, subject),
  cleanup: (subjects) => deleteStreamsHolding(url, subjects),
  history: true,
  truncate: (subject) => purgeStreamsHolding(url, [subject]),
  aheadToken: '999999999',
});
