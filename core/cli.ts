#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=2 --heap-growing-percent=10
/**
 *   busgate [start] [--port N] [--routes FILE] [--config FILE]   run the daemon
 *   busgate check [--live] [FILE]                                 lint a routes file, start nothing;
 *                                                                 --live also asks the brokers
 *   busgate openapi [FILE] | busgate asyncapi [FILE]              print the route file's OpenAPI 3.1
 *                                                                 or AsyncAPI 3.0 document
 */
import path from 'node:path';
import v8 from 'node:v8';
import { loadConfig } from './config.js';
import { isClusterWorker, runPrimary, workerInstanceId } from './cluster.js';
import { chooseWorkers } from './workers.js';
import { youngGenerationSized } from './node-flags.js';
import { startDaemon, watchFile, type Daemon } from './daemon.js';
import { checkRoutesFile } from './routes/check-file.js';
import { StartupError, describeError } from './errors.js';
import { createLogger } from './observability/logger.js';
import { formatPreflightLine, preflight } from './preflight.js';
import { formatProblem } from './routes/model.js';
import { buildAsyncApi } from './contracts/asyncapi.js';
import { declarationsOf } from './contracts/describe.js';
import { buildOpenApi } from './contracts/openapi.js';

async function check(argv: string[]): Promise<number> {
  const live = argv.includes('--live');
  const args = argv.filter((arg) => arg !== '--live');
  const file = args.find((arg, index) => !arg.startsWith('-') && !(index > 0 && args[index - 1]!.startsWith('--') && !args[index - 1]!.includes('=')));
  const rest = file === undefined ? args : args.filter((arg) => arg !== file);
  const config = loadConfig({ args: rest });
  const target = file === undefined ? config.routesFile : path.resolve(file);
  const name = path.relative(process.cwd(), target) || target;
  // The check reads the file with `yaml` alone, the parser every message comes from; the daemon
  // reads it quickly first and falls back to `yaml` (core/routes/quick-parse.ts).
  const result = await checkRoutesFile(target, config, { exact: true });
  for (const problem of result.problems) console.log(formatProblem(name, problem));
  if (result.problems.length > 0) {
    console.error(`${name}: ${result.problems.length} problem(s)`);
    return 1;
  }
  console.log(`${name}: ok (${result.routes.length} routes${result.subscriptions.length > 0 ? `, ${result.subscriptions.length} subscriptions` : ''})`);
  if (!live) return 0;
  const logger = createLogger({ level: 'error', format: 'json', silent: true });
  const lines = await preflight(result.routes, result.loaded, config, logger, 5000, result.subscriptions);
  for (const line of lines) console.log(formatPreflightLine(line));
  const failures = lines.filter((line) => !line.ok).length;
  console.log(
    failures === 0
      ? `live check: every route${result.subscriptions.length > 0 ? ' and subscription' : ''} can work (${lines.length} checked)`
      : `live check: ${failures} of ${lines.length} cannot work`,
  );
  return failures === 0 ? 0 : 1;
}

/** `busgate openapi|asyncapi [FILE]`: the document of a routes file on stdout; lint problems fail it. */
async function printDocument(kind: 'openapi' | 'asyncapi', argv: string[]): Promise<number> {
  const file = argv.find((arg) => !arg.startsWith('-'));
  const config = loadConfig({ args: file === undefined ? argv : argv.filter((arg) => arg !== file) });
  const target = file === undefined ? config.routesFile : path.resolve(file);
  const name = path.relative(process.cwd(), target) || target;
  const result = await checkRoutesFile(target, config);
  for (const problem of result.problems) console.error(formatProblem(name, problem));
  if (result.problems.length > 0) return 1;
  const document =
    kind === 'openapi'
      ? buildOpenApi(result.routes, declarationsOf(result.loaded), { apiKeys: config.apiKeys.size > 0, streams: result.streams, pulls: result.pulls })
      : buildAsyncApi(result.routes, declarationsOf(result.loaded), { subscriptions: result.subscriptions });
  process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  return 0;
}

