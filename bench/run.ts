/**
 * `npm run bench [-- --quick] [-- --only=nats,kafka/pubsub,routes,stages] [-- --skip-cluster] [-- --skip-profile] [-- --skip-egress] [-- --skip-streams]`
 *
 * `--only` (also `--only routes`) keeps the broker cases whose id contains one of the words, and
 * the sections named: `routes` (route count, bench/routes.ts) and `stages` (the memory route's CPU
 * per request by stage). Without broker cases, the baselines and the cluster runs are left out.
 *
 * Measures, in one run on 127.0.0.1: the baselines B0 (bare node:http) and B1 (bare express), then
 * for every broker x mode the broker client alone (B2) and the busgate daemon, then two daemons
 * behind one port; evaluates the targets, profiles the cases that miss one, measures egress
 * (webhook deliveries per second against the plugin's consumer alone, bench/egress.ts) and stream
 * fan-out (SSE clients against the plugin's consumer alone, bench/streams.ts), and writes
 * bench/results/<stamp>-<quick|full>.{json,md}, latest.md and latest.svg. See bench/README.md.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ConsumerArgs } from './consumer.js';
import { formatProfile, summariseProfile } from './lib/profile.js';
import { stageSplit, stageTable, type StageSplit } from './lib/stages.js';
import { routeCountBench, routeCountTable, routeCountTargets } from './routes.js';
import {
  collectOutput,
  cpuSeconds,
  descendants,
  installCleanup,
  machineBusySeconds,
  killAll,
  memoryStatus,
  runForResult,
  spawnTracked,
  stopProcess,
  waitForLine,
  waitUntil,
} from './lib/proc.js';
import { freePort, sleep, tcpReachable } from '../test/support/net.js';
import {
  computeRatios,
  evaluateTargets,
  markdown,
  stdoutTable,
  svgChart,
  type BaselineResult,
  type BenchResults,
  type CaseResult,
  type ClusterResult,
  type ClusterSide,
  type HttpMeasurement,
} from './lib/report.js';
import type { B2Args, B2Output, BrokerName, CaseMode, Endpoints, OpenLoopArgs, OpenLoopOutput, Phases, WrkSummary } from './lib/types.js';
import { runWrk, writeWrkScript, wrkVersion } from './lib/wrk.js';
import { egressMarkdown, runEgressBench } from './egress.js';
import { runStreamsBench, streamsMarkdown } from './streams.js';
import { NODE_MEMORY_FLAGS, mallocEnv } from '../core/node-flags.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repo = path.resolve(here, '..', '..');
/**
 * Where the processes are started from: a copy of dist/{core,plugins,bench} taken when the run
 * starts, so that a rebuild of dist/ during a long run (others work in the same checkout) cannot
 * change or break the code under test half-way. Packages still resolve from the repo's node_modules.
 */
let binDir = here;
const NODE = process.execPath;
const CONNECTIONS = 50;
const RSS_CONNECTIONS = 500;
const NATS_STREAM_PREFIX = 'BUSGATEBENCH';
// Not of the form bench.{topic}, which the bench's routes render: a route that could render its
// broker's reply topic is refused (reserved_destination).
const KAFKA_REPLY_TOPIC = 'busgate-bench-replies';
const KAFKA_B2_REPLY_TOPIC = 'bench.replies.b2';
const HEADERS = { 'Content-Type': 'application/json', 'X-Source': 'bench' };

// quick: a smoke run of every case in under two minutes; numbers are rough (short windows).
const QUICK: Phases = {
  warmS: 0,
  capacityS: 1,
  openMs: 500,
  rssS: 1,
  b2WarmMs: 100,
  b2CapacityMs: 400,
  b2OpenMs: 300,
  clusterS: 1,
  profileS: 2,
  adjacentB1S: 0,
};
const FULL: Phases = {
  warmS: 3,
  capacityS: 10,
  openMs: 6000,
  rssS: 5,
  b2WarmMs: 1000,
  b2CapacityMs: 5000,
  b2OpenMs: 3000,
  clusterS: 8,
  profileS: 8,
  adjacentB1S: 3,
};

interface CaseDef {
  readonly broker: BrokerName;
  readonly mode: CaseMode;
  readonly topic: string;
}

const CASES: readonly CaseDef[] = [
  { broker: 'memory', mode: 'pubsub', topic: 'pubsub' },
  { broker: 'memory', mode: 'point-to-point', topic: 'p2p' },
  { broker: 'memory', mode: 'request-reply', topic: 'rr' },
  { broker: 'nats', mode: 'pubsub', topic: 'pubsub' },
  { broker: 'nats', mode: 'persistent-pubsub', topic: 'persist' },
  { broker: 'nats', mode: 'point-to-point', topic: 'p2p' },
  { broker: 'nats', mode: 'request-reply', topic: 'rr' },
  { broker: 'rabbitmq', mode: 'pubsub', topic: 'pubsub' },
  { broker: 'rabbitmq', mode: 'point-to-point', topic: 'p2p' },
  { broker: 'rabbitmq', mode: 'request-reply', topic: 'rr' },
  { broker: 'kafka', mode: 'pubsub', topic: 'pubsub' },
  { broker: 'kafka', mode: 'point-to-point', topic: 'p2p' },
  { broker: 'kafka', mode: 'request-reply', topic: 'rr' },
];

const caseId = (c: CaseDef): string => `${c.broker}/${c.mode}`;
const destinationOf = (c: CaseDef): string => `bench.${c.topic}`;
const pathOf = (c: CaseDef): string => `/bench/${c.topic}/${c.topic}`;

function makeBody(size: number): string {
  const head = '{"orderId":"bench-000001","source":"busgate-bench","items":[{"sku":"A-1","qty":2}],"pad":"';
  return head + 'x'.repeat(Math.max(0, size - head.length - 2)) + '"}';
}
const BODY = makeBody(256);

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n').slice(0, 3).join(' ').slice(0, 400);
}

