/**
 * Route count must not matter: the same memory pubsub route served by daemons whose routes files
 * hold 1, 100 and 10,000 routes (`POST /r<i>/:topic`, the probed one last in the file), plus a
 * path no route has (the JSON 404). All daemons run side by side and the wrk runs alternate
 * between them, several rounds, median taken: on a shared box the load moves within minutes, and
 * alternating spreads it evenly over the sides being compared. Start-up = spawn to the first 200
 * from /ready.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../test/support/net.js';
import { collectOutput, cpuSeconds, spawnTracked, stopProcess, waitUntil } from './lib/proc.js';
import type { TargetResult } from './lib/report.js';
import { runWrk } from './lib/wrk.js';

export const ROUTE_COUNTS = [1, 100, 10_000] as const;

export interface RouteCountSide {
  readonly routes: number;
  readonly startupS: number;
  /** CPU the daemon used until it was ready (wall time on a loaded box is mostly waiting for a core). */
  readonly startupCpuS: number;
  /** Median req/s over the rounds, and every round. */
  readonly lastRoute: { readonly rate: number; readonly runs: readonly number[] };
  readonly unmatched: { readonly rate: number; readonly runs: readonly number[]; readonly status404: boolean };
}

export interface RouteCountResult {
  readonly sides: readonly RouteCountSide[];
  readonly rounds: number;
  readonly durationS: number;
  readonly loadAverage: readonly number[];
}

export interface RouteBenchSetup {
  readonly node: string;
  readonly cli: string;
  readonly env: NodeJS.ProcessEnv;
  readonly script: string;
  readonly dir: string;
  readonly connections: number;
  readonly durationS: number;
  readonly rounds: number;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
};

const lastPath = (count: number): string => `/r${count - 1}/probe`;
const UNMATCHED_PATH = '/no/such/route';

