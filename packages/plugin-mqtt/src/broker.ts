/**
 * One MQTT broker instance: a main connection (clean session) publishes every send at QoS 1 and
 * receives replies; consumers and responders get their own connections (consumers.ts).
 *   pubsub          202 after PUBACK, whether or not anyone subscribes (as with NATS and Kafka).
 *   point-to-point  202 after PUBACK only when a shared-subscription session took the message:
 *                   MQTT keeps nothing for a topic nobody subscribes to, so 0x10 is a 502.
 *   request-reply   Response Topic + Correlation Data; 0x10 means nobody answers: 503 no_responders.
 * Egress subscribes with a named group: a durable shared-subscription session (consumers.ts).
 */
import type {
  BrokerHealth,
  BrokerPlugin,
  InboundMessage,
  OutboundMessage,
  PluginContext,
  Receipt,
  Reply,
  SendContext,
  SubscribeOptions,
  Subscription,
} from 'busgate';
import { BusgateError, pluginClosed } from 'busgate';
import { randomBytes } from 'node:crypto';
import type { IConnackPacket, MqttClient } from 'mqtt';
import { endClient, endpointOf, openClient } from './connection.js';
import { openResponder, openSubscriber, QueueMember, type ConsumerSettings } from './consumers.js';
import { describe, NO_MATCHING_SUBSCRIBERS, unavailable } from './errors.js';
import { outboundProperties } from './messages.js';
import { checkGroup, queueSessionId } from './names.js';
import { clientIdStem, type MqttOptions } from './options.js';
import { checkOutbound, mqttLimits, type MqttLimits } from './limits.js';
import { AckedPublisher } from './publisher.js';
import { ReplyInbox } from './replies.js';

export class MqttBroker implements BrokerPlugin {
  private main: MqttClient | undefined;
  private publisher: AckedPublisher | undefined;
  private readonly inbox = new ReplyInbox();
  private readonly queues = new Map<string, QueueMember>();
  private readonly consumers: ConsumerSettings;
  private closing: Promise<void> | undefined;
  /** The server's Maximum Packet Size comes with CONNACK. */
  private limits: MqttLimits = mqttLimits(undefined);

  constructor(
    private readonly options: MqttOptions,
    private readonly context: PluginContext,
  ) {
    this.consumers = { options, stem: clientIdStem(options, context.instanceId), logger: context.logger, clients: new Set() };
  }

  async connect(signal: AbortSignal): Promise<void> {
    const clientId = `${this.consumers.stem}-${randomBytes(6).toString('hex')}`;
    const client = await openClient(this.options, { clientId, cleanStart: true, expirySeconds: 0 }, signal);
    const logger = this.context.logger;
    // While reconnecting, every failed attempt is an error event: one warning (offline) is enough.
    client.on('error', (error) => logger[client.connected ? 'warn' : 'debug']('MQTT connection error', { broker: this.context.name, error: describe(error) }));
    client.on('offline', () => logger.warn('MQTT connection lost; reconnecting', { broker: this.context.name, server: endpointOf(this.options.url) }));
    client.on('message', (topic, _payload, packet) => {
      if (topic === this.inbox.topic) this.inbox.deliver(packet);
    });
    try {
      // mqtt.js subscribes again after a reconnect, which a clean session needs.
      await client.subscribeAsync(this.inbox.topic, { qos: 1 });
    } catch (error) {
      await endClient(client);
      throw unavailable(`cannot subscribe to the reply topic: ${describe(error)}`, error);
    }
    if (this.closing) {
      await endClient(client);
      throw unavailable('closed');
    }
    this.main = client;
    // mqtt.js keeps the CONNACK it connected with (not in its types); a reconnect brings a new one.
    this.limits = mqttLimits((client as unknown as { connackPacket?: IConnackPacket }).connackPacket?.properties?.maximumPacketSize);
    client.on('connect', (connack) => {
      this.limits = mqttLimits(connack.properties?.maximumPacketSize);
    });
    this.publisher = new AckedPublisher(client);
  }