// ------------------------------------------------------------------------------------- servers
interface Server {
  readonly label: string;
  readonly port: number;
  readonly child: ChildProcess;
  pids(): number[];
  /** Why it is gone, when it is: exit code and the last lines it printed. */
  death?(): string | undefined;
}

async function startScriptServer(label: string, script: string): Promise<Server> {
  const port = await freePort();
  const child = spawnTracked(NODE, [path.join(binDir, script), String(port)]);
  const output = collectOutput(child);
  await waitForLine(child, 'READY', 15_000, output);
  return { label, port, child, pids: () => [child.pid!] };
}

/** Only what a daemon needs from the environment: nothing from the caller's shell leaks into it. */
function daemonEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { LOG_LEVEL: 'warn', LOG_FORMAT: 'json', NODE_ENV: 'production', WORKERS: '1', ...daemonMallocEnv() };
  for (const name of ['PATH', 'HOME', 'LANG', 'TMPDIR']) if (process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}

/** One route per case, each `POST /bench/<topic>/:topic` -> destination `bench.{topic}` (a rendered template). */
function writeDaemonFiles(dir: string, group: readonly CaseDef[], endpoints: Endpoints, port: number): string {
  fs.mkdirSync(dir, { recursive: true });
  const broker = group[0]!.broker;
  const routes = ['routes:'];
  for (const c of group) {
    routes.push(
      `  - name: bench-${c.topic}`,
      `    path: /bench/${c.topic}/:topic`,
      `    broker: ${c.broker}`,
      `    mode: ${c.mode === 'persistent-pubsub' ? 'pubsub' : c.mode}`,
      '    destination: "bench.{topic}"',
      '    headers: [x-source]',
      ...(c.mode === 'persistent-pubsub' ? ['    options: { persistent: true }'] : []),
    );
  }
  fs.writeFileSync(path.join(dir, 'routes.yaml'), `${routes.join('\n')}\n`);
  const brokers: Record<string, unknown> = {
    memory: { plugin: 'memory', options: { queueLimit: 100_000, echoResponders: ['bench.rr'] } },
    nats: { plugin: 'nats', options: { url: endpoints.natsUrl, streamPrefix: NATS_STREAM_PREFIX } },
    rabbitmq: { plugin: 'rabbitmq', options: { url: endpoints.amqpUrl } },
    kafka: { plugin: 'kafka', options: { brokers: endpoints.kafkaBrokers.split(','), createTopics: true, replyTopic: KAFKA_REPLY_TOPIC } },
  };
  const config = {
    port,
    host: '127.0.0.1',
    routesFile: path.join(dir, 'routes.yaml'),
    logLevel: 'warn',
    logFormat: 'json',
    // The memory point-to-point case reads its messages off the tap; the daemon runs with
    // NODE_ENV=production like a deployment, where the tap must be allowed explicitly.
    tap: { enabled: needsTap(group), allowInProduction: needsTap(group) },
    brokers: { [broker]: brokers[broker] },
  };
  const file = path.join(dir, 'busgate.yaml');
  fs.writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`); // JSON is YAML
  return file;
}

function daemonNodeFlags(): readonly string[] {
  const chosen = process.env.BENCH_NODE_FLAGS;
  return chosen === undefined ? NODE_MEMORY_FLAGS : chosen.split(/\s+/).filter(Boolean);
}

/** npm start's glibc malloc settings (core/node-flags.ts), unless BENCH_MALLOC_ENV names others ("NAME=value …"; empty for glibc's defaults). */
function daemonMallocEnv(): Record<string, string> {
  const chosen = process.env.BENCH_MALLOC_ENV;
  if (chosen === undefined) return mallocEnv();
  return Object.fromEntries(
    chosen
      .split(/\s+/)
      .filter(Boolean)
      .map((setting) => {
        const [name = '', ...value] = setting.split('=');
        return [name, value.join('=')];
      }),
  );
}

async function startDaemon(
  dir: string,
  group: readonly CaseDef[],
  endpoints: Endpoints,
  options: { nodeArgs?: string[]; workers?: number } = {},
): Promise<Server> {
  const port = await freePort();
  const config = writeDaemonFiles(dir, group, endpoints, port);
  // Several workers: busgate's own WORKERS (node:cluster behind one port, core/cluster.ts).
  // Launched as `npm start` launches it: node's memory flags first (core/node-flags.ts), unless
  // BENCH_NODE_FLAGS names others to compare (space-separated; empty for none).
  const args = [...daemonNodeFlags(), ...(options.nodeArgs ?? []), path.join(binDir, '..', 'core', 'cli.js'), 'start', '--config', config];
  const child = spawnTracked(NODE, args, { cwd: dir, env: { ...daemonEnv(), WORKERS: String(options.workers ?? 1) } });
  const output = collectOutput(child);
  const label = options.workers !== undefined ? `busgate x${options.workers}` : 'busgate';
  // Ready = every broker the routes use is connected, in every worker (a few times in a row).
  let streak = 0;
  const wanted = options.workers ?? 1;
  await waitUntil(
    async () => {
      const response = await fetch(`http://127.0.0.1:${port}/ready`);
      await response.arrayBuffer();
      streak = response.status === 200 ? streak + 1 : 0;
      return streak >= wanted * 2;
    },
    60_000,
    () => `${label} ready (${output.stderr().split('\n').filter(Boolean).slice(-2).join(' | ').slice(0, 300)})`,
    child,
  );
  const pids = options.workers !== undefined ? [child.pid!, ...descendants(child.pid!)] : [child.pid!];
  const death = (): string | undefined =>
    child.exitCode === null && child.signalCode === null
      ? undefined
      : `${label} exited (${child.signalCode ?? child.exitCode}): ${output.stderr().trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`;
  return { label, port, child, pids: () => pids, death };
}

