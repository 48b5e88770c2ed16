/**
 * A daemon as a separate process, started the way an operator does: `node <out>/core/cli.js
 * start --config FILE` with a generated config and routes file, on a free port, in a temporary
 * working directory (so the repository's config/default.yaml is not read).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, freePort, sleep } from '../../support/net.js';

/** The CLI of the same build as this file (dist/ under npm test, dist-faults/ when built there). */
const CLI = fileURLToPath(new URL('../../../core/cli.js', import.meta.url));

/** Settings that would override the generated config file if the caller's environment had them. */
const CONFIG_ENV =
  /^(PORT|HOST|ROUTES_FILE|LOG_LEVEL|LOG_FORMAT|BODY_LIMIT|DEFAULT_TIMEOUT|SHUTDOWN_TIMEOUT|MAX_IN_FLIGHT_PER_BROKER|TAP_ENABLED|BUSGATE_.*|IDEMPOTENCY_.*|RATE_LIMIT_STORE|STATE_KEY_PREFIX|SHUTDOWN_DELAY|MAX_HEADER.*|HEADERS_TIMEOUT|REQUEST_TIMEOUT|NODE_ENV|WORKERS)$/;

export interface ProcessDaemon {
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) and the time it took from `since`. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  output(): string;
  /** VmRSS of the process in MiB, or undefined once it is gone. */
  rssMiB(): number | undefined;
  /** SIGKILL if still running; removes the temporary folder. */
  dispose(): Promise<void>;
}

export async function startProcessDaemon(options: { config: string; routes: string; startTimeoutMs?: number }): Promise<ProcessDaemon> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-proc-'));
  const port = await freePort();
  const routesFile = path.join(dir, 'routes.yaml');
  const configFile = path.join(dir, 'busgate.yaml');
  fs.writeFileSync(routesFile, options.routes);
  // One process: the fault suites watch and signal the daemon by its pid (WORKERS > 1 has its own test).
  fs.writeFileSync(configFile, `port: ${port}\nhost: 127.0.0.1\nroutesFile: ${routesFile}\nlogFormat: json\nworkers: 1\n${options.config}`);
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!CONFIG_ENV.test(name)) env[name] = value;
  const child = spawn(process.execPath, [CLI, 'start', '--config', configFile], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const url = `http://127.0.0.1:${port}`;
  const dispose = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await Promise.race([exited, sleep(3000)]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`the daemon exited with ${child.exitCode}:\n${output}`);
        try {
          return (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).status === 200;
        } catch {
          return false;
        }
      },
      options.startTimeoutMs ?? 20_000,
      'the daemon process to serve /health',
      100,
    );
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    url,
    pid: child.pid!,
    child,
    exited,
    output: () => output,
    rssMiB: () => {
      try {
        const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return match ? Number(match[1]) / 1024 : undefined;
      } catch {
        return undefined;
      }
    },
    dispose,
  };
}
