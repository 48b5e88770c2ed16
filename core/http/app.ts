/**
 * createApp(deps) builds the express application for busgate's own endpoints (health, ready,
 * metrics, tap, console) and the 404 for paths no route has. It never listens. The configured
 * routes are served by the ingress (core/http/ingress.ts) before a request reaches express.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'winston';
import { BusgateError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { BrokerInstance } from '../brokers/instance.js';
import type { RouteSpec } from '../routes/model.js';
import type { ClusterLink } from '../cluster.js';
import type { Authenticator } from './auth.js';
import { UNMATCHED, type Ingress } from './ingress.js';
import type { Lifecycle } from './lifecycle.js';
import { mountOperationalEndpoints } from './operational-endpoints.js';
import { sendError } from './send-error.js';
import { mountTap } from './tap.js';
import type { Egress } from '../egress/egress.js';
import type { StreamServer } from '../streams/stream-server.js';
import type { PullServer } from '../pulls/pull-server.js';
import { mountConsole } from './console.js';
import { DOCUMENT_PATHS, mountContractDocuments } from './contract-documents.js';

export interface AppDependencies {
  readonly routeTable: RouteTable;
  readonly brokers: ReadonlyMap<string, BrokerInstance>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
  readonly defaultTimeoutMs: number;
  readonly tapEnabled: boolean;
  readonly consoleEnabled: boolean;
  readonly authenticator: Authenticator;
  readonly protectOperational: boolean;
  readonly maxHeaders: number;
  /** Set in a cluster worker: /ready and /metrics answer for every worker. */
  readonly cluster?: ClusterLink | undefined;
  /** Egress subscriptions, listed by /ready and the console (absent where none are served). */
  readonly egress?: Pick<Egress, 'statuses' | 'overview' | 'specs'>;
  /** Live streams (GET on a stream path); absent where none are served. */
  readonly streams?: Pick<StreamServer, 'handle' | 'views' | 'configured'>;
  /** The pull API (POST on a pull path, its /ack and /nack); absent where none are served. */
  readonly pulls?: Pick<PullServer, 'handle' | 'configured' | 'views'>;
}

const OPERATIONAL = '(busgate)';

/** Holds the ingress of the current routes; swap() replaces it in one assignment. */
export class RouteTable {
  constructor(public current: Ingress) {}

  get routes(): readonly RouteSpec[] {
    return this.current.specs;
  }

  swap(ingress: Ingress): void {
    this.current = ingress;
  }
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
    mountTap(app, { brokers: deps.brokers, logger: deps.logger, authenticator: deps.authenticator, routes: () => deps.routeTable.routes });
  }
  if (deps.protectOperational) app.use([...DOCUMENT_PATHS], anyClient);
  mountContractDocuments(app, deps);
  if (deps.consoleEnabled) mountConsole(app, deps);
  if (deps.streams) app.use(deps.streams.handle);
  if (deps.pulls) app.use(deps.pulls.handle);

  // The configured routes are served by the ingress before express sees a request (see
  // core/http/ingress.ts); what reaches this point matched no route path.
  app.use((req: Request, res: Response) => {
    sendError(res, new BusgateError('not_found', `no route for ${req.method} ${req.path.slice(0, 200)}`), deps.logger);
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    sendError(res, error, deps.logger);
  });
  return app;
}

/** Counts and times what express answers: busgate's own endpoints, and paths no route has. */
function observe(deps: AppDependencies) {
  const debug = deps.logger.isDebugEnabled();
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const route = res.statusCode === 404 ? UNMATCHED : OPERATIONAL;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      deps.metrics.httpRequests.inc({ route, status: String(res.statusCode) });
      deps.metrics.httpDuration.observe({ route }, seconds);
      if (debug) deps.logger.debug('request', { route, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(seconds * 1e6) / 1e3 });
    });
    next();
  };
}
