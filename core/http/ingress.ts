/**
 * The ingress: the configured routes, served straight on node:http. Express costs about four
 * times bare node per request on this hardware (see the README's performance section), so the
 * hot path does not go through it; express serves busgate's own endpoints (health, metrics,
 * console, tap) and answers whatever no route matches.
 *
 * One request, in order, each step refusing before the next one costs anything:
 *   draining? header count? -> API key, client allow-list -> rate limit
 *   -> plan: broker, mode, destination, key, headers from the path and headers only (400s here:
 *      the body is never read, so nothing can be published)
 *   -> body, size-capped (413) -> contract: schema, CloudEvent, batch (core/contracts/; 400/415/422)
 *   -> broker (BrokerInstance: deadline, bounds, circuit, the broker's rules)
 *   -> 202 + receipt | 200 + reply | JSON error, only once the broker acknowledged or replied.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { match, type MatchFunction } from 'path-to-regexp';
import type { Logger } from 'winston';
import { scopedMessageId } from '../dedupe-id.js';
import { BusgateError, isBusgateError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import { parseTraceparent, type RequestTrace, type Tracing } from '../observability/tracing.js';
import type { Mode, OutboundMessage, Receipt } from '../plugins/contract.js';
import type { BrokerInstance, SendResult } from '../brokers/instance.js';
import { RESERVED_PATHS } from '../routes/lint.js';
import type { Choice, RouteSpec } from '../routes/model.js';
import { renderTemplate, type TemplateInputs } from '../routes/template.js';
import { CHALLENGE, type Authenticator } from './auth.js';
import { bodyBytes, IDEMPOTENCY_KEY, type IdempotencyStore, type StoredAnswer } from './idempotency.js';
import type { Lifecycle } from './lifecycle.js';
import type { RateLimiter, RateLimits } from './rate-limit.js';
import { readBody } from './read-body.js';
import { RouteTrie } from './router.js';
import { interpretBody, type BodyEntry } from '../contracts/request-body.js';
import { HTTP_BINDING, cloudEventHeaders } from '../contracts/cloudevents.js';
import { NoEntryAccepted, batchEntryId, checkEntryKeys, deliverBatch, unlessNoneAccepted } from './batch.js';
import { sendError } from './send-error.js';

export interface IngressDependencies {
  readonly brokers: ReadonlyMap<string, BrokerInstance>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
  readonly bodyLimitBytes: number;
  readonly defaultTimeoutMs: number;
  readonly authenticator: Authenticator;
  readonly idempotency: IdempotencyStore;
  readonly rateLimits: RateLimits;
  readonly maxHeaders: number;
  readonly tracing: Tracing;
  /** Paths another handler serves (live streams, on express): passed on instead of answered 404. */
  readonly servedElsewhere?: (path: string) => boolean;
}

interface Plan {
  readonly broker: BrokerInstance;
  readonly mode: Mode;
  readonly destination: string;
  readonly key: string | undefined;
  readonly headers: Record<string, string>;
  readonly idempotencyKey: string | undefined;
}

interface MessageIds {
  readonly id: string;
  readonly dedupeId: string;
}

const CONTROL_CHARACTERS = /[\u0000-\u0008\u000a-\u001f\u007f]/;

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function writeAnswer(res: ServerResponse, answer: StoredAnswer, replayed: boolean): void {
  const headers: Record<string, string | number> = {
    'Content-Type': answer.contentType,
    'Content-Length': bodyBytes(answer.body),
    'X-Busgate-Id': answer.messageId,
  };
  if (answer.traceparent !== undefined) headers.traceparent = answer.traceparent;
  if (replayed) headers['Idempotent-Replayed'] = 'true';
  if (answer.retryAfterSeconds !== undefined) headers['Retry-After'] = String(answer.retryAfterSeconds);
  res.writeHead(answer.status, headers);
  // A string body goes out in one write with the head (a Buffer makes node use writev).
  res.end(answer.body);
}

