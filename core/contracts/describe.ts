/**
 * What the OpenAPI and AsyncAPI documents share: the brokers a route may use, its templates'
 * inputs, its body schema as a reusable component, and the fixed shapes busgate answers with.
 */
import fs from 'node:fs';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import type { ContractDeclarations, JsonSchema, Mode } from '../plugins/contract.js';
import type { RouteSpec } from '../routes/model.js';
import type { Template } from '../routes/template.js';

/** What a document needs to know of each broker instance: its plugin's declarations. */
export type BrokerDeclarations = ReadonlyMap<string, { readonly contracts: ContractDeclarations }>;

/** The declarations of loaded (not connected) instances, for `busgate openapi|asyncapi`. */
export function declarationsOf(loaded: ReadonlyMap<string, { readonly factory: ContractDeclarations }>): BrokerDeclarations {
  return new Map([...loaded].map(([name, instance]) => [name, { contracts: instance.factory }]));
}

/** busgate's own version, for the documents' info.version. */
export const PACKAGE_VERSION: string = (() => {
  try {
    const { version } = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof version === 'string' ? version : '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

export function brokersOf(route: RouteSpec): readonly string[] {
  return route.broker.kind === 'fixed' ? [route.broker.value] : route.broker.allowed;
}

export function modesOf(route: RouteSpec): readonly Mode[] {
  return route.mode.kind === 'fixed' ? [route.mode.value] : route.mode.allowed;
}

/** A name usable as an OpenAPI/AsyncAPI component key and operationId. */
export function componentName(route: RouteSpec): string {
  const name = route.name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '');
  return name === '' ? `route_line_${route.line}` : name;
}

/** Request headers a route reads: those its templates name (required) and those it forwards. */
export function templateHeaders(route: RouteSpec): { required: string[]; optional: string[] } {
  const required = new Set<string>();
  const templates: Array<Template | undefined> = [
    route.destination,
    route.key,
    route.broker.kind === 'chosen' ? route.broker.template : undefined,
    route.mode.kind === 'chosen' ? route.mode.template : undefined,
  ];
  for (const template of templates) for (const part of template?.parts ?? []) if (part.kind === 'header') required.add(part.name.toLowerCase());
  return { required: [...required], optional: route.forwardHeaders.filter((name) => !required.has(name)) };
}

/**
 * The route's body schema, made safe to embed under `pointer`: `$ref`s into the schema's own
 * document (`#/$defs/x`) are re-rooted there, and `$schema`/`$id` are dropped (the embedding
 * document sets the dialect).
 */
export function embeddedSchema(document: Readonly<Record<string, unknown>>, pointer: string): Record<string, unknown> {
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (typeof value !== 'object' || value === null) return value;
    const result: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      if (key === '$ref' && typeof inner === 'string' && inner.startsWith('#')) result[key] = `${pointer}${inner.slice(1)}`;
      else result[key] = rewrite(inner);
    }
    return result;
  };
  const { $schema: _dialect, $id: _id, ...rest } = document;
  return rewrite(rest) as Record<string, unknown>;
}

export const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_CODES) },
        message: { type: 'string' },
        details: {
          type: 'array',
          maxItems: 5,
          description: 'For invalid_body and invalid_cloudevent: where the body failed, as JSON pointers.',
          items: { type: 'object', properties: { pointer: { type: 'string' }, problem: { type: 'string' } } },
        },
      },
    },
  },
};

/** Every receipt has these; each plugin adds its own details (partition/offset, stream/seq...). */
export const RECEIPT_BASE: JsonSchema = {
  type: 'object',
  required: ['id', 'broker', 'mode', 'destination'],
  properties: {
    id: { type: 'string', description: "busgate's message id (the Idempotency-Key when one was sent)" },
    broker: { type: 'string' },
    mode: { type: 'string', enum: ['pubsub', 'point-to-point', 'request-reply'] },
    destination: { type: 'string' },
  },
};

/** A CloudEvent in structured JSON form (CloudEvents 1.0), with the route's schema as its data. */
export function cloudEventSchema(data: JsonSchema | undefined): JsonSchema {
  return {
    type: 'object',
    required: ['specversion', 'id', 'source', 'type'],
    properties: {
      specversion: { const: '1.0' },
      id: { type: 'string', minLength: 1 },
      source: { type: 'string', minLength: 1, format: 'uri-reference' },
      type: { type: 'string', minLength: 1 },
      subject: { type: 'string' },
      time: { type: 'string', format: 'date-time' },
      datacontenttype: { type: 'string' },
      dataschema: { type: 'string', format: 'uri' },
      data: data ?? {},
      data_base64: { type: 'string', contentEncoding: 'base64' },
    },
  };
}

/** Binary-mode CloudEvents attributes as they appear in headers with `prefix`. */
export const CLOUDEVENT_HEADER_ATTRIBUTES = ['specversion', 'id', 'source', 'type', 'subject', 'time', 'dataschema'] as const;

/**
 * OpenAPI responses for error codes: one per HTTP status, in status order, each describing its
 * codes and answering with the Error schema.
 */
export function errorResponses(codes: readonly ErrorCode[]): Record<string, unknown> {
  const grouped = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_CODES[code].status;
    grouped.set(status, [...(grouped.get(status) ?? []), code]);
  }
  const responses: Record<string, unknown> = {};
  for (const [status, inStatus] of [...grouped].sort(([a], [b]) => a - b)) {
    responses[String(status)] = {
      description: inStatus.map((code) => `\`${code}\`: ${ERROR_CODES[code].summary}`).join(' '),
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return responses;
}
