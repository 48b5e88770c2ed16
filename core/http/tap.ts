/**
 * GET /tap/:broker/:destination?mode=pubsub|point-to-point — server-sent events showing what a
 * subscription receives. A development aid, off unless `tap.enabled` (and refused at start-up in
 * production unless `tap.allowInProduction`): a point-to-point tap competes with the real
 * consumers and takes messages from them. The product way to watch a destination is a stream.
 *
 * Who may tap what: only a destination some route could send to, on that route's broker, for a
 * client that may use that route (its API key and `clients:` list, as for sending). So nobody
 * reads a destination whose routes are limited to other clients, and nobody reads a destination
 * no route reaches, such as Kafka's shared reply topic (the linter keeps routes off it).
 */
import type { Express, Request, Response } from 'express';
import type { Logger } from 'winston';
import { BusgateError, asBusgateError, describeError, isBusgateError } from '../errors.js';
import type { InboundMessage, Subscription } from '../plugins/contract.js';
import type { BrokerInstance } from '../brokers/instance.js';
import type { RouteSpec } from '../routes/model.js';
import { canRender } from '../routes/template.js';
import type { Authenticator } from './auth.js';
import { encodeBody } from './message-body.js';
import { sendError } from './send-error.js';

// The tap takes a destination from a URL path: plain characters only. Length and every other
// broker-specific rule come from the broker's own declaration (destinationProblem).
const DESTINATION = /^[A-Za-z0-9._-]+$/;

export interface TapDependencies {
  readonly brokers: ReadonlyMap<string, BrokerInstance>;
  readonly logger: Logger;
  readonly authenticator: Authenticator;
  /** The routes in force now (a reload changes who may tap what). */
  readonly routes: () => readonly RouteSpec[];
}

function describe(message: InboundMessage): string {
  return JSON.stringify({
    destination: message.destination,
    headers: message.headers,
    contentType: message.contentType,
    key: message.key,
    ...encodeBody(message.payload),
  });
}

/** Whether `client` (undefined when no API keys are configured) may use a route reaching this destination. */
export function mayTap(routes: readonly RouteSpec[], broker: BrokerInstance, destination: string, client: string | undefined, keysEnabled: boolean): boolean {
  const token = broker.tokenRule('destination');
  return routes.some((route) => {
    if (keysEnabled && route.clients !== undefined && (client === undefined || !route.clients.includes(client))) return false;
    const brokers = route.broker.kind === 'fixed' ? [route.broker.value] : route.broker.allowed;
    return brokers.includes(broker.name) && canRender(route.destination, destination, token);
  });
}

export function mountTap(app: Express, deps: TapDependencies): void {
  app.get('/tap/:broker/:destination', async (req: Request, res: Response) => {
    let tap: Tap;
    try {
      tap = admit(req, deps);
    } catch (error) {
      sendError(res, error, deps.logger);
      return;
    }
    await stream(res, tap, deps.logger);
  });
}

interface Tap {
  readonly broker: BrokerInstance;
  readonly destination: string;
  readonly mode: 'pubsub' | 'point-to-point';
}

/** Everything decided before the response is committed, so refusals are JSON errors. */
function admit(req: Request, deps: TapDependencies): Tap {
  const broker = deps.brokers.get(String(req.params.broker));
  const destination = String(req.params.destination);
  const client = deps.authenticator.identify(req.headers);
  // One answer for "no such broker" and "not yours": a tap must not reveal what others use.
  if (!broker || !mayTap(deps.routes(), broker, destination, client, deps.authenticator.enabled)) {
    throw new BusgateError('forbidden', `no route you may use sends to "${destination.slice(0, 64)}" on broker "${String(req.params.broker).slice(0, 64)}"`);
  }
  const problem = broker.destinationProblem(destination);
  if (!DESTINATION.test(destination) || problem !== undefined)
    throw new BusgateError('invalid_token', `destination "${destination.slice(0, 64)}" is not valid`);
  const mode = req.query.mode ?? 'pubsub';
  if (mode !== 'pubsub' && mode !== 'point-to-point') throw new BusgateError('mode_not_allowed', 'mode must be pubsub or point-to-point');
  if (!broker.isConnected) throw new BusgateError('broker_unavailable', `broker "${broker.name}" is not connected`, { retryAfterSeconds: 1 });
  return { broker, destination, mode };
}

/**
 * The response is committed (headers sent) before subscribing, so a message arriving at once has
 * somewhere to go; the subscription is closed however the client leaves, even while it is still
 * being set up; a message that can no longer be written is handed back, not acknowledged.
 */
async function stream(res: Response, { broker, destination, mode }: Tap, logger: Logger): Promise<void> {
  let gone = false;
  let subscription: Subscription | undefined;
  const closeSubscription = (): void => {
    const current = subscription;
    subscription = undefined;
    current?.close().catch((error: unknown) => logger.warn('tap close failed', { error: describeError(error) }));
  };
  res.on('close', () => {
    gone = true;
    closeSubscription();
  });
  res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  res.flushHeaders();
  res.write(`: tapping ${broker.name} ${mode} ${destination}\n\n`);
  try {
    subscription = await broker.subscribe(destination, { mode }, (message) => {
      if (gone || res.writableEnded || res.destroyed) return Promise.reject(new Error('the tap client has gone'));
      res.write(`event: message\ndata: ${describe(message)}\n\n`);
      return Promise.resolve();
    });
  } catch (error) {
    const failure = isBusgateError(error) ? asBusgateError(error) : new BusgateError('internal_error', 'the tap could not subscribe', { cause: error });
    if (!gone) res.end(`event: error\ndata: ${JSON.stringify(failure.toJSON())}\n\n`);
    return;
  }
  if (gone) closeSubscription();
}