async function startConsumer(args: ConsumerArgs): Promise<ChildProcess> {
  const child = spawnTracked(NODE, [path.join(binDir, 'consumer.js'), JSON.stringify(args)]);
  const output = collectOutput(child);
  await waitForLine(child, 'READY', 90_000, output);
  return child;
}

function consumerArgs(group: readonly CaseDef[], endpoints: Endpoints): ConsumerArgs {
  return {
    broker: group[0]!.broker,
    cases: group.map((c) => ({ mode: c.mode, destination: destinationOf(c) })),
    endpoints,
    natsStreamPrefix: NATS_STREAM_PREFIX,
    persistentStream: `${NATS_STREAM_PREFIX}_PERSIST`,
    kafkaTopics: ['bench.pubsub', 'bench.p2p', 'bench.rr', KAFKA_REPLY_TOPIC, KAFKA_B2_REPLY_TOPIC, 'bench.consumer-replies'],
  };
}

const tapUrl = (server: Server): string => `http://127.0.0.1:${server.port}/tap/memory/bench.p2p?mode=point-to-point`;
const needsTap = (group: readonly CaseDef[]): boolean => group.some((c) => c.broker === 'memory' && c.mode === 'point-to-point');

// ------------------------------------------------------------------------------------- measuring
const sum = (values: Array<number | undefined>): number => values.reduce<number>((a, v) => a + (v ?? 0), 0);

/** Open loop at 50% and then 80% of `capacity`, from one generator process. */
async function openLoopRuns(server: Server, urlPath: string, capacity: number, durationMs: number): Promise<[OpenLoopOutput, OpenLoopOutput]> {
  const rates = [0.5, 0.8].map((f) => Math.max(1, Math.round(capacity * f)));
  const args: OpenLoopArgs = { port: server.port, path: urlPath, body: BODY, headers: HEADERS, rates, durationMs, connections: CONNECTIONS, drainMs: 5000 };
  const [open50, open80] = await runForResult<OpenLoopOutput[]>(NODE, [path.join(binDir, 'openloop.js'), JSON.stringify(args)], 2 * durationMs + 30_000);
  return [open50!, open80!];
}

/** Quick runs warm up with a short burst from this process instead of a (whole-second) wrk run. */
async function burst(port: number, urlPath: string, total = 600, concurrency = 25): Promise<void> {
  let sent = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent++ < total) {
        const response = await fetch(`http://127.0.0.1:${port}${urlPath}`, { method: 'POST', body: BODY, headers: HEADERS });
        await response.arrayBuffer();
      }
    }),
  );
}

async function capacityRun(
  server: Server,
  url: string,
  durationS: number,
  script: string,
): Promise<{ wrk: WrkSummary; serverCpu: number; otherLoadCores: number }> {
  const cpuBefore = sum(server.pids().map(cpuSeconds));
  const busyBefore = machineBusySeconds();
  const wrk = await runWrk({ url, connections: CONNECTIONS, durationS, script });
  const busy = machineBusySeconds() - busyBefore;
  const serverCpu = sum(server.pids().map(cpuSeconds)) - cpuBefore;
  const otherLoadCores = Math.max(0, Math.round(((busy - serverCpu - wrk.cpuSeconds) / wrk.durationS) * 100) / 100);
  return { wrk, serverCpu, otherLoadCores };
}

async function measureHttp(server: Server, urlPath: string, phases: Phases, script: string, withRss: boolean): Promise<HttpMeasurement> {
  const url = `http://127.0.0.1:${server.port}${urlPath}`;
  const warm = phases.warmS > 0 ? await runWrk({ url, connections: CONNECTIONS, durationS: phases.warmS, script }) : undefined;
  if (!warm) await burst(server.port, urlPath, 400);
  const { wrk: capacity, serverCpu, otherLoadCores } = await capacityRun(server, url, phases.capacityS, script);
  const [open50, open80] = await openLoopRuns(server, urlPath, capacity.rate, phases.openMs);
  const peakRssMb = sum(server.pids().map((pid) => memoryStatus(pid)?.hwmMb));
  let at500: HttpMeasurement['at500'];
  if (withRss) {
    let maxRssMb = 0;
    const wrk = await runWrk({
      url,
      connections: RSS_CONNECTIONS,
      durationS: phases.rssS,
      script,
      sampleMs: 100,
      onSample: () => {
        maxRssMb = Math.max(maxRssMb, sum(server.pids().map((pid) => memoryStatus(pid)?.rssMb)));
      },
    });
    at500 = { wrk, maxRssMb: Math.round(maxRssMb * 10) / 10, hwmMb: Math.round(sum(server.pids().map((pid) => memoryStatus(pid)?.hwmMb)) * 10) / 10 };
  }
  return {
    ...(warm ? { warm } : {}),
    capacity,
    serverCpuSecondsPerRequest: serverCpu / Math.max(1, capacity.requests),
    serverCpuShareOfOneCore: Math.round((serverCpu / capacity.durationS) * 100) / 100,
    otherLoadCores,
    open50,
    open80,
    peakRssMb: Math.round(peakRssMb * 10) / 10,
    ...(at500 ? { at500 } : {}),
  };
}

