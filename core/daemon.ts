/**
 * Lifecycle: config -> routes lint -> load the plugins the routes use -> connect -> listen.
 * Shutdown runs in reverse: readiness down, refuse new requests, let in-flight ones finish
 * (bounded), close the plugins.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from 'winston';
import type { DaemonConfig } from './config.js';
import { StartupError } from './errors.js';
import { Authenticator } from './http/auth.js';
import { parseByteSize } from './byte-size.js';
import { RouteTable, createApp } from './http/app.js';
import { Ingress, type IngressDependencies } from './http/ingress.js';
import { Lifecycle } from './http/lifecycle.js';
import { answerProtocolEdges } from './http/protocol-edges.js';
import { Egress } from './egress/egress.js';
import { StreamServer } from './streams/stream-server.js';
import type { StreamLimits, StreamSpec } from './streams/model.js';
import { PullServer } from './pulls/pull-server.js';
import type { PullLimits } from './pulls/model.js';
import { EgressMetrics } from './egress/metrics.js';
import { createLogger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { otlpTracing, propagationOnly, type Tracing } from './observability/tracing.js';
import { createBrokers } from './brokers/instances.js';
import type { BrokerInstance } from './brokers/instance.js';
import { Reloader, type ReloadResult } from './reloader.js';
import { askPrimaryState, joinCluster } from './cluster.js';
import { localReadiness } from './http/operational-endpoints.js';
import { checkRoutesFile, type CheckedRoutes } from './routes/check-file.js';
import type { RoutesReading } from './routes/quick-parse.js';
import { formatProblem, type RouteSpec } from './routes/model.js';
import { createStateStores, type StateStores } from './state/stores.js';

/**
 * Watches the routes file's folder (editors often replace the file rather than write it) and
 * calls back once a burst of changes has settled. In a Kubernetes ConfigMap volume the file is a
 * link through `..data`, which the kubelet swaps atomically: that name changes, the file's never.
 */
export function watchFile(file: string, onChange: () => void): fs.FSWatcher {
  let timer: NodeJS.Timeout | undefined;
  const watcher = fs.watch(path.dirname(file), (_event, changed) => {
    if (changed !== null && changed !== path.basename(file) && changed !== '..data') return;
    clearTimeout(timer);
    timer = setTimeout(onChange, 250);
  });
  watcher.unref();
  return watcher;
}

export interface Daemon {
  readonly server: http.Server;
  readonly port: number;
  readonly brokers: ReadonlyMap<string, BrokerInstance>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
  readonly routes: readonly RouteSpec[];
  readonly egress: Egress;
  /** Live streams over Server-Sent Events (openStreams counts the connected clients). */
  readonly streams: StreamServer;
  /** The pull API with leases (POST on a pull path, its /ack and /nack). */
  readonly pulls: PullServer;
  /** Re-reads the routes file; keeps the old routes when the new file is not valid. */
  reload(reason: string): Promise<ReloadResult>;
  /** Idempotent; resolves when every plugin is closed. */
  shutdown(reason: string): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  /** prom-client's process metrics; tests that start many daemons turn them off. */
  readonly defaultMetrics?: boolean;
  /** How long start-up waits for the first connection attempt of each broker. */
  readonly connectWaitMs?: number;
  /** A worker of `busgate start` with WORKERS > 1: reloads, /ready and /metrics go through the primary. */
  readonly clusterWorker?: boolean;
  /**
   * Why WORKERS=auto chose one process (core/workers.ts). Said by the daemon's own logger, so
   * `busgate start` need not build a second logger for one line.
   */
  readonly oneProcessReason?: string;
  /** The routes file as WORKERS=auto read it just before (core/workers.ts), checked instead of parsing it again. */
  readonly routesReading?: RoutesReading;
  /** Stream limits other than the defaults (tests use small ones). */
  readonly streamLimits?: Partial<StreamLimits>;
  /** Pull API limits other than the defaults (tests use small ones). */
  readonly pullLimits?: Partial<PullLimits>;
}