/** One compiled route: everything that can be decided at load time is decided here. */
class CompiledRoute {
  readonly matches: MatchFunction<Partial<Record<string, string | string[]>>>;
  private readonly timeoutMs: number;
  private readonly fixedBroker: BrokerInstance | undefined;
  /** The route's options parsed for the fixed broker when the routes loaded. */
  private readonly fixedOptions: Readonly<Record<string, unknown>> | undefined;
  private readonly buckets: RateLimiter | undefined;
  private readonly duration;
  private readonly statusCounters = new Map<number, { inc(): void }>();

  constructor(
    readonly spec: RouteSpec,
    private readonly deps: IngressDependencies,
  ) {
    // Request targets arrive percent-encoded (`/caf%C3%A9`): a route path written with non-ASCII
    // text (`/café`) is matched in that form (hex case ignored, as path-to-regexp matches
    // case-insensitively).
    this.matches = match(encodeNonAscii(spec.path), { decode: decodeURIComponent });
    this.timeoutMs = spec.timeoutMs ?? deps.defaultTimeoutMs;
    this.fixedBroker = spec.broker.kind === 'fixed' ? deps.brokers.get(spec.broker.value) : undefined;
    this.fixedOptions = spec.broker.kind === 'fixed' ? spec.brokerOptions.get(spec.broker.value) : undefined;
    this.buckets = spec.rateLimit ? deps.rateLimits.forRoute(spec.name, spec.rateLimit) : undefined;
    this.duration = deps.metrics.httpDuration.labels({ route: spec.name });
  }

  async serve(req: IncomingMessage, res: ServerResponse, params: Partial<Record<string, string | string[]>>): Promise<void> {
    const started = process.hrtime.bigint();
    // 'finish' is emitted once per response: on() spares once()'s wrapper on every request.
    res.on('finish', () => this.observe(req, res, started));
    let trace: RequestTrace | undefined;
    try {
      const client = this.admit(req);
      if (this.buckets) await this.limit(this.buckets, client);
      const planned = this.plan({ params, headers: req.headers });
      const payload = await readBody(req, this.deps.bodyLimitBytes);
      const body = interpretBody(this.spec.contract, req.headers, payload, this.spec.forwardHeaders);
      trace = this.deps.tracing.start(
        { traceparent: firstValue(req.headers.traceparent), tracestate: firstValue(req.headers.tracestate) },
        { route: this.spec.name, method: this.spec.method, broker: planned.broker.name, mode: planned.mode, destination: planned.destination },
      );
      if (body.kind === 'batch' && planned.mode === 'request-reply') throw new BusgateError('mode_not_allowed', 'a batch cannot be sent as request-reply');
      if (body.kind === 'batch') checkEntryKeys(body.entries, planned.broker.tokenRule('key'));
      const currentTrace = trace;
      const send = (): Promise<StoredAnswer> =>
        body.kind === 'single'
          ? this.deliver(
              planned,
              this.message(planned, req.headers, body.entry, currentTrace, this.ids(client, planned.idempotencyKey ?? randomUUID(), planned)),
              currentTrace,
            )
          : deliverBatch(
              body.entries.map((entry, index) =>
                this.message(planned, req.headers, entry, currentTrace, this.ids(client, batchEntryId(planned.idempotencyKey, index), planned)),
              ),
              (message) => this.deliverEntry(planned, message),
              currentTrace.traceparent,
            ).then(unlessNoneAccepted);
      let answer: StoredAnswer;
      let replayed = false;
      if (planned.idempotencyKey === undefined) {
        answer = await send();
      } else {
        const scope = { route: this.spec.name, client, key: planned.idempotencyKey };
        // A repeat waits as long as the first attempt may take; a claim whose owner died holds longer.
        const run = { waitMs: this.timeoutMs + 1000, leaseMs: this.timeoutMs + 10_000 };
        const outcome = await this.deps.idempotency.run(scope, send, run);
        answer = outcome.answer;
        replayed = outcome.replayed;
      }
      writeAnswer(res, answer, replayed);
      trace.finish({ status: answer.status });
    } catch (error) {
      if (error instanceof NoEntryAccepted) {
        writeAnswer(res, error.answer, false);
        trace?.finish({ status: error.answer.status });
        return;
      }
      const extra: Record<string, string> = trace ? { traceparent: trace.traceparent } : {};
      if (isBusgateError(error) && error.code === 'unauthorized') Object.assign(extra, CHALLENGE);
      if (isBusgateError(error) && (error.code === 'payload_too_large' || error.code === 'shutting_down')) extra.Connection = 'close';
      sendError(res, error, this.deps.logger, extra);
      trace?.finish({ status: res.statusCode, code: isBusgateError(error) ? error.code : 'internal_error' });
    }
  }

