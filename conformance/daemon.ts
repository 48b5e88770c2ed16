/**
 * Starts a real daemon on an ephemeral port from an inline routes file: the harness of the
 * conformance suite, and of busgate's own HTTP-level tests (test/support/daemon.ts re-exports it).
 * It ships in the package, so it may only use runtime dependencies.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BrokerInstanceConfig, DaemonConfig } from '../core/config.js';
import { startDaemon, type Daemon, type StartOptions } from '../core/daemon.js';
import { createLogger, type Logger } from '../core/observability/logger.js';

export interface TestDaemon extends Daemon {
  readonly url: string;
  /** The routes file the daemon reads; rewrite it and call reload() to test reloads. */
  readonly routesFile: string;
  post(pathname: string, body?: string | Buffer, headers?: Record<string, string>): Promise<Response>;
}

export async function startTestDaemon(options: {
  routes: string;
  brokers: Record<string, BrokerInstanceConfig>;
  overrides?: Partial<DaemonConfig>;
  connectWaitMs?: number;
  /** Where the daemon logs; silent unless BUSGATE_TEST_LOG_LEVEL is set. */
  logger?: Logger;
  /** Stream limits other than the defaults. */
  streamLimits?: StartOptions['streamLimits'];
  /** Pull API limits other than the defaults. */
  pullLimits?: StartOptions['pullLimits'];
}): Promise<TestDaemon> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-test-'));
  const routesFile = path.join(dir, 'routes.yaml');
  fs.writeFileSync(routesFile, options.routes);
  const config: DaemonConfig = {
    port: 0,
    host: '127.0.0.1',
    routesFile,
    watchRoutes: false,
    workers: 1,
    optimizeForSize: false,
    logLevel: 'error',
    logFormat: 'json',
    bodyLimit: '1mb',
    defaultTimeoutMs: 5000,
    shutdownTimeoutMs: 5000,
    shutdownDelayMs: 0,
    maxInFlightPerBroker: 2000,
    tapEnabled: false,
    tracing: { endpoint: '', serviceName: 'busgate-test' },
    consoleEnabled: false,
    idempotency: { windowMs: 600_000, maxKeys: 100_000, maxBytes: 64 * 1024 * 1024, maxReplyBytes: 64 * 1024, store: '' },
    rateLimitStore: '',
    stateKeyPrefix: 'busgate:',
    instanceId: os.hostname(),
    apiKeys: new Map(),
    protectOperational: false,
    limits: { maxHeaders: 100, maxHeaderBytes: 16384, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 },
    brokers: options.brokers,
    configDir: dir,
    ...options.overrides,
  };
  const logger =
    options.logger ??
    createLogger({ level: process.env.BUSGATE_TEST_LOG_LEVEL ?? 'error', format: 'json', silent: process.env.BUSGATE_TEST_LOG_LEVEL === undefined });
  const daemon = await startDaemon(config, {
    logger,
    defaultMetrics: false,
    connectWaitMs: options.connectWaitMs ?? 10_000,
    ...(options.streamLimits ? { streamLimits: options.streamLimits } : {}),
    ...(options.pullLimits ? { pullLimits: options.pullLimits } : {}),
  });
  const url = `http://127.0.0.1:${daemon.port}`;
  return Object.assign(daemon, {
    url,
    routesFile,
    post: (pathname: string, body: string | Buffer = '', headers: Record<string, string> = {}) =>
      fetch(`${url}${pathname}`, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers }),
  });
}

/** Resolves when `predicate` holds, or rejects after `timeoutMs`. */
export async function eventually(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
