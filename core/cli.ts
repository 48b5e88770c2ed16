#!/usr/bin/env node
/**
 *   busgate [start] [--port N] [--routes FILE] [--config FILE]   run the daemon
 *   busgate check [FILE]                                          lint a routes file, start nothing
 */
import path from 'node:path';
import { loadConfig } from './config.js';
import { startDaemon } from './daemon.js';
import { checkRoutesFile } from './routes/check-file.js';
import { StartupError, describeError } from './errors.js';
import { formatProblem } from './routes/model.js';

async function check(args: string[]): Promise<number> {
  const file = args.find((arg) => !arg.startsWith('-'));
  const rest = file === undefined ? args : args.filter((arg) => arg !== file);
  const config = loadConfig({ args: rest });
  const target = file === undefined ? config.routesFile : path.resolve(file);
  const name = path.relative(process.cwd(), target) || target;
  const result = await checkRoutesFile(target, config);
  for (const problem of result.problems) console.log(formatProblem(name, problem));
  if (result.problems.length > 0) {
    console.error(`${name}: ${result.problems.length} problem(s)`);
    return 1;
  }
  console.log(`${name}: ok (${result.routes.length} routes)`);
  return 0;
}

async function start(args: string[]): Promise<number> {
  const daemon = await startDaemon(loadConfig({ args }));
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
  process.on('SIGHUP', () => {
    void daemon.reload('SIGHUP');
  });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('unhandledRejection', (reason) => daemon.logger.error('unhandled rejection', { error: describeError(reason) }));
  return new Promise<number>(() => undefined);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === 'check') return check(args);
  if (command === 'start') return start(args);
  if (command === undefined || command.startsWith('-')) return start(argv);
  console.error(`busgate: unknown command "${command}" (use start or check)`);
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
