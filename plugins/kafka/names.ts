/**
 * What may be rendered into a Kafka topic name or message key. Kafka accepts `[A-Za-z0-9._-]`
 * up to 249 characters for a whole topic; a value rendered from a request must be narrower,
 * because a client-chosen `.` lets it reach another topic family (`orders.{id}` with
 * id = `x.audit`). Topics starting with `__` are Kafka's own (offsets, transactions).
 */
const TOPIC = /^[A-Za-z0-9._-]+$/;
const TOKEN = /^[A-Za-z0-9_-]+$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

export const MAX_TOPIC_LENGTH = 249;
/** Keys are bytes on the wire and may be long, but a templated key over 1 KiB is a mistake. */
export const MAX_KEY_LENGTH = 1024;

/**
 * Every busgate reply consumer's group id starts with this. Such a group only ever reads a reply
 * topic, so the preflight can leave it out when it asks who reads a request topic.
 */
export const REPLY_GROUP_PREFIX = 'busgate.replies.';

export function replyGroupId(clientId: string, instance: string): string {
  return `${REPLY_GROUP_PREFIX}${clientId}.${instance}`;
}

export function isSafeToken(value: string, field: 'destination' | 'key'): boolean {
  if (field === 'key') return value.length > 0 && value.length <= MAX_KEY_LENGTH && !CONTROL.test(value);
  return value.length > 0 && value.length <= MAX_TOPIC_LENGTH && TOKEN.test(value);
}

export function checkDestination(topic: string): string | undefined {
  if (topic.length === 0) return 'a Kafka topic name cannot be empty';
  if (topic.length > MAX_TOPIC_LENGTH) {
    return `a Kafka topic name has at most ${MAX_TOPIC_LENGTH} characters (this one has ${topic.length})`;
  }
  if (!TOPIC.test(topic)) return `Kafka topic "${topic}" may only contain letters, digits, ".", "_" and "-"`;
  if (topic === '.' || topic === '..') return `"${topic}" is not a valid Kafka topic name`;
  if (topic.startsWith('__')) return `Kafka topic "${topic}" is reserved: names starting with "__" are internal`;
  return undefined;
}
