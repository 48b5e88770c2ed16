/**
 * Who listens on a subject, asked without sending anything to it: for `busgate check --live` on
 * request-reply routes. A request to the subject itself would answer the question ("no responders")
 * but would also reach a responder, which a read-only check must not do.
 *
 * The server offers every account a monitoring service, `$SYS.REQ.ACCOUNT.PING.CONNZ` (imported
 * into each account when the server has a system account, the default since nats-server 2.2). Every
 * server of the cluster answers with the connections of the caller's own account, and with
 * `subscriptions_detail` their subscriptions (queue groups included). `filter_subject` keeps only
 * connections with a subscription matching the subject; the matching is repeated here, so a server
 * that ignores the filter gives the same answer.
 *
 * What it cannot see: responders on the far side of a leaf node connection, and responders in
 * another account reached through a service import.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { subjectMatches } from './names.js';

const ACCOUNT_CONNZ = '$SYS.REQ.ACCOUNT.PING.CONNZ';
// After the first server's answer, how long to wait for the other servers of a cluster.
const OTHER_SERVERS_MS = 500;

export interface Interest {
  /** How many servers answered; 0 means nobody could be asked (see `unavailable`). */
  readonly servers: number;
  /** Plain subscriptions matching the subject (each would get every request). */
  readonly plain: number;
  /** Queue groups with a matching subscription (one member of each gets a request). */
  readonly queueGroups: readonly string[];
  /** Why the question could not be asked (no system account, permissions, timeout). */
  readonly unavailable?: string;
}

interface ConnzSubscription {
  readonly subject?: unknown;
  readonly qgroup?: unknown;
}

/** Subscriptions in this connection's account that a request to `subject` would reach. */
export async function interestIn(nc: NatsConnection, subject: string, timeoutMs: number): Promise<Interest> {
  let servers = 0;
  let plain = 0;
  const queueGroups = new Set<string>();
  try {
    const replies = await nc.requestMany(ACCOUNT_CONNZ, JSON.stringify({ subscriptions_detail: true, filter_subject: subject }), {
      strategy: 'stall',
      stall: OTHER_SERVERS_MS,
      maxWait: timeoutMs,
    });
    for await (const reply of replies) {
      const subscriptions = subscriptionsIn(reply.json<unknown>());
      if (subscriptions === undefined) continue;
      servers++;
      for (const sub of subscriptions) {
        if (typeof sub.subject !== 'string' || !subjectMatches(sub.subject, subject)) continue;
        if (typeof sub.qgroup === 'string' && sub.qgroup !== '') queueGroups.add(sub.qgroup);
        else plain++;
      }
      // One server with a responder settles it; no need to wait for the others.
      if (plain + queueGroups.size > 0) break;
    }
  } catch (error) {
    return { servers, plain, queueGroups: [...queueGroups], unavailable: error instanceof Error ? error.message : String(error) };
  }
  if (servers === 0) return { servers, plain, queueGroups: [], unavailable: 'no server answered the CONNZ query in time' };
  return { servers, plain, queueGroups: [...queueGroups] };
}

/** The subscriptions of every connection in one server's CONNZ answer, or undefined if it is none. */
function subscriptionsIn(answer: unknown): ConnzSubscription[] | undefined {
  if (!isRecord(answer) || !isRecord(answer.data)) return undefined;
  const connections = answer.data.connections;
  if (connections === undefined || connections === null) return [];
  if (!Array.isArray(connections)) return undefined;
  return connections.flatMap((connection: unknown) => {
    if (!isRecord(connection) || !Array.isArray(connection.subscriptions_list_detail)) return [];
    return (connection.subscriptions_list_detail as unknown[]).filter(isRecord);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
