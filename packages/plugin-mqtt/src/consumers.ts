/**
 * The consuming side, each on its own connection so that a slow handler never delays publishes,
 * replies or other consumers (an MQTT connection handles its incoming packets one at a time):
 *   pubsub          a clean session subscribed to the topic; gets what is published while it lives.
 *   point-to-point  this instance's durable session in the shared-subscription group of the topic:
 *                   it resumes after a restart with what the broker queued meanwhile, and local
 *                   consumers of the same topic take turns on it.
 *   a named group   (egress) the same, in the shared-subscription group of that name: each group
 *                   gets every message, its members (sessions of other replicas) share them.
 *   responders      a clean session in the topic's group; answers on each request's response topic.
 * QoS 1 messages are acknowledged only once a handler resolved, in order, one at a time per session.
 * A handler that fails is offered the message again (MQTT has no negative acknowledgement: a
 * PUBACK with an error code still removes it); a message nobody took is never acknowledged, so
 * the broker redelivers it when the durable session resumes.
 */
import { randomBytes } from 'node:crypto';
import type { InboundMessage, PluginContext, Reply, Subscription } from 'busgate';
import type { IClientOptions, IPublishPacket, ISubscriptionMap, MqttClient } from 'mqtt';
import { endClient, openClient } from './connection.js';
import { describe, unavailable } from './errors.js';
import { inboundMessage, replyProperties } from './messages.js';
import { sharedFilter } from './names.js';
import type { MqttOptions } from './options.js';

type Handler = (message: InboundMessage) => Promise<void>;
type AckHandler = NonNullable<IClientOptions['customHandleAcks']>;
type Logger = PluginContext['logger'];

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
  let closed = false;
  const acks = new HeldAcks(settings, topic, (message) => offerUntilTaken(settings, topic, message, () => (closed ? undefined : handler)));
  const client = await openSubscribed(settings, topic, oneOffClientId(settings, 's'), false, acks.acknowledge, acks.attach);
  let closing: Promise<void> | undefined;
  return {
    close: () => {
      closed = true;
      return (closing ??= closeClient(settings, client));
    },
  };
}

/**
 * Offers a message to `next()` until one call resolves (true) or `next()` has nobody left (false),
 * backing off between failed tries: the broker cannot be asked to redeliver it later.
 */
async function offerUntilTaken(settings: ConsumerSettings, topic: string, message: InboundMessage, next: () => Handler | undefined): Promise<boolean> {
  let pauseMs = RETRY_FIRST_MS;
  for (let handler = next(); handler !== undefined; handler = next()) {
    try {
      await handler(message);
      return true;
    } catch (error) {
      settings.logger.warn('MQTT consumer failed a message; offering it again', { topic, error: describe(error) });
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      pauseMs = Math.min(pauseMs * 2, RETRY_MAX_MS);
    }
  }
  return false;
}

/**
 * The customHandleAcks of one consuming session. mqtt.js handles a connection's incoming packets
 * one at a time and waits for the acknowledgement callback, so while a handler holds a message
 * (egress retries a webhook for seconds or minutes) the PINGRESP behind it stays unread, and
 * mqtt.js would give the connection up after 1.5 keepalives: the broker would then hand the
 * message to the session again, a duplicate. While a message is held this pings the broker itself
 * and restarts mqtt.js's keepalive count; a broker that died still shows, as the ping's write fails.
 * A PUBACK is only sent on the connection the message came on: after a reconnect the broker
 * redelivers it anyway, and a late PUBACK there could acknowledge another message with that id.
 */
class HeldAcks {
  private client: MqttClient | undefined;
  private connection = 0;
  private held = 0;
  private keeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: ConsumerSettings,
    private readonly topic: string,
    private readonly settle: (message: InboundMessage) => Promise<boolean>,
  ) {}

  readonly attach = (client: MqttClient): void => {
    this.client = client;
    client.on('connect', () => (this.connection += 1));
  };

  readonly acknowledge: AckHandler = (_topic, _payload, packet: IPublishPacket, done) => {
    const connection = this.connection;
    this.hold();
    void this.settle(inboundMessage(packet)).then((taken) => {
      this.release();
      if (taken && connection === this.connection && this.client?.connected === true) done(0);
      else this.settings.logger.debug('MQTT message left unacknowledged for redelivery', { topic: this.topic, taken });
    });
  };

  private hold(): void {
    this.held += 1;
    if (this.held > 1) return;
    this.keeper = setInterval(() => {
      if (this.client?.connected !== true) return;
      this.client.sendPing();
      this.client.reschedulePing(true);
    }, this.settings.options.keepaliveSeconds * 500);
    this.keeper.unref();
  }

  private release(): void {
    this.held -= 1;
    if (this.held === 0) clearInterval(this.keeper);
  }
}

/**
 * One durable shared-subscription session of this instance for a group and topic, shared by its
 * local consumers: they take turns on its messages.
 */
export class QueueMember {
  private readonly handlers: Handler[] = [];
  private turn = 0;
  private client: Promise<MqttClient> | undefined;
  private readonly acks: HeldAcks;

  constructor(
    private readonly settings: ConsumerSettings,
    private readonly topic: string,
    private readonly group: string,
    private readonly sessionId: string,
  ) {
    this.acks = new HeldAcks(settings, topic, (message) =>
      offerUntilTaken(settings, topic, message, () => (this.handlers.length === 0 ? undefined : this.handlers[this.turn++ % this.handlers.length])),
    );
  }

  async add(handler: Handler): Promise<Subscription> {
    this.handlers.push(handler);
    try {
      this.client ??= openSubscribed(this.settings, sharedFilter(this.group, this.topic), this.sessionId, true, this.acks.acknowledge, this.acks.attach);
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