  async publish(destination: string, message: OutboundMessage, context: SendContext): Promise<Receipt> {
    const code = await this.send(destination, message, context, {});
    return { id: message.id, topic: destination, subscribed: code !== NO_MATCHING_SUBSCRIBERS };
  }

  async enqueue(destination: string, message: OutboundMessage, context: SendContext): Promise<Receipt> {
    const code = await this.send(destination, message, context, {});
    if (code === NO_MATCHING_SUBSCRIBERS) {
      throw new BusgateError(
        'broker_rejected',
        `no MQTT session subscribes to "${destination}", so the broker kept nothing: start a point-to-point consumer of it first`,
      );
    }
    return { id: message.id, topic: destination };
  }

  async request(destination: string, message: OutboundMessage, context: SendContext): Promise<Reply> {
    const waiting = this.inbox.expect(context.signal);
    try {
      const code = await this.send(
        destination,
        message,
        context,
        { responseTopic: this.inbox.topic, correlationData: waiting.correlationData },
        'reply_timeout',
      );
      if (code === NO_MATCHING_SUBSCRIBERS) throw new BusgateError('no_responders', `nobody subscribes to "${destination}"`);
    } catch (error) {
      waiting.cancel();
      throw error;
    }
    return waiting.reply;
  }

  subscribe(destination: string, options: SubscribeOptions, onMessage: (message: InboundMessage) => Promise<void>): Promise<Subscription> {
    this.assertOpen();
    const { group } = options;
    if (options.mode === 'pubsub' && group === undefined) return openSubscriber(this.consumers, destination, onMessage);
    // A named group (egress) is a shared subscription of that name, in either mode: the group gets
    // every message once, and its members (this instance's session and other replicas') share them.
    const problem = group === undefined ? undefined : checkGroup(group);
    if (problem !== undefined) return Promise.reject(new BusgateError('broker_rejected', problem));
    const key = `${group ?? ''}\u0000${destination}`;
    let member = this.queues.get(key);
    if (member === undefined) {
      const sessionId = queueSessionId(this.consumers.stem, destination, group);
      member = new QueueMember(this.consumers, destination, group ?? this.options.shareGroup, sessionId);
      this.queues.set(key, member);
    }
    return member.add(onMessage);
  }

  respond(destination: string, onRequest: (message: InboundMessage) => Promise<Reply>): Promise<Subscription> {
    this.assertOpen();
    return openResponder(this.consumers, destination, onRequest);
  }

  health(): BrokerHealth {
    if (this.closing) return { up: false, detail: 'closed' };
    if (this.main?.connected) return { up: true, detail: `MQTT 5 at ${endpointOf(this.options.url)}`, limits: { ...this.limits } };
    return { up: false, detail: `not connected to ${endpointOf(this.options.url)}` };
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.inbox.failAll(pluginClosed('MQTT'));
    const clients = [...this.consumers.clients, ...(this.main ? [this.main] : [])];
    this.consumers.clients.clear();
    this.main = undefined;
    this.publisher = undefined;
    await Promise.all(clients.map((client) => endClient(client)));
  }

  private send(
    destination: string,
    message: OutboundMessage,
    context: SendContext,
    extra: { responseTopic?: string; correlationData?: Buffer },
    onBareAbort: 'broker_timeout' | 'reply_timeout' = 'broker_timeout',
  ): Promise<number> {
    this.assertOpen();
    checkOutbound(destination, message, this.limits);
    if (this.publisher === undefined) return Promise.reject(unavailable('not connected yet'));
    // The core aborts with its own typed reason; this fallback words a bare abort only.
    const fallback = (): BusgateError => new BusgateError(onBareAbort, `the send to "${destination}" was aborted`);
    return this.publisher.publish(destination, message.payload, { ...outboundProperties(message), ...extra }, context.signal, fallback);
  }

  private assertOpen(): void {
    if (this.closing) throw pluginClosed('MQTT');
  }
}
