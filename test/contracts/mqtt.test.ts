/**
 * CloudEvents and batches on MQTT 5 (Mosquitto), read back by a plain mqtt.js subscriber and
 * turned into events by the SDK's own MQTT binding (binary mode: User Properties named as the
 * attributes, the Content Type property).
 */
import { randomUUID } from 'node:crypto';
import { MQTT, MQTTMessageFactory } from 'cloudevents';
import mqtt from 'mqtt';
import { endpointOf, requireBroker } from '../support/require-broker.js';
import { Inbox, runContractConformance } from './broker-suite.js';

const url = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';

runContractConformance({
  name: 'mqtt',
  plugin: 'busgate-plugin-mqtt',
  options: () => ({ url, clientId: `contracts-${randomUUID().slice(0, 8)}` }),
  require: (context) => requireBroker(context, 'mqtt', endpointOf(url, 1883)),
  mode: 'pubsub',
  destination: () => `contracts/${randomUUID().slice(0, 8)}`,
  async open(topic) {
    const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `contracts-reader-${randomUUID().slice(0, 8)}` });
    const inbox = new Inbox();
    client.on('message', (_topic, payload, packet) => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(packet.properties?.userProperties ?? {}))
        headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
      inbox.push({ payload, headers, contentType: packet.properties?.contentType });
    });
    await client.subscribeAsync(topic, { qos: 1 });
    return { take: (count, timeoutMs) => inbox.take(count, timeoutMs), close: () => client.endAsync() };
  },
  toEvent(record) {
    // The MQTT binding has no prefix, so the SDK takes every User Property for an attribute, and
    // busgate's own `busgate-id` is not a valid attribute name: a consumer drops it first (README).
    // The SDK's MQTT binding also ignores the Content Type property the binding maps to
    // datacontenttype (cloudevents 10.0.0), so it is passed along here.
    const attributes = {
      ...Object.fromEntries(Object.entries(record.headers).filter(([name]) => /^[a-z0-9]{1,20}$/.test(name))),
      datacontenttype: record.contentType ?? '',
    };
    const event = MQTT.toEvent(MQTTMessageFactory(record.contentType ?? '', attributes, record.payload.toString('utf8')));
    if (Array.isArray(event)) throw new Error('expected one event');
    return event as never;
  },
});
