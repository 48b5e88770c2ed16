/**
 * busgate-plugin-mqtt: an MQTT 5 broker for busgate, written against the public `busgate` package
 * only (as a plugin in another repository would be). Use it with `plugin: busgate-plugin-mqtt`.
 */
import { PLUGIN_API_VERSION, type PluginFactory } from 'busgate';
import { MqttBroker } from './broker.js';
import { mqttContracts } from './contracts.js';
import { checkDestination, isSafeToken } from './names.js';
import { optionsSchema, type MqttOptions } from './options.js';

const mqttPlugin: PluginFactory<MqttOptions> = {
  apiVersion: PLUGIN_API_VERSION,
  name: 'mqtt',
  description: 'MQTT 5: pubsub at QoS 1, point-to-point through shared subscriptions, request-reply through response topics.',
  modes: ['pubsub', 'point-to-point', 'request-reply'],
  optionsSchema,
  isSafeToken,
  checkDestination,
  // One handler call at a time per session: mqtt.js hands a connection's packets over in order
  // and waits for each acknowledgement (see consumers.ts).
  egress: { durableGroups: true, concurrentHandlers: false, orderingKey: "the route's key (the busgate-key user property)" },
  ...mqttContracts,
  create: (options, context) => new MqttBroker(options, context),
};

export default mqttPlugin;
export type { MqttOptions } from './options.js';
