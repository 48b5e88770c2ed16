/**
 * QoS 1 publishing with the PUBACK's reason code. mqtt.js resolves a publish on PUBACK but does not
 * hand over the reason code, and 0x10 ("no matching subscribers") decides between 202 and an error
 * for point-to-point and request-reply; the code is read from the packet as it arrives, which the
 * client always reports before it settles the publish that the PUBACK answers.
 */
import { abortReason, outcomeUnknown, raceAbort, stopOn, type BusgateError } from 'busgate';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { publishError, unavailable } from './errors.js';

type PublishProperties = NonNullable<IPublishPacket['properties']>;

export class AckedPublisher {
  private readonly reasonCodes = new Map<number, number>();
  /** Publishes waiting for their PUBACK, failed at once when the connection drops. */
  private readonly inFlight = new Set<(error: BusgateError) => void>();

  constructor(private readonly client: MqttClient) {
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'puback' && packet.messageId !== undefined && packet.reasonCode) {
        this.reasonCodes.set(packet.messageId, packet.reasonCode);
      }
    });
    // mqtt.js would keep these and send them again on the next connection while the client waits
    // out its deadline. A fast 503 that says the outcome is unknown is the truthful answer, and a
    // message answered so is not sent again behind the client's back: its retry decides.
    client.on('close', () => {
      const waiting = [...this.inFlight];
      this.inFlight.clear();
      for (const [messageId, pending] of Object.entries(client.outgoing)) {
        if (pending.cmd === 'publish') client.removeOutgoingMessage(Number(messageId));
      }
      for (const fail of waiting) fail(outcomeUnknown('MQTT', 'the connection dropped before the PUBACK'));
    });
  }

  /**
   * Resolves with the PUBACK reason code (0 = stored for at least one subscription). Stops waiting
   * when busgate aborts the send, with the core's reason (`fallback` only for a bare abort).
   */
  publish(topic: string, payload: Buffer, properties: PublishProperties, signal: AbortSignal, fallback: () => BusgateError): Promise<number> {
    // Offline, mqtt.js would queue the message for the next connection: answer 503 now instead.
    if (!this.client.connected) return Promise.reject(unavailable('not connected; reconnecting'));
    if (signal.aborted) return Promise.reject(abortReason(signal, fallback));
    const acknowledged = new Promise<number>((resolve, reject) => {
      this.inFlight.add(reject);
      this.client.publish(topic, payload, { qos: 1, properties }, (error, packet) => {
        this.inFlight.delete(reject);
        const messageId = packet?.messageId;
        const code = messageId === undefined ? 0 : (this.reasonCodes.get(messageId) ?? 0);
        if (messageId !== undefined) this.reasonCodes.delete(messageId);
        if (error) reject(publishError(error, topic));
        else resolve(code);
      });
    });
    return raceAbort(acknowledged, stopOn(signal, fallback));
  }
}