  /** Refusals that need neither the path parameters nor the body; returns the client's name. */
  private admit(req: IncomingMessage): string {
    if (this.deps.lifecycle.draining) throw new BusgateError('shutting_down', 'the daemon is shutting down', { retryAfterSeconds: 1 });
    // The server lets maxHeaders + 1 through, so that one more than allowed is seen here.
    if (req.rawHeaders.length / 2 > this.deps.maxHeaders) throw new BusgateError('headers_too_large', `more than ${this.deps.maxHeaders} headers`);
    const client = this.deps.authenticator.admit(req.headers, this.spec.clients);
    if (typeof client !== 'string') throw client;
    return client;
  }

  private async limit(buckets: RateLimiter, client: string): Promise<void> {
    const taken = await buckets.take(client);
    if (!taken.ok)
      throw new BusgateError('rate_limited', `this route allows ${this.spec.rateLimit!.perSecond} requests per second per client`, {
        retryAfterSeconds: taken.retryAfterSeconds,
      });
  }

  private choose<T extends string>(choice: Choice<T>, inputs: TemplateInputs, what: 'broker' | 'mode'): T {
    if (choice.kind === 'fixed') return choice.value;
    const value = renderTemplate(choice.template, inputs, () => true, what);
    if (!(choice.allowed as readonly string[]).includes(value)) {
      throw new BusgateError(`${what}_not_allowed`, `${what} "${value.slice(0, 64)}" is not allowed on this route (allowed: ${choice.allowed.join(', ')})`);
    }
    return value as T;
  }

  private plan(inputs: TemplateInputs): Plan {
    const broker = this.fixedBroker ?? this.deps.brokers.get(this.choose(this.spec.broker, inputs, 'broker'))!;
    const mode = this.choose(this.spec.mode, inputs, 'mode');
    if (!broker.can(mode)) throw new BusgateError('mode_not_allowed', `broker "${broker.name}" cannot do ${mode}`);
    const destination = renderTemplate(this.spec.destination, inputs, broker.tokenRule('destination'), 'destination');
    const problem = broker.destinationProblem(destination);
    if (problem !== undefined) throw new BusgateError('invalid_token', `destination "${destination.slice(0, 128)}" is not valid: ${problem}`);
    const key = this.spec.key ? renderTemplate(this.spec.key, inputs, broker.tokenRule('key'), 'key') : undefined;
    const headers: Record<string, string> = {};
    for (const name of this.spec.forwardHeaders) {
      const value = inputs.headers[name];
      const text = Array.isArray(value) ? value.join(', ') : value;
      if (text === undefined) continue;
      if (CONTROL_CHARACTERS.test(text)) throw new BusgateError('bad_request', `header "${name}" contains control characters`);
      headers[name] = text;
    }
    const idempotencyKey = inputs.headers['idempotency-key'];
    if (idempotencyKey !== undefined) {
      if (typeof idempotencyKey !== 'string' || !IDEMPOTENCY_KEY.test(idempotencyKey)) {
        throw new BusgateError('bad_request', 'Idempotency-Key must be 1 to 200 characters of letters, digits and . _ : @ -');
      }
      headers['idempotency-key'] = idempotencyKey;
    }
    return { broker, mode, destination, key, headers, idempotencyKey };
  }

  /**
   * The message's id (receipt, busgate-id, webhook-id at egress), which is also the id a broker
   * dedupes on. A UUID busgate drew is unique already. An id from the client's Idempotency-Key is
   * derived from client, route and key: the same client's retry gets the same id (on every
   * replica, so JetStream and consumers still drop it), while another client sending the same key
   * gets another id, so no receiver deduping on the id can drop one client's message as the
   * other's duplicate. The key itself travels in the `idempotency-key` header.
   */
  private ids(client: string, id: string, planned: Plan): MessageIds {
    if (planned.idempotencyKey === undefined) return { id, dedupeId: id };
    const scoped = scopedMessageId(['ingress', client, this.spec.name, id]);
    return { id: scoped, dedupeId: scoped };
  }

