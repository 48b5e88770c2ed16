/**
 * An AsyncAPI 3.0 document of the broker side: one channel per broker and destination (templated
 * destinations become channel parameters), the operations busgate performs on them (send for
 * routes, with the reply of request-reply routes; receive for subscriptions, whose channel is
 * their source), each
 * route's message with its payload schema and the headers busgate writes, and the Kafka, AMQP and
 * NATS bindings the plugins declare. Served at GET /asyncapi.json and printed by `busgate asyncapi`.
 *
 * There is no `servers` section on purpose: broker addresses live in busgate's config, often with
 * credentials in them, and a consumer already knows where its broker is.
 */
import type { AsyncApiDeclaration, AsyncApiReply, Mode } from '../plugins/contract.js';
import type { SubscriptionSpec } from '../egress/model.js';
import type { RouteSpec } from '../routes/model.js';
import type { Template } from '../routes/template.js';
import { HTTP_ATTRIBUTE_PREFIX } from './cloudevents.js';
import { CLOUDEVENT_HEADER_ATTRIBUTES, PACKAGE_VERSION, brokersOf, componentName, embeddedSchema, modesOf, type BrokerDeclarations } from './describe.js';

type Json = Record<string, unknown>;

export interface AsyncApiOptions {
  readonly title?: string;
  /** The subscriptions in service: each adds a receive operation on its source. */
  readonly subscriptions?: readonly SubscriptionSpec[];
}

export function buildAsyncApi(routes: readonly RouteSpec[], brokers: BrokerDeclarations, options: AsyncApiOptions = {}): Json {
  const channels: Record<string, Json> = {};
  const operations: Record<string, Json> = {};
  const messages: Record<string, Json> = {};
  const schemas: Record<string, unknown> = {};
  const replyChannels: Record<string, string> = {};

  for (const route of routes) {
    const name = componentName(route);
    if (route.contract.bodySchema) schemas[`${name}.body`] = embeddedSchema(route.contract.bodySchema.document, `#/components/schemas/${name}.body`);
    for (const broker of brokersOf(route)) {
      const declaration = brokers.get(broker)?.contracts.asyncApi;
      for (const mode of modesOf(route)) {
        const bindings =
          declaration?.bindings?.(mode, route.destination.source, route.brokerOptions.get(broker) ?? route.options, route.key !== undefined) ?? {};
        const messageName = `${name}.${broker}`;
        messages[messageName] ??= message(route, messageName, broker, brokers, bindings.message, declaration);
        const channelName = channelKey(broker, route.destination);
        const channel = (channels[channelName] ??= channelObject(route.destination, broker, bindings.channel, declaration?.protocol));
        (channel.messages as Json)[messageName] = { $ref: `#/components/messages/${messageName}` };
        const operationName = `${name}.${broker}.${mode}`.replace(/[^A-Za-z0-9._-]/g, '_');
        operations[operationName] = operation(route, mode, channelName, messageName, bindings.operation, declaration?.protocol);
        if (mode === 'request-reply') {
          const replies = (replyChannels[broker] ??= addReplyChannel(broker, declaration, channels, messages));
          operations[operationName].reply = replyOf(replies, declaration?.reply);
        }
      }
    }
  }
  for (const subscription of options.subscriptions ?? []) addReceive(subscription, brokers, channels, operations, messages);
  return {
    asyncapi: '3.0.0',
    info: {
      title: options.title ?? 'busgate broker side',
      version: PACKAGE_VERSION,
      description: 'What busgate publishes to the brokers for the configured HTTP routes, and what it consumes for its webhook subscriptions.',
    },
    defaultContentType: 'application/octet-stream',
    channels,
    operations,
    components: { messages, schemas },
  };
}

