/**
 * The plugin kit: the few things every broker plugin needs to agree with the core on, so that a
 * deadline, a shutdown or a closed plugin looks the same whichever broker is behind a route.
 *
 * The core (BrokerInstance) owns the deadline: it answers the client with the send's own error
 * and then aborts the send's signal WITH a typed reason (broker_timeout, reply_timeout). The
 * signal may be shared by the sends whose deadlines end in the same few milliseconds
 * (core/brokers/deadlines.ts says why), so it can fire after a send finished; a plugin only
 * stops waiting on it. A plugin stops waiting with `raceAbort` and answers `abortReason(signal)`;
 * it only builds its own error when it knows better (for example "nothing was sent").
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { BusgateError, asBusgateError, isBusgateError } from '../errors.js';
import type { LogFields, Logger, Mode } from '../plugins/contract.js';

/** The header (or message property) that carries busgate's message id on every broker. */
export const MESSAGE_ID_HEADER = 'busgate-id';

/** A reason to stop waiting: a signal, and the error to answer when it fires. */
export interface Stop {
  readonly signal: AbortSignal;
  readonly error: () => BusgateError;
}

/**
 * Why the core stopped waiting: its own typed reason when it gave one, else `fallback()` (a signal
 * the plugin made itself, such as a connection-lost signal, carries no BusgateError).
 */
export function abortReason(signal: AbortSignal, fallback: () => BusgateError): BusgateError {
  return isBusgateError(signal.reason) ? asBusgateError(signal.reason) : fallback();
}

/** A stop on the core's signal: its typed reason, else `fallback()`. */
export function stopOn(signal: AbortSignal, fallback: () => BusgateError): Stop {
  return { signal, error: () => abortReason(signal, fallback) };
}

/**
 * Settles with `work`, or rejects as soon as one of the stops fires. Only the wait ends: the work
 * keeps running (a broker client bounds it with its own timeout), and its late failure is
 * swallowed so it never becomes an unhandled rejection.
 */
export function raceAbort<T>(work: Promise<T>, stops: Stop | readonly Stop[]): Promise<T> {
  const list: readonly Stop[] = Array.isArray(stops) ? stops : [stops as Stop];
  const already = list.find((stop) => stop.signal.aborted);
  if (already !== undefined) {
    work.catch(() => undefined);
    return Promise.reject(already.error());
  }
  return new Promise<T>((resolve, reject) => {
    const detach: (() => void)[] = [];
    let settled = false;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      for (const undo of detach) undo();
      finish();
    };
    for (const stop of list) {
      const onAbort = (): void => settle(() => reject(stop.error()));
      stop.signal.addEventListener('abort', onAbort, { once: true });
      detach.push(() => stop.signal.removeEventListener('abort', onAbort));
    }
    work.then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(error)),
    );
  });
}

/**
 * What a closed plugin answers, on every broker: the instance is going away with the daemon, so
 * the client should send to another instance (503, retryable).
 */
export function pluginClosed(broker: string): BusgateError {
  return new BusgateError('shutting_down', `the ${broker} plugin is closed`);
}

/**
 * The connection dropped after the message was handed over: the broker may or may not have it.
 * 503 like any outage, but the message says that a retry may duplicate.
 */
export function outcomeUnknown(broker: string, what: string, cause?: unknown): BusgateError {
  return new BusgateError('broker_unavailable', `${broker}: ${what}; the outcome is unknown (the message may have been stored)`, {
    cause,
    retryAfterSeconds: 1,
  });
}

/** The core's typed reason when a send's deadline passes: what the client is told. */
export function deadlineError(mode: Mode, destination: string, timeoutMs: number): BusgateError {
  return mode === 'request-reply'
    ? new BusgateError('reply_timeout', `no reply on "${destination}" within ${timeoutMs} ms`)
    : new BusgateError('broker_timeout', `the broker did not acknowledge within ${timeoutMs} ms; the message may have been stored`);
}

/**
 * A route's options with the type derived from the plugin's own routeOptionsSchema. The core
 * validated them against that schema and filled its defaults once, when the routes loaded, so
 * nothing is parsed per message: this only names the type.
 */
export function routeOptions<S extends TSchema>(_schema: S, options: Readonly<Record<string, unknown>> | undefined): Static<S> {
  return options ?? {};
}

/** A logger that adds `fields` to every line (e.g. `{ plugin: 'mybroker' }`), on top of the given one. */
export function withFields(logger: Logger, fields: LogFields): Logger {
  const merged = (extra: LogFields | undefined): LogFields => (extra === undefined ? fields : { ...fields, ...extra });
  return {
    error: (message, extra) => logger.error(message, merged(extra)),
    warn: (message, extra) => logger.warn(message, merged(extra)),
    info: (message, extra) => logger.info(message, merged(extra)),
    debug: (message, extra) => logger.debug(message, merged(extra)),
    ...(logger.isDebugEnabled ? { isDebugEnabled: () => logger.isDebugEnabled?.() === true } : {}),
  };
}

/** How many destinations a plugin's look-up cache keeps by default (see BoundedMap). */
export const DESTINATION_CACHE_ENTRIES = 10_000;

/**
 * A plugin's cache keyed by destination. Destinations are whatever a templated route renders from
 * a client's request, so a cache that only grows is memory any client can fill: this one forgets
 * its oldest entry past `limit` (insertion order; a forgotten entry only costs one more look-up).
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit = DESTINATION_CACHE_ENTRIES) {
    super();
  }

  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.limit) this.delete(this.keys().next().value as K);
    return super.set(key, value);
  }
}
