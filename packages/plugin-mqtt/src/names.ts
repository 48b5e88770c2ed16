/**
 * MQTT topic rules, declared to busgate so that routes are linted and templated values checked
 * before anything is sent; and the names this plugin derives from a topic.
 */
import { createHash } from 'node:crypto';

/** MQTT 5 §1.5.4: a topic is a UTF-8 string of at most 65,535 bytes. */
export const MAX_TOPIC_BYTES = 65_535;

/**
 * A templated value must stay inside one topic level and be harmless on every broker: no level
 * separator `/`, no wildcard `+` or `#`, no `$` (reserved for $SYS and $share), no spaces or dots.
 */
export function isSafeToken(value: string): boolean {
  return /^[A-Za-z0-9_-]+$/.test(value);
}

/** Why a destination cannot be an MQTT topic to publish to, or undefined when it can. */
export function checkDestination(destination: string): string | undefined {
  if (destination.length === 0) return 'an MQTT topic must not be empty';
  if (/[+#]/.test(destination)) return 'wildcards (+ and #) are only for subscriptions, not for publishing';
  if (destination.startsWith('$')) return 'topics starting with $ are reserved for the broker ($SYS, $share)';
  if (destination.includes('\u0000')) return 'an MQTT topic must not contain the NUL character';
  if (Buffer.byteLength(destination, 'utf8') > MAX_TOPIC_BYTES) return `an MQTT topic is at most ${MAX_TOPIC_BYTES} bytes`;
  return undefined;
}

/** The shared-subscription filter through which a group competes for a topic's messages. */
export function sharedFilter(group: string, topic: string): string {
  return `$share/${group}/${topic}`;
}

/**
 * The client id of this instance's durable session for a topic (point-to-point, in the plugin's
 * share group) or for a named group and topic (egress): stable across restarts (the broker queues
 * the session's share while it is away), short whatever the names.
 */
export function queueSessionId(stem: string, topic: string, group?: string): string {
  if (group === undefined) return `${stem}-q-${createHash('sha256').update(topic).digest('hex').slice(0, 16)}`;
  return `${stem}-g-${createHash('sha256').update(`${group}\u0000${topic}`).digest('hex').slice(0, 16)}`;
}

/** Why a consumer group name cannot name a shared subscription (one topic level), or undefined. */
export function checkGroup(group: string): string | undefined {
  if (group.length === 0 || /[/+#\u0000]/.test(group)) return `the group "${group}" must be one MQTT topic level without wildcards`;
  return undefined;
}
