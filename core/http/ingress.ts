/**
 * One route's request handling, in two steps around the body read:
 *   plan  (before the body is read): pick broker and mode, render destination and key, pick headers.
 *         Anything wrong is a 400 and the body is never read, so nothing can be published.
 *   send  (after): hand the message to the broker and answer 202 + receipt or 200 + reply,
 *         only once the broker acknowledged or replied.
 */
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'winston';
import { BusgateError, isBusgateError } from '../errors.js';
import { parseTraceparent, type RequestTrace, type Tracing } from '../observability/tracing.js';
import type { Mode, OutboundMessage } from '../plugins/contract.js';
import type { GuardedBroker } from '../plugins/guarded-broker.js';
import type { Choice, RouteSpec } from '../routes/model.js';
import { isDefaultSafeToken, renderTemplate, type TemplateInputs } from '../routes/template.js';
import { IDEMPOTENCY_KEY, type IdempotencyStore, type StoredAnswer } from './idempotency.js';
import { sendError } from './send-error.js';

interface Plan {
  readonly broker: GuardedBroker;
  readonly mode: Mode;
  readonly destination: string;
  readonly key: string | undefined;
  readonly headers: Record<string, string>;
  readonly idempotencyKey: string | undefined;
}

const CONTROL_CHARACTERS = /[\u0000-\u0008\u000a-\u001f\u007f]/;

const PLAN = Symbol('busgate.plan');
type PlannedRequest = Request & { [PLAN]?: Plan };

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Keys (Kafka partition key, AMQP routing key) are free text, but one printable line. */
function isDefaultSafeKey(value: string): boolean {
  return value.length <= 256 && !/[\u0000-\u001f\u007f]/.test(value);
}

export function createIngress(
  route: RouteSpec,
  deps: { brokers: ReadonlyMap<string, GuardedBroker>; defaultTimeoutMs: number; logger: Logger; idempotency: IdempotencyStore; tracing: Tracing },
): { plan: RequestHandler; send: RequestHandler } {
  const timeoutMs = route.timeoutMs ?? deps.defaultTimeoutMs;
  const fixedBroker = route.broker.kind === 'fixed' ? deps.brokers.get(route.broker.value) : undefined;

  const choose = <T extends string>(choice: Choice<T>, inputs: TemplateInputs, what: 'broker' | 'mode'): T => {
    if (choice.kind === 'fixed') return choice.value;
    const value = renderTemplate(choice.template, inputs, () => true, what);
    if (!(choice.allowed as readonly string[]).includes(value)) {
      throw new BusgateError(`${what}_not_allowed`, `${what} "${value.slice(0, 64)}" is not allowed on this route (allowed: ${choice.allowed.join(', ')})`);
    }
    return value as T;
  };

  const plan = (req: Request, res: Response, next: NextFunction): void => {
    try {
      const inputs: TemplateInputs = { params: req.params, headers: req.headers };
      const broker = fixedBroker ?? deps.brokers.get(choose(route.broker, inputs, 'broker'))!;
      const mode = choose(route.mode, inputs, 'mode');
      const factory = broker.factory;
      if (!factory.modes.includes(mode)) {
        throw new BusgateError('mode_not_allowed', `broker "${broker.name}" cannot do ${mode}`);
      }
      const destinationToken = factory.isSafeToken ? (v: string) => factory.isSafeToken!(v, 'destination') : isDefaultSafeToken;
      const destination = renderTemplate(route.destination, inputs, destinationToken, 'destination');
      const problem = factory.checkDestination?.(destination);
      if (problem !== undefined) throw new BusgateError('invalid_token', `destination "${destination.slice(0, 128)}" is not valid: ${problem}`);
      const keyToken = factory.isSafeToken ? (v: string) => factory.isSafeToken!(v, 'key') : isDefaultSafeKey;
      const key = route.key ? renderTemplate(route.key, inputs, keyToken, 'key') : undefined;
      const headers: Record<string, string> = {};
      for (const name of route.forwardHeaders) {
        const value = req.headers[name];
        const text = Array.isArray(value) ? value.join(', ') : value;
        if (text === undefined) continue;
        if (CONTROL_CHARACTERS.test(text)) throw new BusgateError('bad_request', `header "${name}" contains control characters`);
        headers[name] = text;
      }
      const idempotencyKey = req.headers['idempotency-key'];
      if (idempotencyKey !== undefined) {
        if (typeof idempotencyKey !== 'string' || !IDEMPOTENCY_KEY.test(idempotencyKey)) {
          throw new BusgateError('bad_request', 'Idempotency-Key must be 1 to 200 characters of letters, digits and . _ : @ -');
        }
        headers['idempotency-key'] = idempotencyKey;
      }
      (req as PlannedRequest)[PLAN] = { broker, mode, destination, key, headers, idempotencyKey };
      next();
    } catch (error) {
      sendError(res, error, deps.logger);
    }
  };

  const deliver = async (planned: Plan, message: OutboundMessage, trace: RequestTrace): Promise<StoredAnswer> => {
    const result = await planned.broker.send({ mode: planned.mode, destination: planned.destination, message, timeoutMs, options: route.options });
    if (result.kind === 'reply') {
      const replied = parseTraceparent(result.reply.headers.traceparent) ? result.reply.headers.traceparent : trace.traceparent;
      return { status: 200, contentType: result.reply.contentType ?? 'application/octet-stream', body: result.reply.payload, messageId: message.id, traceparent: replied };
    }
    const receipt = { ...result.receipt, id: message.id, broker: planned.broker.name, mode: planned.mode, destination: planned.destination };
    return { status: 202, contentType: 'application/json; charset=utf-8', body: Buffer.from(JSON.stringify(receipt)), messageId: message.id, traceparent: trace.traceparent };
  };

  const send = async (req: Request, res: Response): Promise<void> => {
    const planned = (req as PlannedRequest)[PLAN]!;
    const contentType = req.headers['content-type'];
    const trace = deps.tracing.start(
      { traceparent: firstValue(req.headers.traceparent), tracestate: firstValue(req.headers.tracestate) },
      { route: route.name, method: route.method, broker: planned.broker.name, mode: planned.mode, destination: planned.destination },
    );
    const headers: Record<string, string> = { ...planned.headers, traceparent: trace.traceparent };
    if (trace.tracestate !== undefined) headers.tracestate = trace.tracestate;
    const message: OutboundMessage = {
      // The client's Idempotency-Key becomes the message id, so broker-side dedupe (JetStream
      // msgID) and consumers see the same id on every retry.
      id: planned.idempotencyKey ?? randomUUID(),
      payload: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
      headers,
      ...(contentType === undefined ? {} : { contentType }),
      ...(planned.key === undefined ? {} : { key: planned.key }),
    };
    try {
      let answer: StoredAnswer;
      if (planned.idempotencyKey === undefined) {
        answer = await deliver(planned, message, trace);
      } else {
        const outcome = await deps.idempotency.run(route.name, planned.idempotencyKey, () => deliver(planned, message, trace));
        answer = outcome.answer;
        if (outcome.replayed) res.setHeader('Idempotent-Replayed', 'true');
      }
      res.setHeader('X-Busgate-Id', answer.messageId);
      if (answer.traceparent !== undefined) res.setHeader('traceparent', answer.traceparent);
      res.status(answer.status).type(answer.contentType).send(answer.body);
      trace.finish({ status: answer.status });
    } catch (error) {
      res.setHeader('traceparent', trace.traceparent);
      sendError(res, error, deps.logger);
      trace.finish({ status: res.statusCode, code: isBusgateError(error) ? error.code : 'internal_error' });
    }
  };

  return { plan, send };
}
