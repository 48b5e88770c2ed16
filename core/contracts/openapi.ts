/**
 * An OpenAPI 3.1 document of the configured routes, built from the linted routes (never from the
 * YAML text): paths with their parameters and header choices, request bodies with the route's
 * schema and CloudEvents/batch forms, every response with its schema, the API-key scheme when
 * keys are on; and the streams and pull paths (core/contracts/openapi-receivers.ts). Served at GET /openapi.json (rebuilt on reload) and printed by `busgate openapi`.
 */
import { parse as parsePath, type Token } from 'path-to-regexp';
import type { ErrorCode } from '../errors.js';
import type { JsonSchema } from '../plugins/contract.js';
import type { PullSpec } from '../pulls/model.js';
import type { RouteSpec } from '../routes/model.js';
import type { StreamSpec } from '../streams/model.js';
import { BATCH_TYPE, HTTP_ATTRIBUTE_PREFIX, STRUCTURED_TYPE } from './cloudevents.js';
import { ENVELOPE_TYPE } from './request-body.js';
import {
  CLOUDEVENT_HEADER_ATTRIBUTES,
  ERROR_SCHEMA,
  PACKAGE_VERSION,
  RECEIPT_BASE,
  brokersOf,
  cloudEventSchema,
  componentName,
  embeddedSchema,
  errorResponses,
  modesOf,
  templateHeaders,
  type BrokerDeclarations,
} from './describe.js';
import { receiverOperations } from './openapi-receivers.js';

export interface OpenApiOptions {
  /** API keys are configured: every route needs one. */
  readonly apiKeys: boolean;
  readonly title?: string;
  /** Streams (GET, Server-Sent Events) and pull paths (POST, with /ack and /nack) in service. */
  readonly streams?: readonly StreamSpec[];
  readonly pulls?: readonly PullSpec[];
}

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

export function buildOpenApi(routes: readonly RouteSpec[], brokers: BrokerDeclarations, options: OpenApiOptions): Json {
  const schemas: Json = { Error: ERROR_SCHEMA, Receipt: RECEIPT_BASE, BatchAnswer: batchAnswerSchema() };
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const name = componentName(route);
    let body: Json | undefined;
    if (route.contract.bodySchema) {
      schemas[`${name}.body`] = embeddedSchema(route.contract.bodySchema.document, `#/components/schemas/${name}.body`);
      body = ref(`${name}.body`);
    }
    schemas[`${name}.receipt`] = receiptSchema(route, brokers);
    // operationIds must be unique: the first variant of an optional group keeps the route's name.
    for (const [index, variant] of pathVariants(route.path).entries()) {
      const operations = (paths[variant.path] ??= {});
      operations[route.method.toLowerCase()] = operation(route, name, index === 0 ? name : `${name}_${index}`, variant.params, body, options);
    }
  }
  const routeIds = new Set(Object.values(paths).flatMap((operations) => Object.values(operations).map((op) => String((op as Json).operationId))));
  const receivers = receiverOperations(options.streams ?? [], options.pulls ?? [], options.apiKeys, routeIds);
  for (const [path, item] of Object.entries(receivers.paths)) Object.assign((paths[path] ??= {}), item);
  Object.assign(schemas, receivers.schemas);
  const document: Json = {
    openapi: '3.1.0',
    info: {
      title: options.title ?? 'busgate routes',
      version: PACKAGE_VERSION,
      description:
        'Each route operation turns an HTTP request into a broker message: 2xx only after the broker acknowledged (or replied). ' +
        'Stream operations (GET, Server-Sent Events) and pull operations (POST, with /ack and /nack) hand broker messages to clients.',
    },
    paths,
    components: { schemas },
  };
  if (options.apiKeys) {
    (document.components as Json).securitySchemes = {
      bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' },
      apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
    };
    document.security = [{ bearer: [] }, { apiKey: [] }];
  }
  return document;
}

