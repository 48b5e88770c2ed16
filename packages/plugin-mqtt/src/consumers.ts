/**
 * The consuming side, each on its own connection so that a slow handler never delays publishes,
 * replies or other consumers (an MQTT connection handles its incoming packets one at a time):
 *   pubsub          a clean session subscribed to the topic; gets what is published while it lives.
 *   point-to-point  this instance's durable session in the shared-subscription group of the topic:
 *                   it resumes after a restart with what the broker queued meanwhile, and local
 *                   consumers of the same topic take turns on it.
 *   responders      a clean session in the topic's group; answers on each request's response topic.
 * QoS 1 messages are acknowledged once the handler settles, in order, one at a time per session.
 */
import { randomBytes } from 'node:crypto';
import type { InboundMessage, PluginContext, Reply, Subscription } from 'busgate';
import type { IClientOptions, IPublishPacket, ISubscriptionMap, MqttClient } from 'mqtt';
import { endClient, openClient } from './connection.js';
import { describe, unavailable } from './errors.js';
import { inboundMessage, replyProperties } from './messages.js';
import { queueSessionId, sharedFilter } from './names.js';
import type { MqttOptions } from './options.js';

type Handler = (message: InboundMessage) => Promise<void>;
type AckHandler = NonNullable<IClientOptions['customHandleAcks']>;
type Logger = PluginContext['logger'];

/** PUBACK 0x80: this receiver failed the message. MQTT has no "requeue": the broker drops it. */
const UNSPECIFIED_ERROR = 0x80;
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5000;

export interface ConsumerSettings {
  readonly options: MqttOptions;
  readonly stem: string;
  readonly logger: Logger;
  /** Every client opened here, so that close() can end them all. */
  readonly clients: Set<MqttClient>;
}

function oneOffClientId(settings: ConsumerSettings, kind: string): string {
  return `${settings.stem}-${kind}-${randomBytes(6).toString('hex')}`;
}

/** SUBSCRIBE at QoS 1; `again` sends it even though mqtt.js believes the subscription is in place. */
async function subscribeOrThrow(client: MqttClient, filter: string, again = false): Promise<void> {
  const granted = again
    ? await client.subscribeAsync({ [filter]: { qos: 1 }, resubscribe: true } as ISubscriptionMap)
    : await client.subscribeAsync(filter, { qos: 1 });
  const refused = granted.find((grant) => grant.qos >= 0x80);
  if (refused) throw unavailable(`the broker refused the subscription to "${filter}" (reason 0x${refused.qos.toString(16)})`);
}

/** Opens a tracked client, keeps its later errors in the log, subscribes, and ends it on failure. */
async function openSubscribed(
  settings: ConsumerSettings,
  filter: string,
  clientId: string,
  durable: boolean,
  customHandleAcks?: AckHandler,
  onReady?: (client: MqttClient) => void,
): Promise<MqttClient> {
  const client = await openClient(
    settings.options,
    {
      clientId,
      cleanStart: !durable,
      expirySeconds: durable ? settings.options.queueSessionExpirySeconds : 0,
      ...(customHandleAcks === undefined ? {} : { customHandleAcks }),
    },
    undefined,
    onReady,
  );
  settings.clients.add(client);
  client.on('error', (error) => settings.logger.warn('MQTT consumer connection error', { filter, error: describe(error) }));
  client.on('close', () => client.disconnecting || settings.logger.debug('MQTT consumer connection closed; reconnecting', { filter }));
  try {
    await subscribeOrThrow(client, filter);
    // Subscribe again on every reconnection: Mosquitto 2.0 restores a durable session after its
    // own restart but not the session's shared subscriptions (tried on 2.0.11), and mqtt.js only
    // resubscribes when the broker says it has no session. Subscribing twice is harmless.
    client.on('connect', () => {
      subscribeOrThrow(client, filter, true).catch((error: unknown) =>
        settings.logger.warn('MQTT consumer could not subscribe again after reconnecting', { filter, error: describe(error) }),
      );
    });
    return client;
  } catch (error) {
    settings.clients.delete(client);
    await endClient(client);
    throw error;
  }
}

async function closeClient(settings: ConsumerSettings, client: MqttClient): Promise<void> {
  settings.clients.delete(client);
  await endClient(client);
}

