/**
 * What an MQTT connection cannot carry, checked before a PUBLISH is written. Every request shares
 * the main connection: a property string over 65,535 bytes made mqtt.js write a broken packet,
 * after which every other client's publish waited for a PUBACK that never came (504) until the
 * keep-alive dropped the connection. Refused here, the request alone gets a 4xx.
 *
 * - MQTT 5 UTF-8 strings (content type, user property names and values): 65,535 bytes each.
 * - The whole PUBLISH: the server's Maximum Packet Size from CONNACK, when it announces one
 *   (Mosquitto does with max_packet_size), else the protocol's 268,435,455 bytes.
 */
import { BusgateError, type OutboundMessage } from 'busgate';

export const MAX_STRING_BYTES = 65_535;
export const PROTOCOL_MAX_PACKET_BYTES = 268_435_455;
/** Fixed header, packet id, topic length, property lengths and the properties busgate adds. */
const PACKET_OVERHEAD_BYTES = 1024;

export interface MqttLimits {
  readonly maxStringBytes: number;
  readonly maxPacketBytes: number;
}

export function mqttLimits(maximumPacketSize: number | undefined): MqttLimits {
  return { maxStringBytes: MAX_STRING_BYTES, maxPacketBytes: maximumPacketSize ?? PROTOCOL_MAX_PACKET_BYTES };
}

function checkString(what: string, value: string, limits: MqttLimits): number {
  const bytes = Buffer.byteLength(value);
  if (bytes > limits.maxStringBytes) {
    throw new BusgateError('exceeds_broker_limit', `${what} is ${bytes} bytes; an MQTT string holds at most ${limits.maxStringBytes}; nothing was sent`);
  }
  return bytes;
}

export function checkOutbound(topic: string, message: OutboundMessage, limits: MqttLimits): void {
  let size = PACKET_OVERHEAD_BYTES + checkString('the topic', topic, limits) + message.payload.length + Buffer.byteLength(message.id);
  if (message.contentType !== undefined) size += checkString('the Content-Type', message.contentType, limits);
  if (message.key !== undefined) size += checkString('the key', message.key, limits);
  for (const [name, value] of Object.entries(message.headers)) {
    size += 4 + checkString(`header name "${name.slice(0, 40)}"`, name, limits) + checkString(`header "${name.slice(0, 40)}"`, value, limits);
  }
  if (size > limits.maxPacketBytes) {
    throw new BusgateError(
      'message_too_large',
      `the MQTT packet would be about ${size} bytes; this server accepts at most ${limits.maxPacketBytes} (Maximum Packet Size); nothing was sent`,
    );
  }
}
