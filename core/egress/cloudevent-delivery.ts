/**
 * A delivery as a CloudEvent over HTTP (`deliver.cloudevents: binary | structured`). A message
 * that is an event already (the producer, or busgate's ingress, wrote its attributes under the
 * broker's CloudEvents binding: `ce_` on Kafka, `cloudEvents:` on AMQP, `ce-` on NATS) goes out as
 * that same event, so a CloudEvents SDK at the webhook reads what the producer sent. Any other
 * message becomes a new event: id = the webhook-id (stable across retries and redeliveries),
 * source = the subscription, type = `deliver.eventType`, subject = the broker source.
 */
import type { InboundMessage } from '../plugins/contract.js';
import { HTTP_BINDING, STRUCTURED_TYPE, cloudEventHeaders, isJsonType, type CloudEventAttributes, type CloudEventsBinding } from '../contracts/cloudevents.js';
import { DEFAULT_EVENT_TYPE, type CloudEventMode, type SubscriptionSpec } from './model.js';

const REQUIRED = ['specversion', 'id', 'source', 'type'] as const;

export interface CloudEventDelivery {
  readonly body: Buffer;
  /** Content-Type and, in binary mode, the ce-* headers. */
  readonly headers: Record<string, string>;
}

/** Whether a message header carries a CloudEvents attribute under the broker's binding (never forwarded as is). */
export function isAttributeHeader(name: string, binding: CloudEventsBinding): boolean {
  const lower = name.toLowerCase();
  return lower.startsWith(binding.attributePrefix.toLowerCase()) || lower.startsWith(HTTP_BINDING.attributePrefix);
}

/** The event a message carries under the broker's binding, or undefined when it is not a complete one. */
export function attributesOf(message: InboundMessage, binding: CloudEventsBinding): CloudEventAttributes | undefined {
  const prefix = binding.attributePrefix.toLowerCase();
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    const lower = name.toLowerCase();
    if (!lower.startsWith(prefix)) continue;
    const attribute = lower.slice(prefix.length);
    if (!/^[a-z0-9]{1,20}$/.test(attribute) || attribute === 'datacontenttype') continue;
    attributes[attribute] = binding.percentEncoded ? percentDecoded(value) : value;
  }
  if (attributes.specversion !== '1.0' || REQUIRED.some((name) => !attributes[name])) return undefined;
  return attributes;
}

export function cloudEventDelivery(
  mode: CloudEventMode,
  message: InboundMessage,
  id: string,
  spec: Pick<SubscriptionSpec, 'name' | 'deliver'>,
  binding: CloudEventsBinding,
): CloudEventDelivery {
  const attributes = attributesOf(message, binding) ?? {
    specversion: '1.0',
    id,
    source: `/busgate/subscriptions/${spec.name}`,
    type: spec.deliver.eventType ?? DEFAULT_EVENT_TYPE,
    subject: message.destination,
  };
  const dataContentType = message.contentType;
  if (mode === 'binary') {
    return {
      body: message.payload,
      headers: { ...cloudEventHeaders(attributes, HTTP_BINDING), 'content-type': dataContentType ?? 'application/octet-stream' },
    };
  }
  const event: Record<string, unknown> = { ...attributes };
  if (dataContentType !== undefined) event.datacontenttype = dataContentType;
  const json = isJsonType(dataContentType) ? parsedJson(message.payload) : undefined;
  if (json !== undefined) event.data = json.value;
  else if (message.payload.length > 0) event.data_base64 = message.payload.toString('base64');
  return { body: Buffer.from(JSON.stringify(event), 'utf8'), headers: { 'content-type': `${STRUCTURED_TYPE}; charset=utf-8` } };
}

/** JSON data travels as JSON; a body declared JSON that does not parse goes as data_base64, unchanged. */
function parsedJson(payload: Buffer): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(payload.toString('utf8')) as unknown };
  } catch {
    return undefined;
  }
}

function percentDecoded(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