export async function openSubscriber(settings: ConsumerSettings, topic: string, handler: Handler): Promise<Subscription> {
  const acknowledge: AckHandler = (_topic, _payload, packet: IPublishPacket, done) => {
    handler(inboundMessage(packet)).then(
      () => done(0),
      (error: unknown) => {
        settings.logger.warn('MQTT subscriber failed a message; MQTT cannot redeliver it to a clean session', { topic, error: describe(error) });
        done(UNSPECIFIED_ERROR);
      },
    );
  };
  const client = await openSubscribed(settings, topic, oneOffClientId(settings, 's'), false, acknowledge);
  let closing: Promise<void> | undefined;
  return { close: () => (closing ??= closeClient(settings, client)) };
}

/** One durable shared-subscription session per topic for this instance, shared by its local consumers. */
export class QueueMember {
  private readonly handlers: Handler[] = [];
  private turn = 0;
  private client: Promise<MqttClient> | undefined;

  constructor(
    private readonly settings: ConsumerSettings,
    private readonly topic: string,
  ) {}

  async add(handler: Handler): Promise<Subscription> {
    this.handlers.push(handler);
    try {
      this.client ??= openSubscribed(
        this.settings,
        sharedFilter(this.settings.options.shareGroup, this.topic),
        queueSessionId(this.settings.stem, this.topic),
        true,
        this.acknowledge,
      );
      await this.client;
    } catch (error) {
      this.remove(handler);
      this.client = undefined;
      throw error;
    }
    let closing: Promise<void> | undefined;
    return { close: () => (closing ??= this.release(handler)) };
  }

  private remove(handler: Handler): void {
    const index = this.handlers.indexOf(handler);
    if (index >= 0) this.handlers.splice(index, 1);
  }

  /** The last local consumer leaving disconnects; the session stays, and the broker queues for it. */
  private async release(handler: Handler): Promise<void> {
    this.remove(handler);
    if (this.handlers.length > 0 || this.client === undefined) return;
    const client = this.client;
    this.client = undefined;
    await closeClient(this.settings, await client);
  }

  private readonly acknowledge: AckHandler = (_topic, _payload, packet: IPublishPacket, done) => {
    void this.dispatch(inboundMessage(packet)).then((handled) => {
      // Unhandled (every consumer left): no PUBACK, so the broker redelivers it when the session resumes.
      if (handled) done(0);
    });
  };

  /** Offers the message to the local consumers in turn until one takes it, backing off between tries. */
  private async dispatch(message: InboundMessage): Promise<boolean> {
    let pauseMs = RETRY_FIRST_MS;
    while (this.handlers.length > 0) {
      const handler = this.handlers[this.turn++ % this.handlers.length];
      try {
        await handler(message);
        return true;
      } catch (error) {
        this.settings.logger.warn('MQTT point-to-point consumer failed a message; offering it again', { topic: this.topic, error: describe(error) });
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
        pauseMs = Math.min(pauseMs * 2, RETRY_MAX_MS);
      }
    }
    return false;
  }
}

export async function openResponder(settings: ConsumerSettings, topic: string, onRequest: (message: InboundMessage) => Promise<Reply>): Promise<Subscription> {
  let client: MqttClient | undefined;
  const answer = async (packet: IPublishPacket): Promise<void> => {
    const responseTopic = packet.properties?.responseTopic;
    if (responseTopic === undefined) {
      settings.logger.warn('MQTT request without a response topic; nobody to answer', { topic });
      return;
    }
    const reply = await onRequest(inboundMessage(packet));
    const correlation = packet.properties?.correlationData ?? Buffer.alloc(0);
    await client!.publishAsync(responseTopic, reply.payload, { qos: 1, properties: replyProperties(reply, Buffer.from(correlation)) });
  };
  // Requests are acknowledged on arrival and answered concurrently: the requester's deadline, not
  // redelivery, decides what a lost request means.
  client = await openSubscribed(settings, sharedFilter(settings.options.shareGroup, topic), oneOffClientId(settings, 'r'), false, undefined, (opened) =>
    opened.on('message', (_topic, _payload, packet) => {
      answer(packet).catch((error: unknown) => settings.logger.warn('MQTT responder failed; no reply sent', { topic, error: describe(error) }));
    }),
  );
  let closing: Promise<void> | undefined;
  return { close: () => (closing ??= closeClient(settings, client)) };
}
