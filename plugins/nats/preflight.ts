/**
 * `busgate check --live` for NATS: can a route of this mode reach its subject right now?
 * Read-only: JetStream lookups (STREAM.NAMES, STREAM.INFO) and the account CONNZ service; nothing
 * is created, nothing is published, and no request reaches a responder.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Mode, PreflightResult } from '../../core/plugins/contract.js';
import { interestIn } from './interest.js';
import type { NatsOptions, NatsRouteOptions } from './options.js';
import type { StreamDirectory } from './stream-directory.js';
import { streamNameFor } from './names.js';
import type { WorkQueues } from './work-queues.js';

/** What the checks need of a live connection. */
export interface PreflightLink {
  readonly nc: NatsConnection;
  readonly streams: StreamDirectory;
  readonly workQueues: WorkQueues;
}

/** Throws the client's own errors; the caller maps them. */
export async function preflightRoute(
  link: PreflightLink,
  mode: Mode,
  subject: string,
  route: NatsRouteOptions,
  options: Pick<NatsOptions, 'streamPrefix' | 'jetstreamTimeoutMs'>,
): Promise<PreflightResult> {
  switch (mode) {
    case 'pubsub':
      if (!route.persistent) return { ok: true, detail: 'core subject; at-most-once (no stream involved)' };
      return preflightPersistent(link, subject, route.stream);
    case 'point-to-point':
      return preflightWorkQueue(link, subject, route.stream ?? streamNameFor(options.streamPrefix, subject));
    case 'request-reply':
      return preflightResponders(link, subject, options.jetstreamTimeoutMs);
  }
}

async function preflightPersistent(link: PreflightLink, subject: string, wanted: string | undefined): Promise<PreflightResult> {
  // The lookup publishPersistent makes; forgotten afterwards so the check leaves no cache behind.
  const found = await link.streams.streamFor(subject);
  link.streams.forget(subject);
  if (found === undefined) {
    return { ok: false, detail: `no JetStream stream captures subject "${subject}": create one, or make the route non-persistent` };
  }
  if (wanted !== undefined && found !== wanted) {
    return { ok: false, detail: `subject "${subject}" is captured by stream "${found}", not by the route's stream "${wanted}"` };
  }
  const info = await link.workQueues.streamInfo(found, subject);
  if (info === undefined) return { ok: false, detail: `JetStream stream "${found}" disappeared during the check` };
  return { ok: true, detail: `stream ${found}, retention ${info.config.retention}, ${info.state.messages} message(s)` };
}

/** Asks the server's account CONNZ service (see interest.ts); never sends to the subject. */
async function preflightResponders(link: PreflightLink, subject: string, timeoutMs: number): Promise<PreflightResult> {
  const interest = await interestIn(link.nc, subject, timeoutMs);
  if (interest.unavailable !== undefined) {
    // Sending a request would tell, but it would reach a responder: not a read-only check.
    return {
      ok: true,
      detail: `responders not checked: the server's CONNZ service did not answer (${interest.unavailable}); only a request could tell`,
    };
  }
  const groups = interest.queueGroups.map((group) => `queue group ${group}`);
  const listeners = [...groups, ...(interest.plain > 0 ? [`${interest.plain} plain subscription(s)`] : [])];
  if (listeners.length > 0) return { ok: true, detail: `responders: ${listeners.join(', ')}` };
  return {
    ok: false,
    detail: `no responder subscribed to "${subject}" (checked on ${interest.servers} server(s); leaf nodes and service imports are not visible)`,
  };
}

async function preflightWorkQueue(link: PreflightLink, subject: string, stream: string): Promise<PreflightResult> {
  const plan = await link.workQueues.inspect(stream, subject);
  switch (plan.kind) {
    case 'ready':
      return { ok: true, detail: `stream ${stream}, retention ${plan.info.config.retention}, ${plan.info.state.messages} message(s) waiting` };
    case 'create':
      return { ok: true, detail: `work-queue stream ${stream} does not exist yet; it will be created on first use (createStreams)` };
    case 'add-subject':
      return { ok: true, detail: `work-queue stream ${stream} exists; "${subject}" will be added to its subjects on first use (createStreams)` };
    case 'refused':
      return { ok: false, detail: plan.reason };
  }
}
