/**
 * GET /tap/:broker/:destination?mode=pubsub|point-to-point — server-sent events showing what a
 * subscription receives. For demos and debugging: a point-to-point tap competes with the other
 * consumers and takes messages from them. Off unless `tap.enabled`.
 */
import type { Express, Request, Response } from 'express';
import type { Logger } from 'winston';
import { BusgateError, describeError } from '../errors.js';
import type { InboundMessage } from '../plugins/contract.js';
import type { BrokerInstance } from '../brokers/instance.js';
import { sendError } from './send-error.js';

// The tap takes a destination from a URL path: plain characters only. Length and every other
// broker-specific rule come from the broker's own declaration (destinationProblem).
const DESTINATION = /^[A-Za-z0-9._-]+$/;

function describe(message: InboundMessage): string {
  const text = message.payload.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(message.payload) && !/[\u0000-\u0008\u000e-\u001f]/.test(text);
  return JSON.stringify({
    destination: message.destination,
    headers: message.headers,
    contentType: message.contentType,
    key: message.key,
    encoding: isText ? 'utf8' : 'base64',
    body: isText ? text : message.payload.toString('base64'),
  });
}

export function mountTap(app: Express, deps: { brokers: ReadonlyMap<string, BrokerInstance>; logger: Logger }): void {
  app.get('/tap/:broker/:destination', async (req: Request, res: Response) => {
    try {
      const broker = deps.brokers.get(String(req.params.broker));
      if (!broker) throw new BusgateError('not_found', `no broker "${String(req.params.broker)}" is in use`);
      const destination = String(req.params.destination);
      const problem = broker.destinationProblem(destination);
      if (!DESTINATION.test(destination) || problem !== undefined) throw new BusgateError('invalid_token', `destination "${destination.slice(0, 64)}" is not valid`);
      const mode = req.query.mode ?? 'pubsub';
      if (mode !== 'pubsub' && mode !== 'point-to-point') throw new BusgateError('mode_not_allowed', 'mode must be pubsub or point-to-point');

      const subscription = await broker.subscribe(destination, { mode }, (message) => {
        res.write(`event: message\ndata: ${describe(message)}\n\n`);
        return Promise.resolve();
      });
      res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
      res.flushHeaders();
      res.write(`: tapping ${broker.name} ${mode} ${destination}\n\n`);
      req.on('close', () => {
        subscription.close().catch((error: unknown) => deps.logger.warn('tap close failed', { error: describeError(error) }));
      });
    } catch (error) {
      sendError(res, error, deps.logger);
    }
  });
}