/** `orders.{region}` and `{header.x-tenant}` become AsyncAPI parameters `region` and `header_x-tenant`. */
function addressOf(template: Template): { address: string; parameters: Json } {
  const parameters: Json = {};
  const address = template.parts
    .map((part) => {
      if (part.kind === 'literal') return part.text;
      const parameter = part.kind === 'param' ? part.name : `header_${part.name.toLowerCase()}`;
      parameters[parameter] = { description: part.kind === 'param' ? `the HTTP path parameter :${part.name}` : `the HTTP request header ${part.name}` };
      return `{${parameter}}`;
    })
    .join('');
  return { address, parameters };
}

function channelKey(broker: string, destination: Template): string {
  return channelKeyOf(broker, addressOf(destination).address);
}

function channelKeyOf(broker: string, address: string): string {
  return `${broker}.${address}`.replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * A subscription receives from its source (a literal destination): the channel a route may already
 * describe, else a new one with the broker's channel bindings. The operation lists every message
 * the channel carries (a route's, when one sends there) plus a generic one for what other
 * producers write. Operation bindings are left out: the plugins' describe sending.
 */
function addReceive(
  subscription: SubscriptionSpec,
  brokers: BrokerDeclarations,
  channels: Record<string, Json>,
  operations: Record<string, Json>,
  messages: Record<string, Json>,
): void {
  const declaration = brokers.get(subscription.broker)?.contracts.asyncApi;
  const protocol = declaration?.protocol;
  const bindings = declaration?.bindings?.(subscription.mode, subscription.source, subscription.options, false) ?? {};
  const channelName = channelKeyOf(subscription.broker, subscription.source);
  const channel = (channels[channelName] ??= {
    address: subscription.source,
    title: `${subscription.source} on ${subscription.broker}`,
    description: `Destination on the broker instance "${subscription.broker}".`,
    messages: {},
    ...(bindings.channel && protocol ? { bindings: { [protocol]: bindings.channel } } : {}),
  });
  const messageName = `subscription.${subscription.name}`;
  messages[messageName] = {
    name: messageName,
    title: `Any message on ${subscription.source}`,
    summary: `What subscription ${subscription.name} delivers to its webhook, whoever produced it.`,
    payload: {},
    ...(bindings.message && protocol ? { bindings: { [protocol]: bindings.message } } : {}),
  };
  const channelMessages = channel.messages as Json;
  channelMessages[messageName] = { $ref: `#/components/messages/${messageName}` };
  operations[`subscription.${subscription.name}.receive`] = {
    action: 'receive',
    channel: { $ref: `#/channels/${channelName}` },
    messages: Object.keys(channelMessages).map((name) => ({ $ref: `#/channels/${channelName}/messages/${name}` })),
    summary: `subscription ${subscription.name} -> ${subscription.mode}`,
    description:
      `Consumed ${subscription.mode === 'pubsub' ? 'as one subscriber' : 'as one consumer of the queue'} (group "${subscription.group}") and POSTed to the webhook ` +
      `of subscription ${subscription.name}${subscription.deliver.cloudEvents ? ` as a CloudEvent (${subscription.deliver.cloudEvents} mode)` : ''}; ` +
      `acknowledged once the webhook took it or it is stored in the dead letter ${subscription.deadLetter}.`,
  };
}

function channelObject(destination: Template, broker: string, bindings: Json | undefined, protocol: string | undefined): Json {
  const { address, parameters } = addressOf(destination);
  const channel: Json = { address, title: `${address} on ${broker}`, description: `Destination on the broker instance "${broker}".`, messages: {} };
  if (Object.keys(parameters).length > 0) channel.parameters = parameters;
  if (bindings && protocol) channel.bindings = { [protocol]: bindings };
  return channel;
}

function operation(route: RouteSpec, mode: Mode, channel: string, messageName: string, bindings: Json | undefined, protocol: string | undefined): Json {
  const how: Record<Mode, string> = {
    pubsub: 'every subscriber gets the message',
    'point-to-point': 'exactly one consumer gets the message',
    'request-reply': 'busgate waits for one reply and answers the HTTP request with it (see the README, "Writing a responder")',
  };
  const op: Json = {
    action: 'send',
    channel: { $ref: `#/channels/${channel}` },
    messages: [{ $ref: `#/channels/${channel}/messages/${messageName}` }],
    summary: `${route.method} ${route.path} -> ${mode}`,
    description: `Sent for each accepted request to ${route.method} ${route.path}${route.contract.batch ? ' (one message per batch entry)' : ''}: ${how[mode]}.`,
  };
  if (bindings && protocol) op.bindings = { [protocol]: bindings };
  return op;
}

/**
 * The channel replies travel on, one per broker: its address is per request (`address: null`, as
 * AsyncAPI 3 wants for a reply whose address is found at run time), its message any reply.
 */
function addReplyChannel(broker: string, declaration: AsyncApiDeclaration | undefined, channels: Record<string, Json>, messages: Record<string, Json>): string {
  let key = `replies.${broker}`.replace(/[^A-Za-z0-9._-]/g, '_');
  for (let n = 2; channels[key] !== undefined; n += 1) key = `replies.${broker}_${n}`.replace(/[^A-Za-z0-9._-]/g, '_');
  const messageName = `${key}.reply`;
  messages[messageName] = {
    name: messageName,
    title: `A reply on ${broker}`,
    summary: "The responder's answer: its body and content type become the HTTP response (200).",
    payload: {},
  };
  channels[key] = {
    address: null,
    title: `Replies on ${broker}`,
    description: `Each request names its own reply address. ${declaration?.reply?.description ?? 'See the README, "Writing a responder".'}`,
    messages: { reply: { $ref: `#/components/messages/${messageName}` } },
  };
  return key;
}

function replyOf(channel: string, reply: AsyncApiReply | undefined): Json {
  return {
    ...(reply?.addressLocation !== undefined ? { address: { location: reply.addressLocation, description: reply.description } } : {}),
    channel: { $ref: `#/channels/${channel}` },
    messages: [{ $ref: `#/channels/${channel}/messages/reply` }],
  };
}

function message(
  route: RouteSpec,
  name: string,
  broker: string,
  brokers: BrokerDeclarations,
  bindings: Json | undefined,
  declaration: AsyncApiDeclaration | undefined,
): Json {
  const protocol = declaration?.protocol;
  const headers: Json = {
    traceparent: { type: 'string', description: 'W3C trace context of the HTTP request' },
  };
  for (const header of route.forwardHeaders) headers[header] = { type: 'string', description: 'copied from the HTTP request' };
  headers['idempotency-key'] = { type: 'string', description: "the client's Idempotency-Key, when it sent one" };
  if (route.contract.cloudEvents !== 'off') {
    const prefix = brokers.get(broker)?.contracts.cloudEvents?.attributePrefix ?? HTTP_ATTRIBUTE_PREFIX;
    for (const attribute of CLOUDEVENT_HEADER_ATTRIBUTES) {
      headers[`${prefix}${attribute}`] = {
        type: 'string',
        description: `CloudEvents ${attribute} (binary mode), when the request was an event${route.contract.cloudEvents === 'required' ? '' : ' (optional)'}`,
      };
    }
  }
  const result: Json = {
    name,
    title: `${route.name} on ${broker}`,
    summary: `The body of ${route.method} ${route.path}, as sent${route.contract.cloudEvents !== 'off' ? '; for a CloudEvent, its data' : ''}.`,
    headers: { type: 'object', properties: headers },
    payload: route.contract.bodySchema ? { $ref: `#/components/schemas/${componentName(route)}.body` } : {},
  };
  if (route.contract.bodySchema) result.contentType = 'application/json';
  const correlation = declaration?.reply?.correlationLocation;
  if (correlation !== undefined && modesOf(route).includes('request-reply')) {
    result.correlationId = { location: correlation, description: 'request-reply: the reply carries the same value' };
  }
  if (bindings && protocol) result.bindings = { [protocol]: bindings };
  return result;
}