function writeFiles(dir: string, count: number, port: number): string {
  fs.mkdirSync(dir, { recursive: true });
  const lines = ['routes:'];
  for (let i = 0; i < count; i++)
    lines.push(`  - name: r${i}`, `    path: /r${i}/:topic`, '    broker: memory', '    mode: pubsub', '    destination: "bench.{topic}"');
  fs.writeFileSync(path.join(dir, 'routes.yaml'), `${lines.join('\n')}\n`);
  const config = {
    port,
    host: '127.0.0.1',
    routesFile: path.join(dir, 'routes.yaml'),
    logLevel: 'warn',
    logFormat: 'json',
    brokers: { memory: { plugin: 'memory', options: {} } },
  };
  const file = path.join(dir, 'busgate.yaml');
  fs.writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

async function startWithRoutes(setup: RouteBenchSetup, count: number): Promise<{ child: ChildProcess; port: number; startupS: number; startupCpuS: number }> {
  const port = await freePort();
  const config = writeFiles(path.join(setup.dir, `routes-${count}`), count, port);
  const t0 = performance.now();
  const child = spawnTracked(setup.node, [setup.cli, 'start', '--config', config], { cwd: setup.dir, env: setup.env });
  const output = collectOutput(child);
  await waitUntil(
    async () => {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/ready`);
        await response.arrayBuffer();
        return response.status === 200;
      } catch {
        return false;
      }
    },
    60_000,
    () => `daemon with ${count} routes ready (${output.stderr().slice(-300)})`,
    child,
  );
  const startupS = Math.round((performance.now() - t0) / 10) / 100;
  return { child, port, startupS, startupCpuS: Math.round((cpuSeconds(child.pid!) ?? 0) * 100) / 100 };
}

export async function routeCountBench(setup: RouteBenchSetup, log: (line: string) => void): Promise<RouteCountResult> {
  const daemons: Array<{ child: ChildProcess; port: number; startupS: number; startupCpuS: number; count: number }> = [];
  try {
    // One at a time, so each start-up is timed without the others competing.
    for (const count of ROUTE_COUNTS) {
      const started = await startWithRoutes(setup, count);
      daemons.push({ ...started, count });
      log(`  ${count} routes: ready in ${started.startupS} s (${started.startupCpuS} s CPU)`);
    }
    const last = new Map<number, number[]>(ROUTE_COUNTS.map((c) => [c, []]));
    const unmatched = new Map<number, number[]>(ROUTE_COUNTS.map((c) => [c, []]));
    const saw404 = new Map<number, boolean>();
    for (const d of daemons) {
      const response = await fetch(`http://127.0.0.1:${d.port}${UNMATCHED_PATH}`, { method: 'POST', body: '{}' });
      await response.arrayBuffer();
      saw404.set(d.count, response.status === 404);
      const warm = `http://127.0.0.1:${d.port}${lastPath(d.count)}`;
      await runWrk({ url: warm, connections: setup.connections, durationS: 1, script: setup.script });
    }
    for (let round = 0; round < setup.rounds; round++) {
      for (const d of daemons) {
        const base = `http://127.0.0.1:${d.port}`;
        last
          .get(d.count)!
          .push((await runWrk({ url: base + lastPath(d.count), connections: setup.connections, durationS: setup.durationS, script: setup.script })).rate);
        unmatched
          .get(d.count)!
          .push((await runWrk({ url: base + UNMATCHED_PATH, connections: setup.connections, durationS: setup.durationS, script: setup.script })).rate);
      }
      log(
        `  round ${round + 1}: ${daemons.map((d) => `${d.count} routes ${last.get(d.count)!.at(-1)} / unmatched ${unmatched.get(d.count)!.at(-1)}`).join('; ')}`,
      );
    }
    return {
      sides: daemons.map((d) => ({
        routes: d.count,
        startupS: d.startupS,
        startupCpuS: d.startupCpuS,
        lastRoute: { rate: median(last.get(d.count)!), runs: last.get(d.count)! },
        unmatched: { rate: median(unmatched.get(d.count)!), runs: unmatched.get(d.count)!, status404: saw404.get(d.count) ?? false },
      })),
      rounds: setup.rounds,
      durationS: setup.durationS,
      loadAverage: os.loadavg().map((v) => Math.round(v * 10) / 10),
    };
  } finally {
    for (const d of daemons) await stopProcess(d.child, 8000);
  }
}

/** Targets: with 10,000 routes the last route and an unmatched path at >= 0.9 x a 1-route file; start-up < 2 s. */
export function routeCountTargets(result: RouteCountResult): TargetResult[] {
  const one = result.sides.find((s) => s.routes === 1);
  const many = result.sides.find((s) => s.routes === 10_000);
  if (!one || !many) return [];
  const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
  const last = ratio(many.lastRoute.rate, one.lastRoute.rate);
  const none = ratio(many.unmatched.rate, one.unmatched.rate);
  return [
    {
      target: 'route count: last of 10,000 routes >= 0.9 x 1 route',
      caseId: 'routes',
      value: last,
      limit: 0.9,
      pass: last >= 0.9,
      detail: `${many.lastRoute.rate} vs ${one.lastRoute.rate} req/s`,
    },
    {
      target: 'route count: unmatched path with 10,000 routes >= 0.9 x 1 route',
      caseId: 'routes',
      value: none,
      limit: 0.9,
      pass: none >= 0.9 && many.unmatched.status404,
      detail: `${many.unmatched.rate} vs ${one.unmatched.rate} req/s${many.unmatched.status404 ? '' : ' (did not answer 404)'}`,
    },
    {
      target: 'route count: start-up with 10,000 routes < 2 s',
      caseId: 'routes',
      value: many.startupS,
      limit: 2,
      pass: many.startupS < 2,
      detail: `spawn to /ready 200, ${many.startupCpuS} s of it CPU; 1 route: ${one.startupS} s (${one.startupCpuS} s CPU)`,
    },
  ];
}

export function routeCountTable(result: RouteCountResult): string {
  const lines = [
    `route count (${result.rounds} alternating rounds of ${result.durationS} s, medians; load average ${result.loadAverage.join(' ')})`,
    '| routes in file | start-up s (CPU s) | last route req/s | unmatched path (404) req/s |',
    '|---:|---:|---:|---:|',
  ];
  for (const s of result.sides)
    lines.push(
      `| ${s.routes} | ${s.startupS} (${s.startupCpuS}) | ${s.lastRoute.rate} (${s.lastRoute.runs.join(', ')}) | ${s.unmatched.rate} (${s.unmatched.runs.join(', ')}) |`,
    );
  return lines.join('\n');
}
