import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { runConformance } from './suite.js';

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
  async cleanup(destinations) {
    // Work-queue streams created for point-to-point routes hold the destination subject.
    const nc = await connect({ servers: url });
    try {
      const jsm = await jetstreamManager(nc);
      for await (const stream of jsm.streams.list()) {
        if (stream.config.subjects?.some((subject) => destinations.includes(subject))) await jsm.streams.delete(stream.config.name);
      }
    } finally {
      await nc.close();
    }
  },
});