  private message(planned: Plan, requestHeaders: IncomingHttpHeaders, entry: BodyEntry, trace: RequestTrace, { id, dedupeId }: MessageIds): OutboundMessage {
    // Object.assign, not `{ ...a, ...b, traceparent }`: on node 20 each field written after a
    // spread of a non-empty object costs about 1 µs (README, "Spreads on the request path").
    const headers: Record<string, string> = Object.assign({}, planned.headers, entry.headers, { traceparent: trace.traceparent });
    if (entry.cloudEvent) Object.assign(headers, cloudEventHeaders(entry.cloudEvent, planned.broker.contracts.cloudEvents ?? HTTP_BINDING));
    if (trace.tracestate !== undefined) headers.tracestate = trace.tracestate;
    // The body is passed on as sent; a compressed body keeps its encoding so consumers can read it.
    const encoding = requestHeaders['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') headers['content-encoding'] = encoding;
    const contentType = entry.contentType;
    return {
      // Derived from the client's Idempotency-Key when it sent one, so consumers see the same id
      // on every retry of that client and never another client's (see ids()).
      id,
      dedupeId,
      payload: entry.payload,
      headers,
      ...(contentType === undefined ? {} : { contentType }),
      ...((entry.key ?? planned.key) === undefined ? {} : { key: entry.key ?? planned.key }),
    };
  }

  private async deliver(planned: Plan, message: OutboundMessage, trace: RequestTrace): Promise<StoredAnswer> {
    const result = await this.send(planned, message);
    if (result.kind === 'reply') {
      const replied = parseTraceparent(result.reply.headers.traceparent) ? result.reply.headers.traceparent : trace.traceparent;
      return {
        status: 200,
        contentType: result.reply.contentType ?? 'application/octet-stream',
        body: result.reply.payload,
        messageId: message.id,
        traceparent: replied,
      };
    }
    return {
      status: 202,
      contentType: 'application/json; charset=utf-8',
      body: JSON.stringify(this.receipt(planned, message, result.receipt)),
      messageId: message.id,
      traceparent: trace.traceparent,
    };
  }

  /** One entry of a batch: its receipt (batches are never request-reply, see the linter). */
  private async deliverEntry(planned: Plan, message: OutboundMessage): Promise<Record<string, unknown>> {
    const result = await this.send(planned, message);
    if (result.kind === 'reply') throw new BusgateError('mode_not_allowed', 'a batch cannot be sent as request-reply');
    return this.receipt(planned, message, result.receipt);
  }

  private send(planned: Plan, message: OutboundMessage): Promise<SendResult> {
    return planned.broker.send({
      mode: planned.mode,
      destination: planned.destination,
      message,
      timeoutMs: this.timeoutMs,
      options: this.optionsFor(planned.broker),
    });
  }

  private receipt(planned: Plan, message: OutboundMessage, receipt: Receipt): Record<string, unknown> {
    // The same fields and order as `{ ...receipt, id, … }`, without the spread's cost (see message()).
    return Object.assign({}, receipt, { id: message.id, broker: planned.broker.name, mode: planned.mode, destination: planned.destination });
  }

  private optionsFor(broker: BrokerInstance): Readonly<Record<string, unknown>> {
    return this.fixedOptions ?? this.spec.brokerOptions.get(broker.name) ?? this.spec.options;
  }

  private observe(req: IncomingMessage, res: ServerResponse, started: bigint): void {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    let counter = this.statusCounters.get(res.statusCode);
    if (!counter) {
      counter = this.deps.metrics.httpRequests.labels({ route: this.spec.name, status: String(res.statusCode) });
      this.statusCounters.set(res.statusCode, counter);
    }
    counter.inc();
    this.duration.observe(seconds);
    if (this.deps.logger.isDebugEnabled()) {
      // The query string is left out: clients put secrets there (`?api_key=`), and routes never read it.
      this.deps.logger.debug('request', {
        route: this.spec.name,
        method: req.method,
        path: pathOf(req.url),
        status: res.statusCode,
        ms: Math.round(seconds * 1e6) / 1e3,
      });
    }
  }
}

