/**
 * The receiving side of busgate's HTTP surface in the OpenAPI document: a GET per stream
 * (Server-Sent Events; a WebSocket upgrade on the same path is outside what OpenAPI describes, so
 * the operation's description names it) and, per pull path, the pull POST and its /ack and
 * /nack. Built from the linted specs, like the routes' operations, so the document lists exactly
 * what is in service.
 */
import type { ErrorCode } from '../errors.js';
import type { PullSpec } from '../pulls/model.js';
import { PULL_DEFAULTS, PULL_LIMITS } from '../pulls/model.js';
import { CLOSE_REASONS, STREAM_LIMITS, type StreamSpec } from '../streams/model.js';
import { errorResponses } from './describe.js';

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

/** A duration as `wait` and `delay` take it (core/duration.ts), or 0. */
const DURATION_PATTERN = '^(0|[0-9]+(\\.[0-9]+)?(ms|s|m|h))$';

/** Path items and component schemas to merge into the document. */
export interface ReceiverOperations {
  readonly paths: Record<string, Json>;
  readonly schemas: Record<string, Json>;
}

/**
 * `takenIds` are the routes' operationIds: a route may be named like a stream's or pull's
 * operation (`pull_jobs`), and operationIds must be unique, so those get a numbered suffix.
 */
export function receiverOperations(
  streams: readonly StreamSpec[],
  pulls: readonly PullSpec[],
  apiKeys: boolean,
  takenIds: ReadonlySet<string> = new Set(),
): ReceiverOperations {
  const taken = new Set(takenIds);
  const unique = (operation: Json): Json => {
    const base = String(operation.operationId);
    let id = base;
    for (let n = 2; taken.has(id); n += 1) id = `${base}_${n}`;
    taken.add(id);
    return { ...operation, operationId: id };
  };
  const paths: Record<string, Json> = {};
  const schemas: Record<string, Json> = {};
  if (streams.length > 0) Object.assign(schemas, { StreamMessage: STREAM_MESSAGE, StreamOpen: STREAM_OPEN, StreamClose: STREAM_CLOSE });
  for (const stream of streams) paths[stream.path] = { get: unique(streamOperation(stream, apiKeys)) };
  if (pulls.length > 0) Object.assign(schemas, { PulledMessages: PULLED_MESSAGES, SettleAnswer: SETTLE_ANSWER });
  for (const pull of pulls) {
    paths[pull.path] = { post: unique(pullOperation(pull, apiKeys)) };
    paths[`${pull.path}/ack`] = { post: unique(settleOperation(pull, 'ack', apiKeys)) };
    paths[`${pull.path}/nack`] = { post: unique(settleOperation(pull, 'nack', apiKeys)) };
  }
  return { paths, schemas };
}

function streamOperation(stream: StreamSpec, apiKeys: boolean): Json {
  const codes: ErrorCode[] = [
    'bad_resume_position',
    'resume_not_supported',
    'not_acceptable',
    'method_not_allowed',
    'too_many_streams',
    'broker_unavailable',
    'shutting_down',
  ];
  return {
    operationId: operationName(stream.path),
    summary: `Server-Sent Events of ${stream.broker}: ${stream.source}`,
    description:
      'An `open` event once the subscription is live, a `message` event per message, and `close` (data: StreamClose) when busgate ends the stream. ' +
      `A WebSocket upgrade on the same path gets the same data as JSON text frames (type open, message, close). A comment heartbeat every ${STREAM_LIMITS.heartbeatMs / 1000} s by default. ` +
      'Messages are not acknowledged: a stream is a view, not a consumer.',
    parameters: [
      {
        name: 'from',
        in: 'query',
        required: false,
        description:
          'Resume after the message with this token (an event id). Refused with resume_not_supported where the broker keeps no history for the source.',
        schema: { type: 'string' },
      },
      {
        name: 'Last-Event-ID',
        in: 'header',
        required: false,
        description: 'As `from` (which wins); EventSource sends it on reconnect. Ignored, not refused, on a live-only stream.',
        schema: { type: 'string' },
      },
      {
        name: 'Accept',
        in: 'header',
        required: true,
        description: 'Must accept text/event-stream (a WebSocket upgrade needs no Accept).',
        schema: { type: 'string' },
      },
    ],
    responses: {
      '200': {
        description: 'The event stream. Each event is `id:` (the resume token, else the message id), `event:` open | message | close, and `data:` JSON.',
        content: {
          'text/event-stream': {
            schema: { type: 'string' },
            // OpenAPI 3.1 has no way to type each event; the shapes of their data are here.
            'x-busgate-events': { open: ref('StreamOpen'), message: ref('StreamMessage'), close: ref('StreamClose') },
          },
        },
      },
      ...refusals(codes, apiKeys),
    },
  };
}

function pullOperation(pull: PullSpec, apiKeys: boolean): Json {
  const codes: ErrorCode[] = ['bad_request', 'method_not_allowed', 'too_many_pulls', 'broker_unavailable', 'broker_rejected', 'shutting_down'];
  return {
    operationId: operationName(pull.path),
    summary: `Lease messages of ${pull.broker}: ${pull.source} (${pull.mode}${pull.group !== undefined ? `, group ${pull.group}` : ''})`,
    description:
      `Each message is leased for ${pull.leaseMs / 1000} s: settle it with POST ${pull.path}/ack or /nack on any instance before then, or it is delivered again. ` +
      'No body is read.',
    parameters: [
      {
        name: 'max',
        in: 'query',
        required: false,
        description: `Most messages to lease (default ${PULL_DEFAULTS.max}; more than ${pull.maxHeld}, the path's maxHeld, is cut to it).`,
        schema: { type: 'integer', minimum: 1 },
      },
      {
        name: 'wait',
        in: 'query',
        required: false,
        description: `How long to wait for the first message, as a duration such as 5s (default 0s, at most ${PULL_LIMITS.maxWaitMs / 1000}s).`,
        schema: { type: 'string', pattern: DURATION_PATTERN },
      },
    ],
    responses: {
      '200': { description: 'Up to `max` leased messages; none is `{"messages": []}`.', content: { 'application/json': { schema: ref('PulledMessages') } } },
      ...refusals(codes, apiKeys),
    },
  };
}