async function sanityPost(server: Server, urlPath: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${server.port}${urlPath}`, { method: 'POST', body: BODY, headers: HEADERS });
  const text = await response.text();
  return { status: response.status, body: text.slice(0, 300) };
}

async function baseline(label: 'B0' | 'B1', phases: Phases, script: string): Promise<HttpMeasurement> {
  const server = await startScriptServer(label, label === 'B0' ? 'servers/b0-node.js' : 'servers/b1-express.js');
  try {
    return await measureHttp(server, '/bench/pubsub/pubsub', phases, script, true);
  } finally {
    await stopProcess(server.child);
  }
}

function baselineResult(label: 'B0' | 'B1', runs: HttpMeasurement[]): BaselineResult {
  return {
    label,
    description: label === 'B0' ? 'bare node:http' : 'bare express (express.raw)',
    runs,
    capacity: Math.round(sum(runs.map((r) => r.capacity.rate)) / runs.length),
    p99At50Ms: Math.round((sum(runs.map((r) => r.open50.latency.p99Ms)) / runs.length) * 1000) / 1000,
  };
}

/**
 * One group = one daemon, one consumer process and one B2 process. Full runs: a group per case.
 * Quick runs: a group per broker (one daemon serving a route per mode), to fit in two minutes.
 */
async function runGroup(group: readonly CaseDef[], endpoints: Endpoints, phases: Phases, script: string, tmp: string): Promise<CaseResult[]> {
  const results: CaseResult[] = group.map((c) => ({
    id: caseId(c),
    broker: c.broker,
    mode: c.mode,
    path: pathOf(c),
    destination: destinationOf(c),
    status: 'failed',
  }));
  const broker = group[0]!.broker;
  let consumer: ChildProcess | undefined;
  let daemon: Server | undefined;
  try {
    // The consumer (which prepares the destinations) and the daemon start side by side: both
    // mostly wait on the broker (Kafka group joins), and an idle daemon costs B2 nothing.
    const consumerStarting = broker !== 'memory' ? startConsumer(consumerArgs(group, endpoints)) : Promise.resolve(undefined);
    const daemonStarting = startDaemon(
      path.join(
        tmp,
        results
          .map((r) => r.id.replace('/', '-'))
          .join('+')
          .slice(0, 80),
      ),
      group,
      endpoints,
    );
    const [startedConsumer, startedDaemon] = await Promise.allSettled([consumerStarting, daemonStarting]);
    if (startedConsumer.status === 'fulfilled') consumer = startedConsumer.value;
    if (startedDaemon.status === 'fulfilled') daemon = startedDaemon.value;
    if (startedConsumer.status === 'rejected') throw new Error(`consumer: ${errorText(startedConsumer.reason)}`);
    if (startedDaemon.status === 'rejected') throw new Error(`daemon: ${errorText(startedDaemon.reason)}`);
    const b2Args: B2Args = {
      broker,
      cases: group.map((c) => ({ mode: c.mode, destination: destinationOf(c) })),
      body: BODY,
      concurrency: CONNECTIONS,
      warmMs: phases.b2WarmMs,
      capacityMs: phases.b2CapacityMs,
      openMs: phases.b2OpenMs,
      endpoints,
      natsStreamPrefix: NATS_STREAM_PREFIX,
      kafkaReplyTopic: KAFKA_B2_REPLY_TOPIC,
    };
    try {
      const outputs = await runForResult<Array<B2Output & { error?: string }>>(
        NODE,
        [path.join(binDir, 'b2.js'), JSON.stringify(b2Args)],
        60_000 * group.length,
      );
      outputs.forEach((output, i) => {
        if (output.error !== undefined) results[i]!.b2Error = output.error;
        else results[i]!.b2 = output;
      });
    } catch (error) {
      for (const r of results) r.b2Error = errorText(error);
    }
    for (const r of results) if (r.b2Error) log(`  ${r.id} B2 failed: ${r.b2Error}`);
    if (phases.adjacentB1S > 0) {
      const b1 = await startScriptServer('B1', 'servers/b1-express.js');
      try {
        const url = `http://127.0.0.1:${b1.port}/bench/pubsub/pubsub`;
        await runWrk({ url, connections: CONNECTIONS, durationS: 1, script });
        const run = await capacityRun(b1, url, phases.adjacentB1S, script);
        for (const r of results)
          r.adjacentB1 = { rate: run.wrk.rate, cpuSecondsPerRequest: run.serverCpu / Math.max(1, run.wrk.requests), otherLoadCores: run.otherLoadCores };
      } finally {
        await stopProcess(b1.child);
      }
    }
    if (needsTap(group)) consumer = await startConsumer({ tapUrl: tapUrl(daemon!) });
    for (const [i, c] of group.entries()) {
      const result = results[i]!;
      try {
        result.sanity = await sanityPost(daemon!, pathOf(c));
        if (result.sanity.status < 200 || result.sanity.status >= 300) throw new Error(`first POST answered ${result.sanity.status}: ${result.sanity.body}`);
        // RSS at 500 connections: per case in full runs; once per daemon (its first route) in quick ones.
        result.router = await measureHttp(daemon!, pathOf(c), phases, script, group.length === 1 || i === 0);
        result.status = 'ok';
        log(
          `  ${result.id}: ${result.router.capacity.rate} req/s, p99@50% ${result.router.open50.latency.p99Ms} ms; B2 ${result.b2?.capacity.rate ?? '-'} ops/s`,
        );
      } catch (error) {
        result.status = 'failed';
        const died = daemon!.death?.();
        result.reason = died ? `${errorText(error)}; ${died}` : errorText(error);
        log(`  ${result.id} failed: ${result.reason}`);
        if (died) throw new Error(died, { cause: error });
      }
    }
  } catch (error) {
    for (const r of results) {
      if (r.status === 'ok') continue;
      r.reason ??= errorText(error);
    }
    log(`  ${results.map((r) => r.id).join(', ')} failed: ${errorText(error)}`);
  } finally {
    if (daemon) await stopProcess(daemon.child, 8000);
    if (consumer) await stopProcess(consumer, 6000);
  }
  return results;
}