export async function startDaemon(config: DaemonConfig, options: StartOptions = {}): Promise<Daemon> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  if (options.oneProcessReason !== undefined) logger.info(`WORKERS=auto: one process, because ${options.oneProcessReason}`);
  const checked = await routesOrRefuse(config, options.routesReading);
  const { brokers, metrics } = await openBrokers(checked, config, options, logger);

  const tracing = config.tracing.endpoint ? await otlpTracing(config.tracing.endpoint, config.tracing.serviceName) : propagationOnly();
  const lifecycle = new Lifecycle();
  const authenticator = new Authenticator(config.apiKeys);
  const state = await createStateStores(config, {
    metrics,
    logger,
    connectWaitMs: options.connectWaitMs ?? 3000,
    askPrimary: options.clusterWorker ? askPrimaryState : undefined,
  });
  let streamSpecs: readonly StreamSpec[] = checked.streams;
  const pulls = new PullServer({
    brokers,
    logger,
    authenticator,
    instanceId: config.instanceId,
    registry: metrics.registry,
    ...(options.pullLimits ? { limits: options.pullLimits } : {}),
  });
  await pulls.apply(checked.pulls);
  const ingressDeps: IngressDependencies = {
    servedElsewhere: (path) => streamSpecs.some((stream) => stream.path === path) || pulls.serves(path),
    brokers,
    metrics,
    logger,
    lifecycle,
    bodyLimitBytes: parseByteSize(config.bodyLimit)!,
    defaultTimeoutMs: config.defaultTimeoutMs,
    authenticator,
    idempotency: state.idempotency,
    rateLimits: state.rateLimits,
    maxHeaders: config.limits.maxHeaders,
    tracing,
  };
  const routeTable = new RouteTable(new Ingress(checked.routes, ingressDeps));
  metrics.routesLoaded.set(checked.routes.length);
  const egress = new Egress(brokers, new EgressMetrics(metrics.registry), logger);
  // Built before the reloader exists; the hooks call it only once a message arrives.
  let reloader: Reloader | undefined;
  const cluster = options.clusterWorker
    ? joinCluster({
        registry: metrics.registry,
        localReadiness: () => localReadiness(brokers, lifecycle, egress),
        prepareReload: (reason) => reloader!.prepare(reason),
        commitReload: () => reloader!.commit(),
        abortReload: () => reloader!.abort(),
      })
    : undefined;
  const streams = new StreamServer({
    brokers,
    logger,
    authenticator,
    metrics,
    streams: () => streamSpecs,
    limits: { ...config.streams, ...options.streamLimits },
  });
  const app = createApp({
    cluster,
    routeTable,
    brokers,
    metrics,
    logger,
    lifecycle,
    defaultTimeoutMs: config.defaultTimeoutMs,
    tapEnabled: config.tapEnabled,
    consoleEnabled: config.consoleEnabled,
    authenticator,
    protectOperational: config.protectOperational,
    maxHeaders: config.limits.maxHeaders,
    egress,
    streams,
    pulls,
  });
  await egress.apply(checked.subscriptions);
  reloader = new Reloader(
    config,
    brokers,
    routeTable,
    ingressDeps,
    metrics,
    logger,
    options.connectWaitMs ?? 3000,
    egress,
    (specs) => (streamSpecs = specs),
    (specs) => pulls.apply(specs),
  );
  const server = createServer(config, (req, res) => {
    if (!routeTable.current.handle(req, res)) app(req, res);
  });
  answerProtocolEdges(server, { bodyLimitBytes: ingressDeps.bodyLimitBytes, logger });
  // WebSocket clients of streams arrive as upgrades, which never reach the request handler.
  server.on('upgrade', streams.upgrade);
  const requests = countActiveRequests(server);
  const port = await listen(server, config);
  // Watching starts before "listening" is announced, so no edit made after it is missed. A
  // cluster's primary watches the file instead and reloads every worker at once.
  const watcher = config.watchRoutes && !options.clusterWorker ? watchFile(config.routesFile, () => void reloader.reload('file changed')) : undefined;
  lifecycle.accepting = true;
  logger.info('busgate listening', {
    port,
    host: config.host,
    routes: checked.routes.length,
    subscriptions: checked.subscriptions.length,
    brokers: [...brokers.keys()],
  });

  let shuttingDown: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    shuttingDown ??= stop(reason, { config, logger, lifecycle, server, requests, brokers, egress, streams, pulls, tracing, watcher, state });
    return shuttingDown;
  };

  return {
    server,
    port,
    brokers,
    metrics,
    logger,
    lifecycle,
    get routes() {
      return routeTable.routes;
    },
    egress,
    streams,
    pulls,
    reload: (reason: string) => reloader.reload(reason),
    shutdown,
  };
}

