/**
 * Resume from history (streams, SubscribeOptions.from). A Kafka topic keeps its records, so a
 * reader can continue where an earlier one stopped; the position is one offset per partition,
 * and the resume token carries all of them ("0:18,1:42": the offset of the next record of each
 * partition). A reader is a member of a group made up for it alone, seeked to the token's
 * offsets when it joins; partitions the token does not name (added since) start at their
 * earliest record, so nothing is skipped. For 'now' the end offsets are read before joining, so a
 * record produced after subscribe() resolved is always read.
 */
import type { Admin } from 'kafkajs';
import { BusgateError } from '../../core/errors.js';
import type { HistoryCapability, InboundMessage, SubscribeOptions } from '../../core/plugins/contract.js';
import { toBusgateError } from './errors.js';

const ENTRY = /^(\d{1,6}):(\d{1,19})$/;
const MAX_PARTITIONS = 10_000;

export const kafkaHistory: HistoryCapability = {
  when: {},
  position: 'the offset of the next record of every partition, e.g. "0:18,1:42"',
  checkToken: (token) => (parseToken(token) === undefined ? 'a Kafka resume position lists partition:offset pairs, e.g. "0:18,1:42"' : undefined),
};

/** partition -> offset of the next record, or undefined when the token is not one. */
export function parseToken(token: string): Map<number, string> | undefined {
  const entries = token.split(',');
  if (token === '' || entries.length > MAX_PARTITIONS) return undefined;
  const cursor = new Map<number, string>();
  for (const entry of entries) {
    const match = ENTRY.exec(entry);
    if (match === null || cursor.has(Number(match[1]))) return undefined;
    cursor.set(Number(match[1]), BigInt(match[2]!).toString());
  }
  return cursor;
}

export function formatToken(cursor: ReadonlyMap<number, string>): string {
  return [...cursor]
    .sort(([a], [b]) => a - b)
    .map(([partition, offset]) => `${partition}:${offset}`)
    .join(',');
}

/**
 * Where a history reader starts: every partition's end for 'now', else the token's offsets, with
 * partitions the token does not name at their earliest record. An offset below what the partition
 * still keeps (retention, deleted records) starts at its earliest record and is reported as a gap;
 * one beyond its end, or a partition the topic does not have, is not a position Kafka handed out.
 */
export async function historyStart(
  admin: Admin,
  topic: string,
  from: NonNullable<SubscribeOptions['from']>,
): Promise<{ start: Map<number, string>; gap: boolean }> {
  const asked = from === 'now' ? undefined : parseToken(from.token);
  if (from !== 'now' && asked === undefined) throw new BusgateError('bad_resume_position', kafkaHistory.checkToken(from.token) ?? 'bad resume position');
  let partitions: { partition: number; low: string; high: string }[];
  try {
    partitions = await admin.fetchTopicOffsets(topic);
  } catch (error) {
    throw toBusgateError(error, `reading the offsets of "${topic}"`);
  }
  if (asked === undefined) return { start: new Map(partitions.map(({ partition, high }) => [partition, high])), gap: false };
  const start = new Map<number, string>();
  let gap = false;
  for (const [partition] of asked) {
    if (!partitions.some((known) => known.partition === partition))
      throw new BusgateError('bad_resume_position', `topic "${topic}" has no partition ${partition}`);
  }
  for (const { partition, low, high } of partitions) {
    const offset = asked.get(partition);
    if (offset === undefined) {
      start.set(partition, low);
    } else if (BigInt(offset) > BigInt(high)) {
      throw new BusgateError('bad_resume_position', `offset ${offset} is ahead of partition ${partition} of "${topic}" (end ${high})`);
    } else if (BigInt(offset) < BigInt(low)) {
      gap = true;
      start.set(partition, low);
    } else {
      start.set(partition, offset);
    }
  }
  return { start, gap };
}

/**
 * Hands each record on with the token that resumes right after it: the start position with
 * every partition read so far moved past its last record. Records of a reader arrive one at a
 * time (no concurrent handlers), so the cursor follows delivery order.
 */
export function withResumeTokens(
  start: ReadonlyMap<number, string>,
  onMessage: (message: InboundMessage) => Promise<void>,
): (message: InboundMessage) => Promise<void> {
  const cursor = new Map(start);
  return (message) => {
    const position = message.delivery?.position;
    if (position?.partition !== undefined && position.offset !== undefined) {
      cursor.set(Number(position.partition), (BigInt(position.offset) + 1n).toString());
    }
    return onMessage(Object.assign({}, message, { delivery: Object.assign({}, message.delivery, { resumeToken: formatToken(cursor) }) }));
  };
}
