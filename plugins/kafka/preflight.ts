/**
 * `busgate check --live` for Kafka: read-only verdicts on a route's topics and, for request-reply,
 * on whether any consumer group reads the request topic. Nothing here creates a topic, joins a
 * group, commits an offset or produces a message.
 */
import kafkajs, { type Admin, type GroupDescription, type PartitionMetadata } from 'kafkajs';
import type { PreflightResult } from '../../core/plugins/contract.js';
import { describeKafkaError } from './errors.js';
import { missingTopicMessage } from './topic-catalog.js';
import { REPLY_GROUP_PREFIX } from './names.js';

/** What the admin client found about one topic, and what the instance would do if it is missing. */
export interface TopicFacts {
  readonly topic: string;
  /** `topic` for a route's topic, `reply topic` for this instance's replyTopic. */
  readonly role: 'topic' | 'reply topic';
  /** undefined: the topic does not exist. */
  readonly partitions: readonly PartitionMetadata[] | undefined;
  /** The route option `partition`, when set. */
  readonly partition?: number | undefined;
  readonly createTopics: boolean;
  readonly newTopicPartitions?: number | undefined;
}

export function judgeTopic(facts: TopicFacts): PreflightResult {
  const { topic, role, partitions, partition } = facts;
  if (partitions === undefined) {
    if (!facts.createTopics) return { ok: false, detail: missingTopicMessage(topic, role) };
    const later = `${role} ${topic} does not exist; it will be created on first use (createTopics)`;
    if (partition === undefined) return { ok: true, detail: later };
    const planned = facts.newTopicPartitions;
    if (planned === undefined) {
      return { ok: true, detail: `${later} with the broker's default partition count, which must be above the route's partition ${partition}` };
    }
    if (partition >= planned) {
      return {
        ok: false,
        detail: `${role} ${topic} does not exist and would be created with ${planned} partition(s) (newTopicPartitions): the route's partition ${partition} would not exist`,
      };
    }
    return { ok: true, detail: `${later} with ${planned} partition(s), partition ${partition} among them` };
  }
  const count = `${partitions.length} partition(s)`;
  if (partition === undefined) return { ok: true, detail: `${role} ${topic}: ${count}` };
  const target = partitions.find((p) => p.partitionId === partition);
  if (target === undefined) {
    const range = partitions.length > 0 ? ` (0-${partitions.length - 1})` : '';
    return { ok: false, detail: `${role} ${topic} has ${count}${range}: the route's partition ${partition} does not exist` };
  }
  if (target.leader < 0) return { ok: false, detail: `partition ${partition} of ${role} ${topic} has no leader right now` };
  return { ok: true, detail: `${role} ${topic}: ${count}, partition ${partition} exists` };
}

export type Readers =
  | { readonly kind: 'found'; readonly groups: readonly { readonly groupId: string; readonly members: number }[] }
  | { readonly kind: 'none'; readonly checked: number }
  | { readonly kind: 'unknown'; readonly reason: string };

/** Groups per DescribeGroups round; the likely readers come first, so one round usually answers. */
const DESCRIBE_BATCH = 50;
/** Rebalancing groups named in a detail line; more are counted, not listed. */
const NAMED_GROUPS = 3;

/**
 * Which consumer groups read `topic`: ListGroups on every broker, then DescribeGroups, whose
 * member metadata (the subscription) and member assignment name the topics of each member. Never
 * takes longer than `budgetMs`; when it cannot tell (timeout, no permission, groups rebalancing)
 * it says why instead of guessing.
 */
export async function groupsReading(admin: Pick<Admin, 'listGroups' | 'describeGroups'>, topic: string, budgetMs: number): Promise<Readers> {
  const stop = { stopped: false };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Readers>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'unknown', reason: `the cluster did not list and describe its consumer groups within ${budgetMs} ms` }), budgetMs);
  });
  const work = lookForReaders(admin, topic, stop).catch((error: unknown): Readers => ({ kind: 'unknown', reason: describeKafkaError(error) }));
  try {
    return await Promise.race([work, late]);
  } finally {
    stop.stopped = true;
    clearTimeout(timer);
  }
}

async function lookForReaders(admin: Pick<Admin, 'listGroups' | 'describeGroups'>, topic: string, stop: { readonly stopped: boolean }): Promise<Readers> {
  const { groups } = await admin.listGroups();
  // Groups that only commit offsets (protocol type "") have no members, so they read nothing now.
  // busgate's own reply groups (this check's among them, still joining while it runs) read reply
  // topics only: counting them as "rebalancing" made the answer depend on when the check ran.
  const ids = groups.filter((group) => group.protocolType === 'consumer' && !group.groupId.startsWith(REPLY_GROUP_PREFIX)).map((group) => group.groupId);
  // busgate.responders.<topic> and other groups named after the topic first (a stable sort).
  ids.sort((a, b) => Number(b.includes(topic)) - Number(a.includes(topic)));
  const unsettled: string[] = [];
  for (let start = 0; start < ids.length; start += DESCRIBE_BATCH) {
    if (stop.stopped) break;
    const { groups: described } = await admin.describeGroups(ids.slice(start, start + DESCRIBE_BATCH));
    const readers = described.map((group) => ({ groupId: group.groupId, members: membersReading(group, topic) })).filter((reader) => reader.members > 0);
    if (readers.length > 0) return { kind: 'found', groups: readers };
    // Outside the Stable state the broker describes members without their subscription.
    unsettled.push(...described.filter((group) => group.members.length > 0 && group.state !== 'Stable').map((group) => group.groupId));
  }
  if (unsettled.length > 0) {
    const named = unsettled.slice(0, NAMED_GROUPS).join(', ') + (unsettled.length > NAMED_GROUPS ? ` and ${unsettled.length - NAMED_GROUPS} more` : '');
    return { kind: 'unknown', reason: `consumer group(s) ${named} are rebalancing, and their subscriptions show only once they settle` };
  }
  return { kind: 'none', checked: ids.length };
}

function membersReading(group: GroupDescription, topic: string): number {
  if (group.protocolType !== 'consumer') return 0;
  return group.members.filter((member) => subscribesTo(member.memberMetadata, topic) || isAssigned(member.memberAssignment, topic)).length;
}

/** The consumer protocol's subscription, as any client (kafkajs, Java, librdkafka) encodes it. */
function subscribesTo(metadata: Buffer, topic: string): boolean {
  if (metadata.length === 0) return false;
  try {
    return kafkajs.AssignerProtocol.MemberMetadata.decode(metadata)?.topics.includes(topic) ?? false;
  } catch {
    return false;
  }
}

function isAssigned(assignment: Buffer, topic: string): boolean {
  if (assignment.length === 0) return false;
  try {
    const decoded = kafkajs.AssignerProtocol.MemberAssignment.decode(assignment);
    return decoded !== null && Object.hasOwn(decoded.assignment, topic);
  } catch {
    return false;
  }
}

/** The detail of a request-reply route once its topics are fine. */
export function judgeReaders(topic: string, readers: Readers, topicsDetail: string): PreflightResult {
  switch (readers.kind) {
    case 'found': {
      const groups = readers.groups.map((group) => `${group.groupId} (${group.members} member(s))`).join(', ');
      return { ok: true, detail: `${topicsDetail}; read by consumer group(s) ${groups}` };
    }
    case 'none':
      return { ok: false, detail: `no consumer group reads topic ${topic} (${readers.checked} consumer group(s) checked): requests would time out` };
    case 'unknown':
      return { ok: true, detail: `${topicsDetail}; consumer groups not checked: ${readers.reason}` };
  }
}
