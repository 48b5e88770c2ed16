/**
 * What a Kafka broker refuses for its size, checked before a message joins a produce batch. The
 * broker refuses a whole record batch over message.max.bytes (MESSAGE_TOO_LARGE), so an
 * oversized message sent together with other clients' messages would fail them all; refused
 * here, it fails alone with 413. The batching producer also never puts more than `maxBatchBytes`
 * into one request, so messages that fit one by one also fit together.
 *
 * message.max.bytes is read from the cluster at connect time (describeConfigs on one broker); a
 * topic's own max.message.bytes override is not read: a message over it is refused by the broker,
 * alone (the producer retries a refused batch message by message).
 */
import type { Admin } from 'kafkajs';
import kafkajs from 'kafkajs';
import { BusgateError } from '../../core/errors.js';
import type { Message } from 'kafkajs';

/** Kafka's default message.max.bytes, used until (or when) the cluster does not say. */
export const DEFAULT_MESSAGE_MAX_BYTES = 1_048_588;
/** A v2 record batch header, and the worst-case varints around one record and each header. */
const BATCH_OVERHEAD = 61;
const RECORD_OVERHEAD = 32;
const HEADER_OVERHEAD = 10;

export interface KafkaLimits {
  /** The cluster's message.max.bytes, or the default when it could not be read. */
  readonly messageMaxBytes: number;
  /** The largest produce batch busgate builds: the smaller of message.max.bytes and batch.maxBytes. */
  readonly maxBatchBytes: number;
}

export function kafkaLimits(messageMaxBytes: number, batchMaxBytes: number): KafkaLimits {
  return { messageMaxBytes, maxBatchBytes: Math.min(messageMaxBytes, batchMaxBytes) };
}

/** Bytes one record takes in a record batch (uncompressed), a slight over-estimate. */
export function recordBytes(record: Message): number {
  let size = RECORD_OVERHEAD + sizeOf(record.key) + sizeOf(record.value);
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    size += HEADER_OVERHEAD + Buffer.byteLength(name) + (typeof value === 'string' || Buffer.isBuffer(value) ? sizeOf(value) : 0);
  }
  return size;
}

/** Bytes of a batch holding just this record. */
export function singleBatchBytes(record: Message): number {
  return BATCH_OVERHEAD + recordBytes(record);
}

export function checkRecord(topic: string, record: Message, limits: KafkaLimits): void {
  const size = singleBatchBytes(record);
  if (size > limits.maxBatchBytes) {
    throw new BusgateError(
      'message_too_large',
      `the message to "${topic}" takes about ${size} bytes on the wire; this Kafka producer sends at most ${limits.maxBatchBytes} (message.max.bytes ${limits.messageMaxBytes}); nothing was sent`,
    );
  }
}

/** The cluster's message.max.bytes from one broker's configuration; undefined when it cannot be read. */
export async function readMessageMaxBytes(admin: Admin): Promise<number | undefined> {
  const cluster = await admin.describeCluster();
  const broker = cluster.brokers[0];
  if (broker === undefined) return undefined;
  const described = await admin.describeConfigs({
    resources: [{ type: kafkajs.ConfigResourceTypes.BROKER, name: String(broker.nodeId), configNames: ['message.max.bytes'] }],
    includeSynonyms: false,
  });
  const entry = described.resources[0]?.configEntries.find((e) => e.configName === 'message.max.bytes');
  const value = Number(entry?.configValue);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

function sizeOf(value: string | Buffer | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}