/**
 * Under load V8 lets the heap grow far past what is live (a heap snapshot at 500 connections
 * holds 24 MB; RSS passed 180 MB). The cheapest fix is on node's command line, where `npm start`,
 * the `busgate` command and the image put it: a small young generation and slower old-generation
 * growth (`--max-semi-space-size=2 --heap-growing-percent=10`), measured at 86-88 MB for about the
 * CPU per request of V8's defaults. The young generation cannot be sized once the process runs,
 * so a daemon started without those flags falls back to `--optimize-for-size`, which V8 reads as
 * it goes (set before the daemon allocates, it takes effect): 96 MB for about a third more CPU
 * per request (README, Performance: memory). No heap cap: a peak must never become a crash.
 */
function optimizeForSize(setting: boolean | 'auto'): boolean {
  return setting === 'auto' ? !youngGenerationSized() : setting;
}

async function start(args: string[]): Promise<number> {
  const loaded = loadConfig({ args });
  const config = isClusterWorker() ? { ...loaded, instanceId: workerInstanceId(loaded.instanceId) } : loaded;
  if (optimizeForSize(config.optimizeForSize)) v8.setFlagsFromString('--optimize-for-size');
  const worker = isClusterWorker();
  const workers = worker ? { count: 1 } : chooseWorkers(config);
  if (workers.count > 1) {
    // The primary serves nothing itself: it forks the workers and speaks for them (core/cluster.ts).
    const logger = createLogger({ level: config.logLevel, format: config.logFormat });
    if (config.watchRoutes) watchFile(config.routesFile, () => process.emit('SIGHUP', 'SIGHUP'));
    return runPrimary(workers.count, config, logger);
  }
  // SIGHUP's default action ends the process: handled from the first moment, so a reload signal
  // that arrives while the daemon starts cannot kill it; it reloads once start-up is done.
  let started: Daemon | undefined;
  let reloadWhenStarted = false;
  process.on('SIGHUP', () => {
    // In a cluster the primary drives reloads (all workers or none); a SIGHUP sent to the whole
    // process group must not make one worker reload on its own.
    if (worker) return;
    if (started) void started.reload('SIGHUP');
    else reloadWhenStarted = true;
  });
  const daemon = await startDaemon(config, { clusterWorker: worker, oneProcessReason: workers.reason, routesReading: workers.reading });
  started = daemon;
  if (reloadWhenStarted) void daemon.reload('SIGHUP during start-up');
  let signals = 0;
  const stop = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      daemon.logger.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    daemon.shutdown(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        daemon.logger.error('shutdown failed', { error: describeError(error) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('unhandledRejection', (reason) => daemon.logger.error('unhandled rejection', { error: describeError(reason) }));
  return new Promise<number>(() => undefined);
}

const USAGE = `usage:
  busgate [start] [--port N] [--routes FILE] [--config FILE]   run the daemon
  busgate check [--live] [FILE]                                 lint a routes file, start nothing;
                                                                --live also asks the brokers
  busgate openapi [FILE] | busgate asyncapi [FILE]              print the routes file's OpenAPI 3.1
                                                                or AsyncAPI 3.0 document
Settings come from the environment, --config FILE and flags (README, Configuration).
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  // Asked for help anywhere, print it: `busgate --help` used to start a daemon.
  if (command === 'help' || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === 'check') return check(args);
  if (command === 'start') return start(args);
  if (command === 'openapi' || command === 'asyncapi') return printDocument(command, args);
  if (command === undefined || command.startsWith('-')) return start(argv);
  console.error(`busgate: unknown command "${command}" (use start, check, openapi or asyncapi; --help for more)`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof StartupError) {
      console.error(`busgate: ${error.code}: ${error.message}`);
      for (const line of error.details) console.error(`  ${line}`);
    } else {
      console.error(`busgate: ${describeError(error)}`);
    }
    process.exit(1);
  },
);
