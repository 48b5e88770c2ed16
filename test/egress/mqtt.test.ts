/**
 * The MQTT plugin as an egress source, loaded by package name as the daemon's loader does. Point-to-
 * point sources and dead letters are durable shared-subscription sessions: each is created once
 * (as an operator's first consumer would) before anything is sent to it.
 */
import { randomUUID } from 'node:crypto';
import { endpointOf, requireBroker } from '../support/require-broker.js';
import { runEgressConformance } from './suite.js';

const url = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';

runEgressConformance({
  name: 'mqtt',
  plugin: 'busgate-plugin-mqtt',
  // Its own client id stem per run; the broker forgets the run's sessions a minute after it.
  options: () => ({ url, clientId: `egress-${randomUUID().slice(0, 8)}`, queueSessionExpirySeconds: 60 }),
  require: (context) => requireBroker(context, 'mqtt', endpointOf(url, 1883)),
  destination: () => `egress/${randomUUID().slice(0, 8)}`,
  async prepare(destination, broker) {
    const consumer = await broker.subscribe(destination, { mode: 'point-to-point' }, () => Promise.resolve());
    await consumer.close();
  },
  sharedGroups: true,
});