/** The label busgate's metrics give requests that matched no route. */
export const UNMATCHED = '(unmatched)';

/** Paths express serves (busgate's own endpoints, and the console at "/"), whatever their case. */
function servedByExpress(path: string): boolean {
  const lower = path.toLowerCase();
  return lower === '/' || RESERVED_PATHS.some((reserved) => lower === reserved || lower.startsWith(`${reserved}/`));
}

function encodeNonAscii(path: string): string {
  return path.replace(/[^\u0000-\u007f]+/gu, (text) => encodeURIComponent(text));
}

/**
 * The request target's path: without the query string, and without scheme and host when the
 * client sent the absolute form (`POST http://host/orders`), which HTTP/1.1 servers must accept.
 */
function pathOf(url: string | undefined): string {
  let target = url ?? '/';
  const authority = ABSOLUTE_FORM.exec(target);
  if (authority !== null) target = target.slice(authority[0].length) || '/';
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/** Every route of one routes file; a reload builds a new one and swaps it in. */
export class Ingress {
  private readonly routes = new RouteTrie<CompiledRoute>();
  private readonly unmatchedDuration;
  private readonly unmatchedCounters = new Map<number, { inc(): void }>();

  constructor(
    readonly specs: readonly RouteSpec[],
    private readonly deps: IngressDependencies,
  ) {
    // Keyed by the same percent-encoded path the route's matcher uses, so a non-ASCII literal is
    // indexed like any other.
    for (const spec of specs) this.routes.add(encodeNonAscii(spec.path), new CompiledRoute(spec, deps));
    this.unmatchedDuration = deps.metrics.httpDuration.labels({ route: UNMATCHED });
  }

  /**
   * Serves the request when a route has its path: the route's answer, or 405 with Allow when
   * only the method differs; and the JSON 404 when no route has it, here rather than through
   * express, so that a path no route has costs no more than one that has a route. Returns false
   * only for the paths express serves.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = pathOf(req.url);
    let allowed: string[] | undefined;
    // The trie narrows the file to the routes that could match; each confirms with its own matcher.
    for (const route of this.routes.candidates(path)) {
      let found;
      try {
        found = route.matches(path);
      } catch {
        sendError(res, new BusgateError('bad_request', 'the path is not valid percent-encoding'), this.deps.logger);
        return true;
      }
      if (found === false) continue;
      if (route.spec.method === req.method) {
        void route.serve(req, res, found.params);
        return true;
      }
      (allowed ??= []).push(route.spec.method);
    }
    if (allowed === undefined) {
      if (servedByExpress(path) || this.deps.servedElsewhere?.(path) === true) return false;
      this.notFound(req, res, path);
      return true;
    }
    const methods = [...new Set(allowed)].join(', ');
    sendError(res, new BusgateError('method_not_allowed', `${String(req.method)} is not allowed here (allowed: ${methods})`), this.deps.logger, {
      Allow: methods,
    });
    return true;
  }

  /** What express's chain answers for a path nothing serves: draining, too many headers, or 404. */
  private notFound(req: IncomingMessage, res: ServerResponse, path: string): void {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      let counter = this.unmatchedCounters.get(res.statusCode);
      if (!counter) {
        counter = this.deps.metrics.httpRequests.labels({ route: UNMATCHED, status: String(res.statusCode) });
        this.unmatchedCounters.set(res.statusCode, counter);
      }
      counter.inc();
      this.unmatchedDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    });
    if (this.deps.lifecycle.draining) {
      sendError(res, new BusgateError('shutting_down', 'the daemon is shutting down', { retryAfterSeconds: 1 }), this.deps.logger, { Connection: 'close' });
    } else if (req.rawHeaders.length / 2 > this.deps.maxHeaders) {
      sendError(res, new BusgateError('headers_too_large', `more than ${this.deps.maxHeaders} headers`), this.deps.logger);
    } else {
      sendError(res, new BusgateError('not_found', `no route for ${String(req.method)} ${path.slice(0, 200)}`), this.deps.logger);
    }
  }
}
