/**
 * What a templated value and a destination may look like on RabbitMQ. Templated values become
 * exchange names, queue names or routing keys; in a topic routing key `.` separates words and
 * `*`/`#` are wildcards, so a value carrying them could widen what a client reaches.
 */

// AMQP short strings (exchange, queue, routing key) are at most 255 bytes.
const MAX_NAME_BYTES = 255;
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
const UNSAFE_IN_TOKEN = /[.*#\s\u0000-\u001f\u007f-\u009f]/u;

export function isSafeToken(value: string, _field: 'destination' | 'key'): boolean {
  if (value.length === 0 || Buffer.byteLength(value) > MAX_NAME_BYTES) return false;
  return !UNSAFE_IN_TOKEN.test(value);
}

export function checkDestination(destination: string): string | undefined {
  if (destination.length === 0) {
    return 'a RabbitMQ exchange or queue name cannot be empty (the default exchange is used by point-to-point routes on their own)';
  }
  if (Buffer.byteLength(destination) > MAX_NAME_BYTES) {
    return `a RabbitMQ exchange or queue name is at most ${MAX_NAME_BYTES} bytes`;
  }
  if (CONTROL_CHARS.test(destination)) return 'a RabbitMQ exchange or queue name cannot contain control characters';
  return undefined;
}

/** A routing key is an AMQP short string too: longer ones cannot be sent at all. */
export function checkKey(key: string): string | undefined {
  if (Buffer.byteLength(key) > MAX_NAME_BYTES) return `a RabbitMQ routing key is at most ${MAX_NAME_BYTES} bytes`;
  if (CONTROL_CHARS.test(key)) return 'a RabbitMQ routing key cannot contain control characters';
  return undefined;
}

/**
 * Queues named `amq.*` are reserved by the broker. Publishing to one through the default exchange
 * could reach a direct reply-to pseudo-queue (`amq.rabbitmq.reply-to.*`) and inject a forged reply
 * into somebody else's request, so the plugin refuses those names for point-to-point and
 * request-reply. Exchanges named `amq.*` (amq.topic...) stay allowed for pubsub.
 */
export function checkQueueName(queue: string): string | undefined {
  if (queue.startsWith('amq.')) return `queue names starting with "amq." are reserved by RabbitMQ: "${queue}"`;
  return checkDestination(queue);
}
