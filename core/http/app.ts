/**
 * createApp(deps) builds the express application; it never listens, so tests can mount it on an
 * ephemeral port. Routes are compiled once per (re)load: nothing per request that can be done then.
 */
import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import { match } from 'path-to-regexp';
import type { Logger } from 'winston';
import { BusgateError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';
import type { GuardedBroker } from '../plugins/guarded-broker.js';
import type { RouteSpec } from '../routes/model.js';
import type { Authenticator } from './auth.js';
import type { IdempotencyStore } from './idempotency.js';
import { createIngress } from './ingress.js';
import { rateLimit } from './rate-limit.js';
import type { Lifecycle } from './lifecycle.js';
import { mountOperationalEndpoints } from './operational-endpoints.js';
import { sendError } from './send-error.js';
import { mountTap } from './tap.js';
import { mountConsole } from './console.js';

export interface AppDependencies extends RouterDependencies {
  readonly routeTable: RouteTable;
}

export interface RouterDependencies {
  readonly brokers: ReadonlyMap<string, GuardedBroker>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
  readonly bodyLimit: string;
  readonly defaultTimeoutMs: number;
  readonly tapEnabled: boolean;
  readonly consoleEnabled: boolean;
  readonly authenticator: Authenticator;
  readonly protectOperational: boolean;
  readonly idempotency: IdempotencyStore;
  readonly maxHeaders: number;
  readonly tracing: Tracing;
}

const UNMATCHED = '(unmatched)';
const OPERATIONAL = '(busgate)';
const ROUTE_NAME = Symbol('busgate.route');
type LabelledResponse = Response & { [ROUTE_NAME]?: string };

/** Holds the router of the current routes; swap() replaces it in one assignment. */
export class RouteTable {
  constructor(
    public current: Router,
    public routes: readonly RouteSpec[],
  ) {}

  swap(router: Router, routes: readonly RouteSpec[]): void {
    this.current = router;
    this.routes = routes;
  }
}

/** Compiles routes into an express router, with the 404/405 answers for paths it does not serve. */
export function buildRouter(routes: readonly RouteSpec[], deps: RouterDependencies): Router {
  const router = express.Router();
  const readBody = express.raw({ type: () => true, limit: deps.bodyLimit });
  for (const route of routes) {
    const { plan, send } = createIngress(route, deps);
    const label = (_req: Request, res: Response, next: NextFunction): void => {
      (res as LabelledResponse)[ROUTE_NAME] = route.name;
      next();
    };
    const guards = [deps.authenticator.guard(route.clients, deps.logger), ...(route.rateLimit ? [rateLimit(route.rateLimit, deps.logger)] : [])];
    router[route.method.toLowerCase() as 'post'](route.path, label, ...guards, plan, readBody, send);
  }

  const matchers = routes.map((route) => ({ method: route.method, matches: match(route.path, { decode: false }) }));
  router.use((req: Request, res: Response) => {
    const allowed = [...new Set(matchers.filter((m) => m.matches(req.path) !== false).map((m) => m.method))];
    if (allowed.length > 0) {
      res.setHeader('Allow', allowed.join(', '));
      sendError(res, new BusgateError('method_not_allowed', `${req.method} is not allowed here (allowed: ${allowed.join(', ')})`), deps.logger);
      return;
    }
    sendError(res, new BusgateError('not_found', `no route for ${req.method} ${req.path.slice(0, 200)}`), deps.logger);
  });
  return router;
}

export function createApp(deps: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');

  app.use(observe(deps));
  app.use((_req: Request, res: Response, next: NextFunction) => {
    if (!deps.lifecycle.draining) return next();
    res.setHeader('Connection', 'close');
    sendError(res, new BusgateError('shutting_down', 'the daemon is shutting down', { retryAfterSeconds: 1 }), deps.logger);
  });

  app.use((req: Request, res: Response, next: NextFunction) => {
    // The server lets maxHeaders + 1 through, so that one more than allowed is seen here.
    if (req.rawHeaders.length / 2 <= deps.maxHeaders) return next();
    sendError(res, new BusgateError('headers_too_large', `more than ${deps.maxHeaders} headers`), deps.logger);
  });

  // /health stays open for liveness probes; /ready and /metrics only when asked; the tap always
  // needs a key when keys exist, because it shows message contents.
  const anyClient = deps.authenticator.guard(undefined, deps.logger);
  if (deps.protectOperational) app.use(['/ready', '/metrics'], anyClient);
  mountOperationalEndpoints(app, deps);
  if (deps.tapEnabled) {
    app.use('/tap', anyClient);
    mountTap(app, deps);
  }
  if (deps.consoleEnabled) mountConsole(app, deps);

  // The routes live in a router that a reload swaps atomically; a request runs entirely on the
  // router it started with.
  app.use((req: Request, res: Response, next: NextFunction) => deps.routeTable.current(req, res, next));
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    sendError(res, error, deps.logger);
  });
  return app;
}

/** Counts and times every response by route name, and logs one debug line per request. */
function observe(deps: RouterDependencies) {
  const debug = deps.logger.isDebugEnabled();
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      // Requests that reached no route are either unmatched (404/405) or busgate's own endpoints.
      const route = (res as LabelledResponse)[ROUTE_NAME] ?? (res.statusCode === 404 || res.statusCode === 405 ? UNMATCHED : OPERATIONAL);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      deps.metrics.httpRequests.inc({ route, status: String(res.statusCode) });
      deps.metrics.httpDuration.observe({ route }, seconds);
      if (debug) deps.logger.debug('request', { route, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(seconds * 1e6) / 1e3 });
    });
    next();
  };
}
