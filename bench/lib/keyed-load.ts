/**
 * A daemon process started from a generated config and routes file, and a closed-loop load of
 * POSTs with unique Idempotency-Keys: what bench/rss.ts and bench/state-store.ts measure with.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/support/net.js';
import { NODE_MEMORY_FLAGS, mallocEnv } from '../../core/node-flags.js';
import { collectOutput, spawnTracked, stopProcess, waitUntil } from './proc.js';

const CLI = fileURLToPath(new URL('../../core/cli.js', import.meta.url));

export interface BenchDaemon {
  readonly child: ChildProcess;
  readonly port: number;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `node dist/core/cli.js start` with `config` (YAML lines) and `routes`; resolves once /ready is 200. */
export async function startBenchDaemon(config: string, routes: string): Promise<BenchDaemon> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-bench-'));
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'routes.yaml'), routes);
  fs.writeFileSync(
    path.join(dir, 'busgate.yaml'),
    `port: ${port}\nhost: 127.0.0.1\nroutesFile: ${path.join(dir, 'routes.yaml')}\nlogLevel: warn\nlogFormat: json\n${config}`,
  );
  const child = spawnTracked(process.execPath, [...NODE_MEMORY_FLAGS, CLI, 'start', '--config', path.join(dir, 'busgate.yaml')], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', WORKERS: '1', ...mallocEnv() },
  });
  const output = collectOutput(child);
  const stop = async (): Promise<void> => {
    await stopProcess(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200, 60_000, 'the daemon to be ready', child);
  } catch (error) {
    await stop();
    throw new Error(`${String(error)}\n${output.stdout().slice(-2000)}${output.stderr().slice(-2000)}`, { cause: error });
  }
  return { child, port, output: () => output.stdout() + output.stderr(), stop };
}

/** Sends `requests` POSTs over `concurrency` keep-alive connections, cycling through `paths`. */
export async function postKeyed(
  port: number,
  options: { paths: readonly string[]; requests: number; concurrency: number; keyPrefix?: string },
): Promise<{ non2xx: number; seconds: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  let next = 0;
  let non2xx = 0;
  const started = Date.now();
  const worker = async (): Promise<void> => {
    while (next < options.requests) {
      const seq = next++;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (options.keyPrefix !== undefined) headers['idempotency-key'] = `${options.keyPrefix}-${seq}`;
      const status = await new Promise<number>((resolve) => {
        const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: options.paths[seq % options.paths.length], agent, headers }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve(0));
        req.end(JSON.stringify({ seq, pad: 'x'.repeat(200) }));
      });
      if (status < 200 || status >= 300) non2xx += 1;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  agent.destroy();
  return { non2xx, seconds: (Date.now() - started) / 1000 };
}