function operation(route: RouteSpec, name: string, operationId: string, pathParams: readonly string[], body: Json | undefined, options: OpenApiOptions): Json {
  const modes = modesOf(route);
  const parameters: Json[] = pathParams.map((param) => ({ name: param, in: 'path', required: true, schema: { type: 'string' } }));
  const headers = templateHeaders(route);
  const choices = new Map<string, readonly string[]>();
  if (route.broker.kind === 'chosen') choices.set(placeholderHeader(route.broker.template) ?? '', route.broker.allowed);
  if (route.mode.kind === 'chosen') choices.set(placeholderHeader(route.mode.template) ?? '', route.mode.allowed);
  for (const header of headers.required) {
    const allowed = choices.get(header);
    parameters.push({ name: header, in: 'header', required: true, schema: allowed ? { type: 'string', enum: allowed } : { type: 'string' } });
  }
  for (const header of headers.optional)
    parameters.push({ name: header, in: 'header', required: false, description: 'copied into the message', schema: { type: 'string' } });
  for (const param of pathParams) {
    const allowed =
      route.broker.kind === 'chosen' && placeholderParam(route.broker.template) === param
        ? route.broker.allowed
        : route.mode.kind === 'chosen' && placeholderParam(route.mode.template) === param
          ? route.mode.allowed
          : undefined;
    if (allowed) (parameters.find((p) => p.name === param)!.schema as Json).enum = allowed;
  }
  parameters.push({
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description: 'A repeat within the idempotency window returns the first answer and publishes nothing.',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._:@-]{1,200}$' },
  });
  parameters.push({
    name: 'traceparent',
    in: 'header',
    required: false,
    description: 'W3C trace context, passed on to the broker.',
    schema: { type: 'string' },
  });
  const events = route.contract.cloudEvents !== 'off';
  if (events) {
    for (const attribute of CLOUDEVENT_HEADER_ATTRIBUTES) {
      parameters.push({
        name: `${HTTP_ATTRIBUTE_PREFIX}${attribute}`,
        in: 'header',
        required: false,
        description: `CloudEvents binary mode: the event's ${attribute}${route.contract.cloudEvents === 'required' ? ' (this route takes only events: binary or structured)' : ''}`,
        schema: { type: 'string' },
      });
    }
  }

  const content: Json = {};
  content[body ? 'application/json' : '*/*'] = { schema: body ?? {} };
  if (events) content[STRUCTURED_TYPE] = { schema: cloudEventSchema(body) };
  if (route.contract.batch) {
    content['application/x-ndjson'] = {
      schema: {
        type: 'string',
        description: `One JSON value per line, each one message${body ? ` matching ${name}.body` : ''}; at most ${route.contract.batch.maxEntries} lines.`,
      },
    };
    content[ENVELOPE_TYPE] = { schema: envelopeSchema(route, body) };
    if (events) content[BATCH_TYPE] = { schema: { type: 'array', maxItems: route.contract.batch.maxEntries, items: cloudEventSchema(body) } };
  }

  const responses: Json = {};
  if (modes.includes('request-reply')) responses['200'] = { description: "The responder's reply, as it sent it.", content: { '*/*': { schema: {} } } };
  if (modes.some((mode) => mode !== 'request-reply'))
    responses['202'] = {
      description: 'The broker acknowledged the message (a batch: every entry).',
      content: { 'application/json': { schema: route.contract.batch ? { oneOf: [ref(`${name}.receipt`), ref('BatchAnswer')] } : ref(`${name}.receipt`) } },
    };
  if (route.contract.batch)
    responses['207'] = {
      description: 'A batch of which some entries were accepted: entries lists each receipt or error in order.',
      content: { 'application/json': { schema: ref('BatchAnswer') } },
    };
  Object.assign(responses, errorResponses(errorCodes(route, options)));

  const destinations = brokersOf(route).join(' | ');
  const op: Json = {
    operationId,
    summary: `${modes.join(' | ')} to ${destinations}: ${route.destination.source}`,
    parameters,
    requestBody: { required: false, content },
    responses,
  };
  return op;
}

