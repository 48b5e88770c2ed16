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
import { BusgateError } from '../errors.js';
import type { Mode, OutboundMessage } from '../plugins/contract.js';
import type { GuardedBroker } from '../plugins/guarded-broker.js';
import type { Choice, RouteSpec } from '../routes/model.js';
import { isDefaultSafeToken, renderTemplate, type TemplateInputs } from '../routes/template.js';
import { sendError } from './send-error.js';

interface Plan {
  readonly broker: GuardedBroker;
  readonly mode: Mode;
  readonly destination: string;
  readonly key: string | undefined;
  readonly headers: Record<string, string>;
}

const PLAN = Symbol('busgate.plan');
type PlannedRequest = Request & { [PLAN]?: Plan };

/** Keys (Kafka partition key, AMQP routing key) are free text, but one printable line. */
function isDefaultSafeKey(value: string): boolean {
  return value.length <= 256 && !/[\u0000-\u001f\u007f]/.test(value);
}

export function createIngress(
  route: RouteSpec,
  deps: { brokers: ReadonlyMap<string, GuardedBroker>; defaultTimeoutMs: number; logger: Logger },
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
        if (typeof value === 'string') headers[name] = value;
        else if (Array.isArray(value)) headers[name] = value.join(', ');
      }
      (req as PlannedRequest)[PLAN] = { broker, mode, destination, key, headers };
      next();
    } catch (error) {
      sendError(res, error, deps.logger);
    }
  };

  const send = async (req: Request, res: Response): Promise<void> => {
    const planned = (req as PlannedRequest)[PLAN]!;
    const contentType = req.headers['content-type'];
    const message: OutboundMessage = {
      id: randomUUID(),
      payload: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
      headers: planned.headers,
      ...(contentType === undefined ? {} : { contentType }),
      ...(planned.key === undefined ? {} : { key: planned.key }),
    };
    try {
      const result = await planned.broker.send({
        mode: planned.mode,
        destination: planned.destination,
        message,
        timeoutMs,
        options: route.options,
      });
      res.setHeader('X-Busgate-Id', message.id);
      if (result.kind === 'receipt') {
        res.status(202).json({ ...result.receipt, id: message.id, broker: planned.broker.name, mode: planned.mode, destination: planned.destination });
      } else {
        res.status(200).type(result.reply.contentType ?? 'application/octet-stream').send(result.reply.payload);
      }
    } catch (error) {
      sendError(res, error, deps.logger);
    }
  };

  return { plan, send };
}