function settleOperation(pull: PullSpec, action: 'ack' | 'nack', apiKeys: boolean): Json {
  const leases = { type: 'array', minItems: 1, maxItems: PULL_LIMITS.maxLeasesPerSettle, items: { type: 'string' } };
  const body =
    action === 'ack'
      ? { type: 'object', additionalProperties: false, required: ['leases'], properties: { leases } }
      : {
          type: 'object',
          additionalProperties: false,
          required: ['leases'],
          properties: {
            leases,
            requeue: {
              type: 'boolean',
              default: true,
              description:
                pull.deadLetter === undefined
                  ? 'false is refused with bad_request: this path has no deadLetter.'
                  : `false stores the messages in the dead letter ${pull.deadLetter} instead of handing them back.`,
            },
            delay: {
              type: 'string',
              pattern: DURATION_PATTERN,
              description: `With requeue true only: hand the messages back after this long (default 0s, at most ${PULL_LIMITS.maxNackDelayMs / 60_000}m).`,
            },
          },
        };
  return {
    operationId: `${operationName(pull.path)}_${action}`,
    summary: action === 'ack' ? `Settle leases of ${pull.path}: done` : `Settle leases of ${pull.path}: give back, or dead-letter`,
    description: 'Any instance settles any lease: it forwards what another instance holds. Each lease gets its own outcome.',
    requestBody: { required: true, content: { 'application/json': { schema: body } } },
    responses: {
      '200': { description: 'One outcome per lease, in request order.', content: { 'application/json': { schema: ref('SettleAnswer') } } },
      ...refusals(['bad_request', 'method_not_allowed', 'payload_too_large'], apiKeys),
    },
  };
}

/** The route-independent refusals of a stream or pull path, plus the key checks when keys are on. */
function refusals(codes: readonly ErrorCode[], apiKeys: boolean): Record<string, unknown> {
  return errorResponses(apiKeys ? [...codes, 'unauthorized', 'forbidden'] : codes);
}

/** `/pull/jobs` -> "pull_jobs": unique among streams and pulls, since their paths are. */
function operationName(path: string): string {
  return path.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]+/g, '_') || 'root';
}

const BODY_FIELDS: Json = {
  encoding: { enum: ['utf8', 'base64'], description: 'utf8: body is the payload as text; base64: the payload was not valid UTF-8.' },
  body: { type: 'string' },
  contentType: { type: ['string', 'null'] },
  headers: { type: 'object', additionalProperties: { type: 'string' } },
  key: { type: ['string', 'null'] },
  position: {
    type: ['object', 'null'],
    additionalProperties: { type: 'string' },
    description: "The broker's position where it keeps one (such as partition and offset, or stream and sequence), else null.",
  },
};

const STREAM_MESSAGE: Json = {
  type: 'object',
  required: ['id', 'encoding', 'body'],
  properties: {
    id: { type: 'string', description: "busgate-id, else the broker's message id" },
    resume: { type: ['string', 'null'], description: 'The token naming the position after this message, where the broker keeps history; else null.' },
    ...BODY_FIELDS,
  },
};

const STREAM_OPEN: Json = {
  type: 'object',
  required: ['history', 'resumed'],
  properties: {
    history: { type: 'boolean', description: 'Whether the broker keeps history for the source (resume works).' },
    position: {
      type: ['string', 'null'],
      description: 'The token of the starting point (resume from it before any message came); null on a live-only stream.',
    },
    resumed: { type: 'boolean' },
    gap: { type: 'boolean', description: 'The resume point was older than what the broker keeps: what lay between is lost.' },
    note: { type: 'string' },
  },
};

const STREAM_CLOSE: Json = {
  type: 'object',
  required: ['reason', 'message'],
  properties: {
    reason: {
      enum: Object.keys(CLOSE_REASONS),
      description: Object.entries(CLOSE_REASONS)
        .map(([reason, { summary }]) => `${reason}: ${summary}`)
        .join('; '),
    },
    message: { type: 'string' },
  },
};

const PULLED_MESSAGES: Json = {
  type: 'object',
  required: ['messages'],
  properties: {
    messages: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'lease', 'leaseExpiresAt', 'encoding', 'body'],
        properties: {
          id: { type: ['string', 'null'], description: "The same on every delivery of a message: busgate's id, else the broker's." },
          lease: { type: 'string', description: 'The token to ack or nack with.' },
          leaseExpiresAt: { type: 'string', format: 'date-time' },
          ...BODY_FIELDS,
          redeliveries: { type: ['integer', 'null'], description: 'Where the broker counts them.' },
        },
      },
    },
  },
};

const SETTLE_ANSWER: Json = {
  type: 'object',
  required: ['settled', 'results'],
  properties: {
    settled: { type: 'integer', minimum: 0 },
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['lease', 'outcome'],
        properties: {
          lease: { type: 'string' },
          outcome: {
            enum: ['settled', 'unknown', 'unreachable'],
            description:
              'unknown: no such lease (ran out, settled before, forged, another path, or its instance restarted); unreachable: the holding instance did not answer.',
          },
        },
      },
    },
  },
};
