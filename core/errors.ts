/**
 * One registry of every error busgate can answer with. Each code is stable (clients and dashboards
 * key on it), maps to one HTTP status, and says whether retrying the same request may succeed.
 * The README's error table is checked against this registry by a test, so the two cannot drift.
 */
export const ERROR_CODES = {
  bad_request: { status: 400, retryable: false, summary: 'The request is malformed.' },
  invalid_token: {
    status: 400,
    retryable: false,
    summary: 'A value rendered into a destination or key is not one safe token for the broker.',
  },
  missing_value: {
    status: 400,
    retryable: false,
    summary: 'A header or path parameter the route templates from is missing.',
  },
  broker_not_allowed: {
    status: 400,
    retryable: false,
    summary: 'The client chose a broker the route does not allow.',
  },
  mode_not_allowed: {
    status: 400,
    retryable: false,
    summary: 'The client chose a mode the route does not allow, or the broker cannot do.',
  },
  invalid_cloudevent: {
    status: 400,
    retryable: false,
    summary: 'A CloudEvent lacks a required attribute (id, source, type, specversion 1.0) or has a malformed one.',
  },
  exceeds_broker_limit: {
    status: 400,
    retryable: false,
    summary: 'A destination, key, header or the header table is longer than the broker accepts (see its limits on /ready); nothing was sent.',
  },
  bad_resume_position: {
    status: 400,
    retryable: false,
    summary: 'A stream was asked to resume (Last-Event-ID or from=) from a position this broker does not hand out (see Streams); nothing was subscribed.',
  },
  resume_not_supported: {
    status: 400,
    retryable: false,
    summary: 'from= on a live-only stream: its broker keeps no history for the source (see Streams); nothing was subscribed.',
  },
  unauthorized: { status: 401, retryable: false, summary: 'No valid credentials were presented.' },
  forbidden: { status: 403, retryable: false, summary: 'The credentials may not use this route.' },
  destination_limit: {
    status: 403,
    retryable: false,
    summary: 'The destination does not exist, and the broker instance may create no more (its creation limit); nothing was sent.',
  },
  not_found: { status: 404, retryable: false, summary: 'No route has this path.' },
  method_not_allowed: {
    status: 405,
    retryable: false,
    summary: 'A route has this path, but not for this method (see the Allow header).',
  },
  not_acceptable: {
    status: 406,
    retryable: false,
    summary: 'A stream path answers only Accept: text/event-stream or a WebSocket upgrade.',
  },
  request_timeout: {
    status: 408,
    retryable: true,
    summary: 'The client did not send the whole request in time.',
  },
  idempotency_in_progress: {
    status: 409,
    retryable: true,
    summary:
      'Another request with this Idempotency-Key is in flight on another instance (or just failed there); this one published nothing; retry after Retry-After.',
  },
  idempotency_reply_not_kept: {
    status: 409,
    retryable: false,
    summary:
      'The first request with this Idempotency-Key succeeded, but its reply was larger than idempotency.maxReplyBytes and was not kept; it is not sent again.',
  },
  payload_too_large: {
    status: 413,
    retryable: false,
    summary: 'The body is larger than the configured limit.',
  },
  too_many_entries: {
    status: 413,
    retryable: false,
    summary: "A batch has more entries than the route's batch.maxEntries.",
  },
  message_too_large: {
    status: 413,
    retryable: false,
    summary: "The message is larger than the broker's own limit (read from the broker at connect time, see /ready); nothing was sent.",
  },
  unsupported_media_type: {
    status: 415,
    retryable: false,
    summary: 'The Content-Type does not fit the route (a batch route needs NDJSON or a CloudEvents batch; a route with cloudevents: required needs an event).',
  },
  expectation_failed: {
    status: 417,
    retryable: false,
    summary: 'The request has an Expect header other than 100-continue.',
  },
  invalid_body: {
    status: 422,
    retryable: false,
    summary: "The body is not valid JSON or does not match the route's schema; details lists the failing JSON pointers.",
  },
  rate_limited: {
    status: 429,
    retryable: true,
    summary: "The client is over the route's rate limit, which is per client (see Retry-After).",
  },
  too_many_streams: {
    status: 429,
    retryable: true,
    summary: 'The instance, or this API key on it, has as many streams open as allowed (see Retry-After).',
  },
  too_many_pulls: {
    status: 429,
    retryable: true,
    summary: 'The instance has as many pull requests waiting (long-polling) as allowed (see Retry-After).',
  },
  headers_too_large: {
    status: 431,
    retryable: false,
    summary: 'Too many request headers, or too large.',
  },
  internal_error: { status: 500, retryable: false, summary: 'A bug in busgate; see the log.' },
  broker_rejected: {
    status: 502,
    retryable: false,
    summary: 'The broker refused the message (negative acknowledgement, unroutable, missing destination).',
  },
  broker_unavailable: {
    status: 503,
    retryable: true,
    summary: 'The broker is not reachable (see Retry-After). If the connection dropped after the message was sent, the message says the outcome is unknown.',
  },
  no_responders: {
    status: 503,
    retryable: true,
    summary: 'Request-reply: nobody listens on the destination.',
  },
  overloaded: {
    status: 503,
    retryable: true,
    summary: 'Too many requests in flight for this broker; nothing was published.',
  },
  idempotency_store_unavailable: {
    status: 503,
    retryable: true,
    summary: 'The shared idempotency store is not reachable, so a request with an Idempotency-Key is refused; nothing was published.',
  },
  shutting_down: {
    status: 503,
    retryable: true,
    summary: 'The daemon is draining before exit (or the broker instance is already closed); send to another instance.',
  },
  broker_timeout: {
    status: 504,
    retryable: true,
    summary: 'The broker did not acknowledge in time. The outcome is unknown: the message may be stored.',
  },
  reply_timeout: {
    status: 504,
    retryable: true,
    summary: 'Request-reply: no reply came within the route timeout. The responder may have acted.',
  },
} as const satisfies Record<string, { status: number; retryable: boolean; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The brand every BusgateError carries. A plugin may bundle its own copy of the `busgate` package
 * (another version, or npm did not dedupe the peer dependency), and `instanceof` fails across
 * copies; a registry symbol (Symbol.for) is the same in every copy, so the core recognises the
 * error by this brand and its code instead.
 */
export const BUSGATE_ERROR_BRAND: unique symbol = Symbol.for('busgate.error');

export class BusgateError extends Error {
  readonly [BUSGATE_ERROR_BRAND] = true;
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Seconds a client should wait before retrying; sent as Retry-After. */
  readonly retryAfterSeconds: number | undefined;
  /** Bounded, client-safe specifics (e.g. failing JSON pointers); sent as error.details. */
  readonly details: readonly object[] | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryAfterSeconds?: number; details?: readonly object[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BusgateError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.retryable = ERROR_CODES[code].retryable;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.details = options.details;
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: readonly object[] } } {
    if (this.details === undefined) return { error: { code: this.code, message: this.message } };
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/**
 * A BusgateError from this copy of busgate or from any other (see BUSGATE_ERROR_BRAND): branded,
 * with a code this registry knows. An error with a code only a newer copy knows is not one.
 */
export function isBusgateError(value: unknown): value is BusgateError {
  if (value instanceof BusgateError) return true;
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { [BUSGATE_ERROR_BRAND]?: unknown; code?: unknown; message?: unknown };
  return candidate[BUSGATE_ERROR_BRAND] === true && isErrorCode(candidate.code) && typeof candidate.message === 'string';
}

/**
 * The same error as one of this copy's BusgateErrors: status and retryable from this registry,
 * whatever the other copy said. An error of this copy is returned as it is.
 */
export function asBusgateError(error: Pick<BusgateError, 'code' | 'message'>): BusgateError {
  if (error instanceof BusgateError) return error;
  const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  return new BusgateError(error.code, error.message, {
    cause: error,
    ...(typeof retryAfter === 'number' ? { retryAfterSeconds: retryAfter } : {}),
  });
}

/**
 * Every code a start-up error can carry, printed as `busgate: CODE: message` before exit code 1.
 * Scripts and deploy tooling match on them; the README's start-up table is checked against this.
 */
export const STARTUP_CODES = {
  config_invalid: 'the configuration (file, environment, flags, API keys) is missing or invalid',
  routes_unreadable: 'the routes file cannot be read',
  routes_invalid: 'the routes file has lint problems; every one follows, one per line',
  plugin_not_found: '`plugin:` is not a built-in plugin, a file or an installed npm package',
  plugin_dependency_missing: 'the plugin needs an npm package that is not installed (the message names it)',
  plugin_load_failed: 'the plugin threw while it was imported',
  plugin_invalid: 'the plugin does not export a valid plugin factory',
  plugin_api_version: 'the plugin speaks another plugin API version than this busgate',
  plugin_options_invalid: "a broker instance's `options:` do not match its plugin's schema",
} as const satisfies Record<string, string>;

export type StartupCode = keyof typeof STARTUP_CODES;

/** Errors found before the daemon serves (config, routes, plugin loading). Never sent over HTTP. */
export class StartupError extends Error {
  readonly code: StartupCode;
  readonly details: readonly string[];

  constructor(code: StartupCode, message: string, details: readonly string[] = [], cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'StartupError';
    this.code = code;
    this.details = details;
  }
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