/** The routes file, linted with the plugins it names loaded; a StartupError listing every problem otherwise. */
async function routesOrRefuse(config: DaemonConfig, reading?: RoutesReading): Promise<CheckedRoutes> {
  const checked = await checkRoutesFile(config.routesFile, config, reading ? { reading } : {});
  if (checked.problems.length > 0) {
    const name = path.relative(process.cwd(), checked.file) || checked.file;
    throw new StartupError(
      'routes_invalid',
      `${name} has ${checked.problems.length} problem(s)`,
      checked.problems.map((p) => formatProblem(name, p)),
    );
  }
  return checked;
}

/** One BrokerInstance per broker the routes use, each given its first connection attempt. */
async function openBrokers(
  checked: CheckedRoutes,
  config: DaemonConfig,
  options: StartOptions,
  logger: Logger,
): Promise<{ brokers: Map<string, BrokerInstance>; metrics: Metrics }> {
  let brokers = new Map<string, BrokerInstance>();
  const brokerStatus = (): Map<string, boolean> => new Map([...brokers].map(([name, broker]) => [name, broker.health().up]));
  const metrics = new Metrics({ defaultMetrics: options.defaultMetrics ?? true, brokerStatus });
  // With the routes: each plugin prepares their targets (topology) before its broker counts as connected.
  brokers = createBrokers(checked.loaded, { logger, metrics, maxInFlight: config.maxInFlightPerBroker, instanceId: config.instanceId }, checked.routes);
  await Promise.all([...brokers.values()].map((broker) => broker.start(options.connectWaitMs ?? 3000)));
  return { brokers, metrics };
}

function createServer(config: DaemonConfig, handle: http.RequestListener): http.Server {
  // Node checks header and request timeouts only every connectionsCheckingInterval (30 s by
  // default), which would let a slow client hold a socket far past headersTimeout.
  const server = http.createServer({ maxHeaderSize: config.limits.maxHeaderBytes, connectionsCheckingInterval: 1000 }, handle);
  // Slow clients must not hold sockets forever.
  server.headersTimeout = config.limits.headersTimeoutMs;
  server.requestTimeout = config.limits.requestTimeoutMs;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = config.limits.maxHeaders + 1;
  return server;
}

/** Requests being answered now, for the drain at shutdown. Taps never finish by themselves: not counted. */
function countActiveRequests(server: http.Server): { readonly active: number } {
  let active = 0;
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url?.startsWith('/tap/')) return;
    active += 1;
    res.on('close', () => (active -= 1)); // emitted once per response
  });
  return {
    get active() {
      return active;
    },
  };
}

async function listen(server: http.Server, config: DaemonConfig): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Node's default backlog (511) drops connections when thousands of clients arrive at once;
    // the kernel caps this at net.core.somaxconn anyway.
    server.listen({ port: config.port, host: config.host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

interface Running {
  readonly config: DaemonConfig;
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
  readonly server: http.Server;
  readonly requests: { readonly active: number };
  readonly brokers: ReadonlyMap<string, BrokerInstance>;
  readonly egress: Egress;
  readonly streams: StreamServer;
  readonly pulls: PullServer;
  readonly tracing: Tracing;
  readonly watcher: fs.FSWatcher | undefined;
  readonly state: StateStores;
}

/** Shutdown in reverse: readiness down, (delay), refuse new requests, drain (bounded), stop subscriptions, close brokers. */
async function stop(reason: string, running: Running): Promise<void> {
  const { config, logger, lifecycle, server, requests, brokers, tracing } = running;
  logger.info('shutting down', { reason, inFlight: requests.active });
  running.watcher?.close();
  // Readiness fails first; with a drain delay, requests are still served meanwhile so that a
  // load balancer polling /ready stops sending before anything is refused.
  lifecycle.stopping = true;
  if (config.shutdownDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs));
  lifecycle.draining = true;
  // Streams never end by themselves: end them so the drain below is not held up by them.
  running.streams.stop();
  running.pulls.endWaits();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const deadline = Date.now() + config.shutdownTimeoutMs;
  while (requests.active > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  if (requests.active > 0) logger.warn('shutdown deadline reached with requests in flight', { inFlight: requests.active });
  server.closeAllConnections();
  await closed;
  // POSTs on the wire finish and settle their message; every other held message goes back to
  // its broker unacknowledged, for the next instance (or this one, restarted).
  await running.egress.stop();
  await running.pulls.stop();
  await Promise.all([...brokers.values()].map((broker) => broker.close()));
  await running.state.close();
  await tracing.shutdown().catch((error: unknown) => logger.warn('span export failed at shutdown', { error: String(error) }));
  logger.info('stopped');
}
