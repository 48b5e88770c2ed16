/**
 * W3C Trace Context through busgate: an incoming `traceparent` (or a new trace) continues into the
 * message headers on every broker, and comes back on the HTTP response (the responder's, for
 * request-reply, when it sent one). Span export over OTLP/HTTP is optional and off by default;
 * the OpenTelemetry SDK is imported only when it is turned on, so the hot path without it is a
 * few random bytes per request.
 */
import { randomBytes } from 'node:crypto';

export interface TraceAttributes {
  readonly route: string;
  readonly method: string;
  readonly broker: string;
  readonly mode: string;
  readonly destination: string;
}

export interface RequestTrace {
  /** The context to carry on the message: the publish span's. */
  readonly traceparent: string;
  readonly tracestate: string | undefined;
  /** Ends the spans once the broker answered or failed. */
  finish(outcome: { readonly status: number; readonly code?: string }): void;
}

export interface Tracing {
  start(incoming: { traceparent?: string | undefined; tracestate?: string | undefined }, attributes: TraceAttributes): RequestTrace;
  shutdown(): Promise<void>;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

export interface ParsedTraceparent {
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: number;
}

/** A valid version-00 traceparent, or undefined (an invalid one starts a new trace, per the spec). */
export function parseTraceparent(value: string | undefined): ParsedTraceparent | undefined {
  const match = value === undefined ? null : TRACEPARENT.exec(value.trim());
  if (!match || match[1] === ZERO_TRACE || match[2] === ZERO_SPAN) return undefined;
  return { traceId: match[1]!, spanId: match[2]!, flags: parseInt(match[3]!, 16) };
}

export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${flags.toString(16).padStart(2, '0')}`;
}

/** tracestate is opaque to us: passed on when it is plausible, dropped when not. */
function cleanTracestate(value: string | undefined): string | undefined {
  return value !== undefined && value.length <= 512 && /^[\x20-\x7e]*$/.test(value) ? value : undefined;
}

/** Random ids from a pooled buffer: one randomBytes call per 4 KiB instead of two per request. */
let pool = Buffer.alloc(0);
let offset = 0;
function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

/** Propagation only: new span ids for our hop, nothing recorded. */
export function propagationOnly(): Tracing {
  return {
    start(incoming) {
      const parent = parseTraceparent(incoming.traceparent);
      const traceId = parent?.traceId ?? randomHex(16);
      return {
        traceparent: formatTraceparent(traceId, randomHex(8), parent?.flags ?? 0),
        tracestate: parent ? cleanTracestate(incoming.tracestate) : undefined,
        finish: () => undefined,
      };
    },
    shutdown: () => Promise.resolve(),
  };
}

/**
 * Spans exported with the OpenTelemetry SDK over OTLP/HTTP (JSON): one SERVER span for the HTTP
 * request and one PRODUCER span for the hand-over to the broker, ended at the acknowledgement or
 * reply. `endpoint` is the collector's base URL (…/v1/traces is added).
 */
export async function otlpTracing(endpoint: string, serviceName: string): Promise<Tracing> {
  const api = await import('@opentelemetry/api');
  const { TracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace');
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');

  const exporter = new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 500 })],
  });
  const tracer = provider.getTracer('busgate');

  return {
    start(incoming, attributes) {
      const parent = parseTraceparent(incoming.traceparent);
      const parentContext = parent
        ? api.trace.setSpanContext(api.ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.flags, isRemote: true })
        : api.ROOT_CONTEXT;
      const server = tracer.startSpan(
        `${attributes.method} ${attributes.route}`,
        { kind: api.SpanKind.SERVER, attributes: { 'http.request.method': attributes.method, 'http.route': attributes.route } },
        parentContext,
      );
      const producer = tracer.startSpan(
        `${attributes.mode} ${attributes.destination}`,
        {
          kind: attributes.mode === 'request-reply' ? api.SpanKind.CLIENT : api.SpanKind.PRODUCER,
          attributes: { 'messaging.system': attributes.broker, 'messaging.destination.name': attributes.destination, 'busgate.mode': attributes.mode },
        },
        api.trace.setSpan(parentContext, server),
      );
      const context = producer.spanContext();
      return {
        traceparent: formatTraceparent(context.traceId, context.spanId, context.traceFlags),
        tracestate: parent ? cleanTracestate(incoming.tracestate) : undefined,
        finish(outcome) {
          if (outcome.code !== undefined) {
            producer.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome.code });
            server.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome.code });
          }
          server.setAttribute('http.response.status_code', outcome.status);
          producer.end();
          server.end();
        },
      };
    },
    shutdown: () => provider.shutdown(),
  };
}
