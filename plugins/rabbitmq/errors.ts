/**
 * Turning what amqplib and the broker report into busgate's error codes. The distinction that
 * matters to clients: "nothing was sent" (safe to retry) versus "the outcome is unknown" (the
 * message may be stored; retry only with the same Idempotency-Key).
 */
import { BusgateError } from '../../core/errors.js';
import { outcomeUnknown as unknownOutcome } from '../../core/brokers/kit.js';

// Reply codes from the AMQP 0-9-1 spec that the plugin reacts to.
export const AMQP_NOT_FOUND = 404;
export const AMQP_NO_ROUTE = 312;

export function amqpReplyCode(error: unknown): number | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'number') return error.code;
  return undefined;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function nothingSent(reason: string, cause?: unknown): BusgateError {
  return new BusgateError('broker_unavailable', `RabbitMQ unavailable (${reason}); nothing was sent`, { cause });
}

export function outcomeUnknown(reason: string, cause?: unknown): BusgateError {
  return unknownOutcome('RabbitMQ', `${reason} before confirming the message`, cause);
}

/** The exchange named by a `404 NOT_FOUND - no exchange 'x' in vhost '/'` channel close. */
export function missingExchangeIn(error: Error | undefined): string | undefined {
  if (error === undefined || amqpReplyCode(error) !== AMQP_NOT_FOUND) return undefined;
  return /no exchange '(.*)' in vhost '/s.exec(error.message)?.[1];
}

export function missingExchange(exchange: string): BusgateError {
  return new BusgateError('broker_rejected', `RabbitMQ has no exchange "${exchange}" (${DECLARE_HINT})`);
}

export function missingQueue(queue: string, detail?: string): BusgateError {
  return new BusgateError('broker_rejected', `RabbitMQ has no queue "${queue}"${detail ? ` (${detail})` : ''}; nothing was stored (${DECLARE_HINT})`);
}

/** What to do about missing topology; busgate itself never declares on the send path. */
const DECLARE_HINT = 'declare it before traffic, or set declare: true on the broker, which declares the fixed destinations of its routes when busgate connects';

/** Errors from a declare or check on a short-lived channel: the broker's answer, or a lost link. */
export function topologyFailure(what: string, error: unknown): BusgateError {
  const code = amqpReplyCode(error);
  if (code !== undefined && code >= 400 && code < 500) {
    return new BusgateError('broker_rejected', `RabbitMQ refused ${what}: ${errorText(error)}`, { cause: error });
  }
  return nothingSent(`${what} failed: ${errorText(error)}`, error);
}