/** The error codes a route can answer with. */
function errorCodes(route: RouteSpec, options: OpenApiOptions): ErrorCode[] {
  const codes: ErrorCode[] = [
    'bad_request',
    'invalid_token',
    'missing_value',
    'payload_too_large',
    'headers_too_large',
    'internal_error',
    'broker_rejected',
    'broker_unavailable',
    'overloaded',
    'shutting_down',
    'broker_timeout',
    'request_timeout',
    'method_not_allowed',
  ];
  if (route.broker.kind === 'chosen') codes.push('broker_not_allowed');
  if (route.mode.kind === 'chosen') codes.push('mode_not_allowed');
  if (options.apiKeys) codes.push('unauthorized', 'forbidden');
  if (route.rateLimit) codes.push('rate_limited');
  if (route.contract.bodySchema || route.contract.batch) codes.push('invalid_body');
  if (route.contract.cloudEvents !== 'off') codes.push('invalid_cloudevent');
  if (route.contract.bodySchema || route.contract.batch || route.contract.cloudEvents !== 'off') codes.push('unsupported_media_type');
  if (route.contract.batch) codes.push('too_many_entries');
  if (modesOf(route).includes('request-reply')) codes.push('no_responders', 'reply_timeout');
  return codes;
}

function receiptSchema(route: RouteSpec, brokers: BrokerDeclarations): JsonSchema {
  const details = brokersOf(route)
    .map((broker) => brokers.get(broker)?.contracts.receiptSchema)
    .filter((schema): schema is JsonSchema => schema !== undefined);
  if (details.length === 0) return ref('Receipt');
  return { allOf: [ref('Receipt'), details.length === 1 ? details[0]! : { anyOf: details }] };
}

/** The envelope form of a batch: one object per message, with its own key and forwarded headers. */
function envelopeSchema(route: RouteSpec, body: Json | undefined): JsonSchema {
  const headers = Object.fromEntries(route.forwardHeaders.map((name) => [name, { type: 'string' }]));
  return {
    type: 'array',
    minItems: 1,
    maxItems: route.contract.batch!.maxEntries,
    items: {
      type: 'object',
      additionalProperties: false,
      oneOf: [{ required: ['body'] }, { required: ['bodyBase64'] }],
      properties: {
        body: body ?? {},
        bodyBase64: { type: 'string', contentEncoding: 'base64' },
        contentType: { type: 'string' },
        key: { type: 'string', description: "this entry's key, in place of the route's key template" },
        headers: { type: 'object', additionalProperties: false, properties: headers },
      },
    },
  };
}

function batchAnswerSchema(): JsonSchema {
  return {
    type: 'object',
    required: ['accepted', 'failed', 'entries'],
    properties: {
      accepted: { type: 'integer', minimum: 0 },
      failed: { type: 'integer', minimum: 0 },
      entries: {
        type: 'array',
        description: 'One per entry, in request order.',
        items: {
          oneOf: [
            { type: 'object', required: ['status', 'receipt'], properties: { status: { const: 202 }, receipt: ref('Receipt') } },
            {
              type: 'object',
              required: ['status', 'id', 'error'],
              properties: { status: { type: 'integer' }, id: { type: 'string' }, error: (ERROR_SCHEMA.properties as Json).error },
            },
          ],
        },
      },
    },
  };
}

/** `{header.x-mode}` -> "x-mode", when a choice template is one header placeholder. */
function placeholderHeader(template: { parts: readonly { kind: string; name?: string }[] }): string | undefined {
  const part = template.parts[0];
  return part?.kind === 'header' ? part.name!.toLowerCase() : undefined;
}

function placeholderParam(template: { parts: readonly { kind: string; name?: string }[] }): string | undefined {
  const part = template.parts[0];
  return part?.kind === 'param' ? part.name : undefined;
}

/**
 * An express path in OpenAPI form. Optional groups (`/files{/:name}`) have no OpenAPI equivalent,
 * so each combination becomes its own path (bounded: at most 8 per route).
 */
export function pathVariants(path: string): Array<{ path: string; params: string[] }> {
  let variants: Array<{ path: string; params: string[] }> = [{ path: '', params: [] }];
  const walk = (tokens: readonly Token[], into: Array<{ path: string; params: string[] }>): Array<{ path: string; params: string[] }> => {
    let current = into;
    for (const token of tokens) {
      if (token.type === 'text') current = current.map((v) => ({ path: v.path + token.value, params: v.params }));
      else if (token.type === 'param' || token.type === 'wildcard')
        current = current.map((v) => ({ path: `${v.path}{${token.name}}`, params: [...v.params, token.name] }));
      else if (token.type === 'group') current = current.length >= 8 ? current : [...current, ...walk(token.tokens, current)];
    }
    return current;
  };
  variants = walk(parsePath(path).tokens, variants);
  return variants.slice(0, 8);
}
