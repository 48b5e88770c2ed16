/**
 * kafkajs errors -> busgate error codes. kafkajs wraps the error that mattered (a refused
 * connection, a protocol error) in retry wrappers, so the whole `cause` chain is inspected.
 */
import { BusgateError, type ErrorCode } from '../../core/errors.js';

interface KafkaErrorShape {
  readonly name: string;
  readonly message: string;
  readonly type?: unknown;
  readonly cause?: unknown;
}

function chainOf(error: unknown): KafkaErrorShape[] {
  const chain: KafkaErrorShape[] = [];
  let current: unknown = error;
  while (current instanceof Error && chain.length < 10) {
    chain.push(current);
    current = (current as KafkaErrorShape).cause;
  }
  return chain;
}

/** The broker refused the record batch for its size. */
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/** Protocol errors where the broker looked at the message and said no: retrying will not help. */
const REJECTIONS = new Set([
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'POLICY_VIOLATION',
  'INVALID_REQUIRED_ACKS',
  'INVALID_PARTITIONS',
]);

const UNKNOWN_TOPIC = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'UNKNOWN_TOPIC_ID']);

/** Whether an error means "this topic does not exist" (kafkajs says it in several ways). */
export function isUnknownTopic(error: unknown): boolean {
  return chainOf(error).some(
    (e) =>
      UNKNOWN_TOPIC.has(String(e.type)) ||
      e.name === 'KafkaJSTopicMetadataNotLoaded' ||
      (e.name === 'KafkaJSMetadataNotLoaded' && /without metadata/i.test(e.message)),
  );
}

/**
 * The kafkajs producer can be left "disconnected" for good after the broker closed its sockets
 * (kafkajs issues #907, #979, #919). It throws this before writing anything, so a retry on a
 * fresh producer cannot duplicate the message.
 */
export function isProducerDisconnected(error: unknown): boolean {
  return chainOf(error).some((e) => /producer is disconnected/i.test(e.message));
}

/** The broker looked at what was sent and refused it: nothing of that request was stored. */
export function isRefusal(error: unknown): boolean {
  const code = classify(error);
  return code === 'broker_rejected' || code === 'message_too_large';
}

/** Errors that say the cluster could not be reached (as opposed to a refusal or a timeout). */
export function isConnectivityFailure(error: unknown): boolean {
  return classify(error) === 'broker_unavailable';
}

function classify(error: unknown): ErrorCode {
  const chain = chainOf(error);
  if (isUnknownTopic(error)) return 'broker_rejected';
  for (const e of chain) {
    if (typeof e.type === 'string' && TOO_LARGE.has(e.type)) return 'message_too_large';
    if (typeof e.type === 'string' && REJECTIONS.has(e.type)) return 'broker_rejected';
    if (e.type === 'REQUEST_TIMED_OUT') return 'broker_timeout';
    if (e.name === 'KafkaJSRequestTimeoutError' || e.name === 'KafkaJSTimeout') return 'broker_timeout';
  }
  return 'broker_unavailable';
}

export function describeKafkaError(error: unknown): string {
  const chain = chainOf(error);
  const innermost = chain[chain.length - 1];
  return innermost ? innermost.message : String(error);
}

/**
 * @param doing what the plugin was doing, e.g. `producing to "orders"`.
 * @param maybeStored the request may have reached the broker, so a failure leaves the outcome open.
 */
export function toBusgateError(error: unknown, doing: string, maybeStored = false): BusgateError {
  if (error instanceof BusgateError) return error;
  const code = classify(error);
  const reason = describeKafkaError(error);
  let message = `Kafka: ${doing} failed: ${reason}`;
  if (isUnknownTopic(error)) message = `Kafka: ${doing} failed: the topic does not exist (${reason})`;
  if (maybeStored && code !== 'broker_rejected' && code !== 'message_too_large') message += '; the outcome is unknown, the message may be stored';
  return new BusgateError(code, message, { cause: error });
}