async function clusterSide(c: CaseDef, endpoints: Endpoints, phases: Phases, script: string, dir: string, workers?: number): Promise<ClusterSide> {
  const server = await startDaemon(dir, [c], endpoints, workers !== undefined ? { workers } : {});
  try {
    const url = `http://127.0.0.1:${server.port}${pathOf(c)}`;
    if (phases.warmS > 0) await runWrk({ url, connections: CONNECTIONS, durationS: 1, script });
    else await burst(server.port, pathOf(c), 600, 50);
    const run = await capacityRun(server, url, phases.clusterS, script);
    return {
      rate: run.wrk.rate,
      non2xx: run.wrk.non2xx,
      serverCpuShareOfOneCore: Math.round((run.serverCpu / run.wrk.durationS) * 100) / 100,
      wrkCpuShareOfOneCore: run.wrk.cpuShareOfOneCore,
      otherLoadCores: run.otherLoadCores,
      processes: server.pids().length,
    };
  } finally {
    await stopProcess(server.child, 10_000);
  }
}

async function profileCase(
  c: CaseDef | 'B1',
  endpoints: Endpoints,
  phases: Phases,
  script: string,
  tmp: string,
  why: string,
): Promise<{ file: string; top: string[]; stages: StageSplit }> {
  const id = c === 'B1' ? 'B1' : caseId(c);
  const slug = id.replace(/\//g, '-');
  const dir = path.join(tmp, `profile-${slug}`);
  // The stage split may have profiled the same case into this directory already: start empty, so
  // the one profile read below is this run's.
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  let consumer: ChildProcess | undefined;
  let server: Server | undefined;
  try {
    if (c === 'B1') {
      const port = await freePort();
      const child = spawnTracked(NODE, ['--cpu-prof', `--cpu-prof-dir=${dir}`, path.join(binDir, 'servers', 'b1-express.js'), String(port)]);
      await waitForLine(child, 'READY', 15_000, collectOutput(child));
      server = { label: 'B1', port, child, pids: () => [child.pid!] };
    } else {
      if (c.broker !== 'memory') consumer = await startConsumer(consumerArgs([c], endpoints));
      server = await startDaemon(path.join(dir, 'daemon'), [c], endpoints, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
      if (needsTap([c])) consumer = await startConsumer({ tapUrl: tapUrl(server) });
    }
    const urlPath = c === 'B1' ? '/bench/pubsub/pubsub' : pathOf(c);
    const url = `http://127.0.0.1:${server.port}${urlPath}`;
    await burst(server.port, urlPath, 1000, 50);
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const cpuBefore = cpuSeconds(server.child.pid!) ?? 0;
    const wrk = await runWrk({ url, connections: CONNECTIONS, durationS: phases.profileS, script });
    const cpuUsed = (cpuSeconds(server.child.pid!) ?? 0) - cpuBefore;
    const toUs = Number(process.hrtime.bigint() / 1000n);
    // The profile is written when the process exits (busgate exits 0 after its SIGTERM shutdown).
    await stopProcess(server.child, 20_000);
    const profiles = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    if (profiles.length === 0) throw new Error('no .cpuprofile written');
    const summary = summariseProfile(path.join(dir, profiles[0]!), 30, { fromUs, toUs });
    const stages = stageSplit(
      id,
      path.join(dir, profiles[0]!),
      { fromUs, toUs },
      cpuUsed,
      wrk.requests,
      os.loadavg().map((v) => Math.round(v * 10) / 10),
    );
    const text = formatProfile(
      `CPU profile of ${c === 'B1' ? 'B1 (bare express)' : `the busgate daemon, ${id}`} under closed-loop load (wrk, ${CONNECTIONS} connections, ${wrk.durationS} s, ${wrk.rate} req/s while profiling)`,
      summary,
      [
        `why: ${why}`,
        `command: node --cpu-prof --cpu-prof-dir=DIR ${c === 'B1' ? 'dist/bench/servers/b1-express.js' : 'dist/core/cli.js start --config busgate.yaml'}; only samples taken during the wrk run are counted`,
        `process CPU during the run: ${Math.round(cpuUsed * 100) / 100} s for ${wrk.requests} requests = ${Math.round((cpuUsed / Math.max(1, wrk.requests)) * 1e6)} µs/request (the sampling profiler counts wall time on the main thread, so on a busy machine syscalls look longer than their CPU cost)`,
      ],
    );
    const file = path.join(repo, 'bench', 'results', `profile-${slug}.txt`);
    fs.writeFileSync(file, text);
    fs.appendFileSync(file, `\n${stageTable(stages)}\n`);
    return { file: path.relative(repo, file), top: summary.topFrames.slice(0, 5).map((f) => `${f.frame.split(' ')[0]} [${f.component}] ${f.share}%`), stages };
  } finally {
    if (server) await stopProcess(server.child, 5000);
    if (consumer) await stopProcess(consumer);
  }
}

// ------------------------------------------------------------------------------------- metadata
function machine(): Record<string, unknown> {
  return {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round(os.totalmem() / 1024 ** 3),
    kernel: os.release(),
    loadAverageAtStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

function versions(): Record<string, string> {
  // Read from node_modules directly: some packages do not export their package.json.
  const v = (name: string): string => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(repo, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return 'missing';
    }
  };
  return {
    node: process.version,
    busgate: (JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version,
    express: v('express'),
    'prom-client': v('prom-client'),
    '@nats-io/transport-node': v('@nats-io/transport-node'),
    '@nats-io/jetstream': v('@nats-io/jetstream'),
    amqplib: v('amqplib'),
    kafkajs: v('kafkajs'),
    wrk: wrkVersion() ?? 'missing',
  };
}

function natsServerVersion(): string | undefined {
  try {
    return execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

function kafkaVersion(): string | undefined {
  const jars = path.join(repo, '.brokers', 'kafka', 'jars');
  try {
    const jar = fs.readdirSync(jars).find((f) => /^kafka-server-\d/.test(f) || /^kafka_[\d.]+-\d/.test(f));
    const m = jar ? /(\d+\.\d+\.\d+)\.jar$/.exec(jar) : null;
    return m ? `Apache Kafka ${m[1]} (KRaft, single node)` : undefined;
  } catch {
    return undefined;
  }
}

function hostPort(url: string, fallbackPort: number): { host: string; port: number } {
  try {
    const u = new URL(url.includes('://') ? url : `tcp://${url}`);
    return { host: u.hostname || '127.0.0.1', port: Number(u.port) || fallbackPort };
  } catch {
    return { host: '127.0.0.1', port: fallbackPort };
  }
}

async function brokerAvailability(endpoints: Endpoints): Promise<Record<BrokerName, string | undefined>> {
  const distPlugin = (name: string): boolean => fs.existsSync(path.join(here, '..', 'plugins', name, 'index.js'));
  const check = async (name: BrokerName, url: string, port: number): Promise<string | undefined> => {
    if (!distPlugin(name)) return `plugins/${name} is not built`;
    const hp = hostPort(url.split(',')[0]!, port);
    if (hp.host !== '127.0.0.1' && hp.host !== 'localhost')
      return `${name} is configured at ${hp.host}, not on 127.0.0.1 (the bench keeps every load on loopback)`;
    return (await tcpReachable(hp.host, hp.port)) ? undefined : `${name} does not answer on ${hp.host}:${hp.port} (bash scripts/brokers.sh start ${name})`;
  };
  return {
    memory: distPlugin('memory') ? undefined : 'plugins/memory is not built',
    nats: await check('nats', endpoints.natsUrl, 4222),
    rabbitmq: await check('rabbitmq', endpoints.amqpUrl, 5672),
    kafka: await check('kafka', endpoints.kafkaBrokers, 9092),
  };
}

function refreshReadme(md: string): void {
  const readme = path.join(repo, 'bench', 'README.md');
  const text = fs.existsSync(readme) ? fs.readFileSync(readme, 'utf8') : '';
  const start = '<!-- bench:results:start -->';
  const end = '<!-- bench:results:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return;
  const block = `${start}\n${md.replace(/^### /, '#### ')}\n![capacity per broker and mode](results/latest.svg)\n${end}`;
  fs.writeFileSync(readme, text.slice(0, a) + block + text.slice(b + end.length));
}

/** `--render=FILE.json`: redraws latest.md and latest.svg (and, for a full run, the README block) from a results file. */
function render(file: string): number {
  const results = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResults;
  const resultsDir = path.join(repo, 'bench', 'results');
  const md = markdown(results);
  fs.writeFileSync(path.join(resultsDir, 'latest.md'), md);
  fs.writeFileSync(path.join(resultsDir, 'latest.svg'), svgChart(results));
  if (results.kind === 'full') refreshReadme(md);
  console.log(`bench/results/latest.md and latest.svg redrawn from ${path.relative(process.cwd(), file)}`);
  return 0;
}

// ----------------------------------------------------------------------------------------- main
async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const onlyAt = argv.indexOf('--only');
  const onlyText = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length) ?? (onlyAt >= 0 ? argv[onlyAt + 1] : undefined);
  const only = onlyText?.split(',').filter(Boolean);
  const wantsSection = (name: string): boolean => only === undefined || only.includes(name);
  const brokerCasesWanted = CASES.some((c) => only === undefined || only.some((o) => caseId(c).includes(o)));
  const skipCluster = argv.includes('--skip-cluster');
  const skipProfile = argv.includes('--skip-profile');
  const skipEgress = argv.includes('--skip-egress');
  const phases = quick ? QUICK : FULL;
  const renderFile = argv.find((a) => a.startsWith('--render='))?.slice('--render='.length);
  if (renderFile) return render(renderFile);
  const started = performance.now();

  const wrk = wrkVersion();
  if (wrk === undefined) {
    console.error('bench: wrk is not installed. Install it with:\n  apt-get install -y wrk');
    return 2;
  }
  installCleanup();
  const profileOnly = argv
    .find((a) => a.startsWith('--profile-case='))
    ?.slice('--profile-case='.length)
    .split(',')
    .filter(Boolean);

  const endpoints: Endpoints = {
    natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    amqpUrl: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    kafkaBrokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
  };
  const stampDate = new Date();
  const stamp = stampDate.toISOString().slice(0, 16).replace(':', '');
  const resultsDir = path.join(repo, 'bench', 'results');
  const tmp = path.join(resultsDir, 'tmp', `${stamp}-${process.pid}`);
  fs.mkdirSync(tmp, { recursive: true });
  const script = writeWrkScript(tmp, BODY, HEADERS);
  for (const part of ['core', 'plugins', 'bench']) fs.cpSync(path.join(here, '..', part), path.join(tmp, 'dist', part), { recursive: true });
  // The daemon reads its list of built-in plugins from the package.json above dist/.
  fs.copyFileSync(path.join(repo, 'package.json'), path.join(tmp, 'package.json'));
  binDir = path.join(tmp, 'dist', 'bench');
  const unavailable = await brokerAvailability(endpoints);
  const timings: Record<string, number> = {};
  const section = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      timings[name] = Math.round((performance.now() - t0) / 100) / 10;
    }
  };

  const results: BenchResults = {
    kind: quick ? 'quick' : 'full',
    date: stampDate.toISOString(),
    meta: {
      machine: machine(),
      versions: versions(),
      brokers: {},
      command: `npm run bench --${quick ? ' --quick' : ''}${only ? ` --only=${only.join(',')}` : ''}`,
      endpoints: { nats: hostPort(endpoints.natsUrl, 4222), rabbitmq: hostPort(endpoints.amqpUrl, 5672), kafka: hostPort(endpoints.kafkaBrokers, 9092) },
      daemonNodeFlags: daemonNodeFlags(),
      daemonMallocEnv: daemonMallocEnv(),
    },
    phases,
    baselines: {},
    cases: [],
    cluster: [],
    targets: [],
    profiles: [],
    timings,
    notes: [],
  };
  const brokerVersions = results.meta.brokers as Record<string, string>;
  const nv = natsServerVersion();
  if (nv && !unavailable.nats) brokerVersions.nats = nv;
  const kv = kafkaVersion();
  if (kv && !unavailable.kafka) brokerVersions.kafka = kv;

  if (profileOnly) {
    // Just profile the named cases (B1 included by name), e.g. to compare a change against the last run.
    try {
      for (const id of profileOnly) {
        const c = id === 'B1' ? 'B1' : CASES.find((x) => caseId(x) === id);
        if (!c) throw new Error(`no case ${id} (known: B1, ${CASES.map(caseId).join(', ')})`);
        log(`profiling ${id}`);
        const p = await profileCase(c, endpoints, phases, script, tmp, 'requested with --profile-case');
        console.log(`${id}: ${p.file}\n  ${p.top.join('\n  ')}`);
      }
    } finally {
      await killAll();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    return 0;
  }

  try {
    log(`${results.kind} run; phases ${JSON.stringify(phases)}`);
    if (wantsSection('routes')) {
      await section('routes', async () => {
        log('route count: 1, 100 and 10,000 routes, alternating');
        results.routes = await routeCountBench(
          {
            node: NODE,
            cli: path.join(binDir, '..', 'core', 'cli.js'),
            env: daemonEnv(),
            script,
            dir: path.join(tmp, 'routes'),
            connections: CONNECTIONS,
            durationS: Math.max(1, Math.round(phases.capacityS / 2)),
            rounds: quick ? 1 : 3,
          },
          log,
        );
      });
    }
    if (wantsSection('stages') && !skipProfile) {
      await section('stages', async () => {
        log('CPU per request by stage: profiling memory/pubsub');
        const memory = CASES.find((c) => caseId(c) === 'memory/pubsub')!;
        results.stages = (await profileCase(memory, endpoints, phases, script, tmp, 'CPU per request by stage')).stages;
      });
    }
    const b0Runs: HttpMeasurement[] = [];
    const b1Runs: HttpMeasurement[] = [];
    if (brokerCasesWanted)
      await section('baselines', async () => {
        log('B0 bare node:http');
        b0Runs.push(await baseline('B0', phases, script));
        log(`  B0 ${b0Runs[0]!.capacity.rate} req/s`);
        log('B1 bare express');
        b1Runs.push(await baseline('B1', phases, script));
        log(`  B1 ${b1Runs[0]!.capacity.rate} req/s`);
      });

    await section('cases', async () => {
      const selected: CaseDef[] = [];
      for (const c of CASES) {
        const id = caseId(c);
        if (only && !only.some((o) => id.includes(o))) continue;
        const reason = unavailable[c.broker];
        if (reason) {
          results.cases.push({ id, broker: c.broker, mode: c.mode, path: pathOf(c), destination: destinationOf(c), status: 'skipped', reason });
          log(`${id}: skipped (${reason})`);
          continue;
        }
        selected.push(c);
      }
      const groups: CaseDef[][] = quick
        ? [...new Set(selected.map((c) => c.broker))].map((b) => selected.filter((c) => c.broker === b))
        : selected.map((c) => [c]);
      for (const group of groups) {
        const t0 = performance.now();
        log(group.map(caseId).join(', '));
        const done = await runGroup(group, endpoints, phases, script, tmp);
        results.cases.push(...done);
        for (const r of done) if (r.b2?.server) brokerVersions[r.broker] ??= r.b2.server;
        timings[`group ${group.map(caseId).join(' ')}`] = Math.round((performance.now() - t0) / 100) / 10;
      }
      const order = new Map(CASES.map((c, i) => [caseId(c), i]));
      results.cases.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
    });

    if (!quick && brokerCasesWanted) {
      // Machines drift within a run: baselines again at the end, and their mean is what ratios use.
      await section('baselines again', async () => {
        log('B0 and B1 again (drift check)');
        b0Runs.push(await baseline('B0', phases, script));
        b1Runs.push(await baseline('B1', phases, script));
      });
    }
    if (b0Runs.length > 0) results.baselines.B0 = baselineResult('B0', b0Runs);
    if (b1Runs.length > 0) results.baselines.B1 = baselineResult('B1', b1Runs);

    if (!skipCluster) {
      await section('cluster', async () => {
        // The pubsub route of every broker: the broker shares the box's cores, so the factor differs per broker.
        for (const c of CASES.filter((x) => x.mode === 'pubsub')) {
          const id = caseId(c);
          if (only && !only.includes('cluster') && !only.some((o) => id.includes(o))) continue;
          const entry: ClusterResult = { id };
          results.cluster.push(entry);
          if (unavailable[c.broker]) {
            entry.error = `skipped: ${unavailable[c.broker]}`;
            continue;
          }
          let consumer: ChildProcess | undefined;
          try {
            log(`scaling out: ${id}, 1 daemon then 2 cluster workers`);
            if (c.broker !== 'memory') consumer = await startConsumer(consumerArgs([c], endpoints));
            const measured = results.cases.find((r) => r.id === id)?.router;
            if (quick && measured) {
              // Quick runs compare with the single daemon measured above, minutes earlier.
              entry.single = {
                rate: measured.capacity.rate,
                non2xx: measured.capacity.non2xx,
                serverCpuShareOfOneCore: measured.serverCpuShareOfOneCore,
                wrkCpuShareOfOneCore: measured.capacity.cpuShareOfOneCore,
                otherLoadCores: measured.otherLoadCores,
                processes: 1,
              };
            } else {
              entry.single = await clusterSide(c, endpoints, phases, script, path.join(tmp, `cluster1-${c.broker}`));
            }
            entry.double = await clusterSide(c, endpoints, phases, script, path.join(tmp, `cluster2-${c.broker}`), 2);
            entry.ratio = Math.round((entry.double.rate / entry.single.rate) * 100) / 100;
            log(`  ${entry.single.rate} -> ${entry.double.rate} req/s (x${entry.ratio})`);
          } catch (error) {
            entry.error = errorText(error);
            log(`  failed: ${entry.error}`);
          } finally {
            if (consumer) await stopProcess(consumer);
          }
        }
      });
    }

    computeRatios(results);
    results.targets = evaluateTargets(results);
    if (results.routes) results.targets.push(...routeCountTargets(results.routes));

    if (!skipProfile) {
      await section('profiles', async () => {
        const missed = new Map<string, string[]>();
        for (const t of results.targets) {
          if (t.pass !== false || !CASES.some((c) => caseId(c) === t.caseId)) continue;
          missed.set(t.caseId, [...(missed.get(t.caseId) ?? []), `${t.target}${t.stretch ? ' (stretch)' : ''}: ${t.value} vs ${t.limit}`]);
        }
        // Capacity misses first (they name the component that eats the time), then the rest.
        const order = [...missed.keys()].sort(
          (a, b) => Number(missed.get(b)!.some((w) => w.startsWith('capacity'))) - Number(missed.get(a)!.some((w) => w.startsWith('capacity'))),
        );
        const limit = quick ? 1 : 6;
        for (const id of order.slice(0, limit)) {
          const c = CASES.find((x) => caseId(x) === id)!;
          log(`profiling ${id} (${missed.get(id)!.join('; ')})`);
          try {
            const p = await profileCase(c, endpoints, phases, script, tmp, missed.get(id)!.join('; '));
            results.profiles.push({ caseId: id, file: p.file, top: p.top });
          } catch (error) {
            results.notes.push(`profile of ${id} failed: ${errorText(error)}`);
          }
        }
        if (order.length > limit) results.notes.push(`not profiled in this run (limit ${limit}): ${order.slice(limit).join(', ')}`);
        if (missed.size > 0 && !quick) {
          try {
            log('profiling B1 for comparison');
            const p = await profileCase('B1', endpoints, phases, script, tmp, 'reference: what bare express costs per request');
            results.profiles.push({ caseId: 'B1', file: p.file, top: p.top });
          } catch (error) {
            results.notes.push(`profile of B1 failed: ${errorText(error)}`);
          }
        }
      });
    }
  } finally {
    await killAll();
  }

  timings.total = Math.round((performance.now() - started) / 100) / 10;
  results.meta.loadAverageAtEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);
  const b0 = results.baselines.B0;
  const b1 = results.baselines.B1;
  if (b0 && b1) {
    const gen = b1.runs[0]!;
    results.notes.push(
      `Generators: wrk used ${gen.capacity.cpuShareOfOneCore} of a core at B1 capacity; the open-loop generator ${Math.round(gen.open80.generator.cpuShareOfOneCore * 100) / 100} of a core at 80% of B1 capacity. Both compete with the server for the ${os.availableParallelism()} CPUs.`,
    );
  }
  results.notes.push('Latency targets compare each side at 50% of its own capacity: router p99 vs 1.3 x (B0 p99 + B2 p99).');

  // Egress is measured per broker, so an --only naming sections but no broker leaves it out.
  const egressRows = skipEgress || !brokerCasesWanted ? [] : await runEgressBench({ quick, ...(only ? { only } : {}) });
  const streamRows = argv.includes('--skip-streams') || !brokerCasesWanted ? [] : await runStreamsBench({ quick, ...(only ? { only } : {}) });

  fs.mkdirSync(resultsDir, { recursive: true });
  const base = path.join(resultsDir, `${stamp}-${results.kind}`);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify({ ...results, egress: egressRows, streams: streamRows }, null, 2)}\n`);
  const sections = [
    results.routes ? routeCountTable(results.routes) : undefined,
    results.stages ? stageTable(results.stages) : undefined,
    egressRows.length > 0 ? egressMarkdown(egressRows, new Date()) : undefined,
    streamRows.length > 0 ? streamsMarkdown(streamRows, new Date()) : undefined,
  ].filter((x) => x !== undefined);
  const md = [markdown(results), ...sections].join('\n\n');
  fs.writeFileSync(`${base}.md`, md);
  fs.writeFileSync(path.join(resultsDir, 'latest.md'), md);
  // The chart is drawn from the JSON just written, so it can be redrawn from any results file.
  const fromJson = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as BenchResults;
  fs.writeFileSync(path.join(resultsDir, 'latest.svg'), svgChart(fromJson));
  // A complete full run also refreshes the results block of bench/README.md.
  if (!quick && !only) refreshReadme(md);
  fs.rmSync(tmp, { recursive: true, force: true });

  console.log(stdoutTable(results));
  for (const text of sections) console.log(`\n${text}`);
  console.log('');
  console.log(
    `wrote ${path.relative(process.cwd(), `${base}.json`)}, ${path.relative(process.cwd(), `${base}.md`)}, bench/results/latest.md, bench/results/latest.svg`,
  );
  console.log(
    `time: ${timings.total} s (${Object.entries(timings)
      .filter(([n]) => !n.startsWith('group ') && n !== 'total')
      .map(([n, s]) => `${n} ${s} s`)
      .join(', ')})`,
  );
  await sleep(10);
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await killAll(1000);
    process.exit(1);
  },
);
