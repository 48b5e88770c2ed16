/**
 * The MQTT plugin lives in its own package (packages/plugin-mqtt) and this file uses only what a
 * plugin kept in another repository could: the public `busgate/conformance` entry point, and the
 * plugin by its npm package name, as the daemon's loader resolves it from node_modules.
 */
import { randomUUID } from 'node:crypto';
import { endpointOf, requireBroker, runConformance } from 'busgate/conformance';

const url = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';

runConformance({
  name: 'mqtt',
  plugin: 'busgate-plugin-mqtt',
  // A client id stem of its own per daemon: parallel runs, and the two daemons of the shared-group
  // test (one process, so one default instance id), never take over each other's sessions. A short
  // session expiry: the broker forgets the run's durable sessions a minute after it.
  options: () => ({ url, clientId: `conformance-${randomUUID().slice(0, 8)}`, queueSessionExpirySeconds: 60 }),
  unavailableOptions: () => ({ url: 'mqtt://127.0.0.1:1', connectTimeoutMs: 500 }),
  require: (context) => requireBroker(context, 'mqtt', endpointOf(url, 1883)),
  destination: (mode) => `conformance/${mode}/${randomUUID().slice(0, 8)}`,
  unsafeTokens: ['+', '#', 'a/b', '$SYS'],
  // A point-to-point topic is a durable shared-subscription session: a consumer creates it once
  // (as egress does at start-up); from then on the broker keeps its messages while it is away.
  async prepare(mode, destination, plugin) {
    if (mode !== 'point-to-point') return;
    const consumer = await plugin.subscribe(destination, { mode }, () => Promise.resolve());
    await consumer.close();
  },
  // MQTT 5 PUBACK 0x10 ("no matching subscribers") tells that nobody listens.
  detectsNoResponders: true,
});
