/**
 * nats.js errors -> busgate error codes. The same client error means different things depending on
 * what was waited for: "no responders" on a request means nobody listens (503), on a JetStream
 * publish it means no stream captures the subject (502); a timeout on a PubAck leaves the outcome
 * unknown (504 broker_timeout) while on a request it means the responder was too slow.
 */
import {
  AuthorizationError,
  ClosedConnectionError,
  DrainingConnectionError,
  InvalidArgumentError,
  InvalidSubjectError,
  PermissionViolationError,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import { JetStreamApiError } from '@nats-io/jetstream';
import { BusgateError, describeError } from '../../core/errors.js';
import { abortReason } from '../../core/brokers/kit.js';

export type Waiting = 'flush' | 'puback' | 'reply' | 'jetstream-api';

/** Walks the cause chain: jetstream wraps request errors ("jetstream is not enabled"). */
function findCause<T extends Error>(error: unknown, test: (candidate: unknown) => candidate is T): T | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    if (test(current)) return current;
    current = current instanceof Error ? current.cause : undefined;
  }
  return undefined;
}

export function isNoResponders(error: unknown): boolean {
  return findCause(error, (c): c is RequestError => c instanceof RequestError && c.isNoResponders()) !== undefined;
}

export function isTimeout(error: unknown): boolean {
  return findCause(error, (c): c is TimeoutError => c instanceof TimeoutError) !== undefined;
}

export function connectFailure(error: unknown, servers: string): BusgateError {
  const reason = error instanceof AuthorizationError ? 'authorization failed' : describeError(error);
  return new BusgateError('broker_unavailable', `cannot connect to NATS at ${servers}: ${reason}`, { cause: error });
}

/**
 * A JetStream publish that no server answered, to a stream that was just found to exist: nobody
 * stores for the stream right now, which is what a replicated stream looks like while it elects
 * a new leader (its leader died). Nothing was stored (no server took the message): a 503 to
 * retry, not the 502 of a missing stream (which tells a client not to retry).
 */
export function streamWithoutLeader(subject: string, cause: unknown): BusgateError {
  return new BusgateError(
    'broker_unavailable',
    `the JetStream stream for "${subject}" exists but no server stores for it right now (a leader election?); it was not stored, retry`,
    { cause, retryAfterSeconds: 1 },
  );
}

export function toBusgateError(error: unknown, waiting: Waiting, subject: string): BusgateError {
  if (error instanceof BusgateError) return error;
  if (error instanceof InvalidArgumentError || error instanceof InvalidSubjectError) {
    return new BusgateError('bad_request', `NATS refused the message for "${subject}": ${error.message}`, { cause: error });
  }
  if (error instanceof ClosedConnectionError || error instanceof DrainingConnectionError) {
    return new BusgateError('broker_unavailable', 'the NATS connection is closed', { cause: error, retryAfterSeconds: 1 });
  }
  if (isNoResponders(error)) {
    switch (waiting) {
      case 'reply':
        return new BusgateError('no_responders', `no responder listens on "${subject}"`, { cause: error });
      case 'puback':
        return new BusgateError('broker_rejected', `no JetStream stream captures subject "${subject}" (or JetStream is not enabled on the server)`, {
          cause: error,
        });
      default:
        return new BusgateError('broker_unavailable', 'JetStream is not enabled on the NATS server', { cause: error });
    }
  }
  if (isTimeout(error)) {
    switch (waiting) {
      case 'reply':
        return new BusgateError('reply_timeout', `no reply from "${subject}" within the route timeout`, { cause: error });
      case 'puback':
        return new BusgateError(
          'broker_timeout',
          `no JetStream acknowledgement for "${subject}" in time; the message may be stored (retry with the same Idempotency-Key)`,
          { cause: error },
        );
      default:
        return new BusgateError('broker_timeout', `NATS did not answer in time (${waiting} for "${subject}")`, { cause: error });
    }
  }
  if (error instanceof RequestError && waiting === 'flush') {
    // A flush is rejected when the connection drops before its PONG.
    return connectionLost('flush', subject, error);
  }
  if (error instanceof JetStreamApiError) {
    return new BusgateError('broker_rejected', `JetStream refused the request for "${subject}": ${error.message}`, { cause: error });
  }
  if (error instanceof PermissionViolationError) {
    return new BusgateError('broker_rejected', `NATS permissions forbid this for "${subject}": ${error.message}`, { cause: error });
  }
  return new BusgateError('broker_unavailable', `NATS failed for "${subject}": ${describeError(error)}`, { cause: error });
}

/** The connection dropped while an answer was awaited: nobody can say what the server did. */
export function connectionLost(waiting: Waiting, subject: string, cause?: unknown): BusgateError {
  const outcome =
    waiting === 'reply'
      ? 'the responder may have acted'
      : waiting === 'jetstream-api'
        ? 'the JetStream call may have taken effect'
        : 'the outcome is unknown: the message may have reached the server';
  return new BusgateError('broker_unavailable', `the NATS connection dropped while waiting on "${subject}"; ${outcome}`, {
    cause,
    retryAfterSeconds: 1,
  });
}

/** The caller's deadline passed (or the daemon is stopping) before the broker answered. */
export function deadlinePassed(signal: AbortSignal, waiting: Waiting, subject: string): BusgateError {
  return abortReason(signal, () =>
    waiting === 'reply'
      ? new BusgateError('reply_timeout', `no reply from "${subject}" within the route timeout`)
      : new BusgateError('broker_timeout', `NATS did not confirm "${subject}" before the deadline; the outcome is unknown`),
  );
}
