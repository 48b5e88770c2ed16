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
  unauthorized: { status: 401, retryable: false, summary: 'No valid credentials were presented.' },
  forbidden: { status: 403, retryable: false, summary: 'The credentials may not use this route.' },
  not_found: { status: 404, retryable: false, summary: 'No route has this path.' },
  method_not_allowed: {
    status: 405,
    retryable: false,
    summary: 'A route has this path, but not for this method (see the Allow header).',
  },
  request_timeout: {
    status: 408,
    retryable: true,
    summary: 'The client did not send the whole request in time.',
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
  unsupported_media_type: {
    status: 415,
    retryable: false,
    summary: 'The Content-Type does not fit the route (a batch route needs NDJSON or a CloudEvents batch; a route with cloudevents: required needs an event).',
  },
  invalid_body: {
    status: 422,
    retryable: false,
    summary: "The body is not valid JSON or does not match the route's schema; details lists the failing JSON pointers.",
  },
  rate_limited: {
    status: 429,
    retryable: true,
    summary: 'The route is over its rate limit (see Retry-After).',
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
    summary:
      'The broker refused the message (negative acknowledgement, unroutable, missing destination).',
  },
  broker_unavailable: {
    status: 503,
    retryable: true,
    summary:
      'The broker is not reachable (see Retry-After). If the connection dropped after the message was sent, the message says the outcome is unknown.',
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
  shutting_down: {
    status: 503,
    retryable: true,
    summary: 'The daemon is draining before exit (or the broker instance is already closed); send to another instance.',
  },
  broker_timeout: {
    status: 504,
    retryable: true,
    summary:
      'The broker did not acknowledge in time. The outcome is unknown: the message may be stored.',
  },
  reply_timeout: {
    status: 504,
    retryable: true,
    summary: 'Request-reply: no reply came within the route timeout. The responder may have acted.',
  },
} as const satisfies Record<string, { status: number; retryable: boolean; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Every code the routes linter prints (`FILE:LINE:COL code message`). Like the error codes they are
 * stable, so scripts can key on them, and the README's lint table is checked against this list.
 */
export const LINT_CODES = {
  yaml_syntax: 'the file is not valid YAML',
  wrong_type: 'a value has the wrong type',
  missing_key: 'a required key is missing',
  unknown_key: 'a key busgate does not know',
  bad_path: 'not a valid express path',
  bad_method: 'not GET, POST, PUT, PATCH or DELETE',
  unknown_broker: 'no such broker instance',
  unknown_mode: 'not pubsub, point-to-point or request-reply',
  mode_not_supported: "the broker's plugin cannot do that mode",
  duplicate_route: 'the same method and path twice',
  bad_template: 'a template is malformed',
  unknown_param: 'a template names a parameter the path does not have',
  bad_duration: 'not a duration',
  bad_header_name: 'not a header name',
  bad_option: "options do not match the plugin's route options schema",
  reserved_path: 'a path busgate serves itself',
  reserved_header: 'a broker control header or a credential',
  unknown_client: 'an API key name that is not configured',
  bad_rate_limit: 'rateLimit is not { perSecond, burst }',
  schema_not_found: 'the schema file cannot be read',
  schema_invalid: 'the schema is not valid JSON/YAML or not a usable draft 2020-12 JSON Schema',
  bad_cloudevents: 'cloudevents is not required, accepted or off',
  bad_batch: 'batch is not true, false or { maxEntries }, or the mode cannot batch',
} as const satisfies Record<string, string>;

export type LintCode = keyof typeof LINT_CODES;

export class BusgateError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Seconds a client should wait before retrying; sent as Retry-After. */
  readonly retryAfterSeconds: number | undefined;
  /** Bounded, client-safe specifics (e.g. failing JSON pointers); sent as error.details. */
  readonly details: readonly object[] | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; retryAfterSeconds?: number; details?: readonly object[] } = {},
  ) {
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

export function isBusgateError(value: unknown): value is BusgateError {
  return value instanceof BusgateError;
}

/** Errors found before the daemon serves (config, routes, plugin loading). Never sent over HTTP. */
export class StartupError extends Error {
  readonly code: string;
  readonly details: readonly string[];

  constructor(code: string, message: string, details: readonly string[] = [], cause?: unknown) {
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
