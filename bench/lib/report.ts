/**
 * Result shapes, target evaluation, and the three renderings of one run: the stdout table, the
 * markdown report and the SVG chart (written by hand from the JSON, no chart library).
 */
import type { RouteCountResult } from '../routes.js';
import type { StageSplit } from './stages.js';
import type { B2Output, BrokerName, CaseMode, OpenLoopOutput, Phases, WrkSummary } from './types.js';

export interface HttpMeasurement {
  readonly warm?: WrkSummary;
  readonly capacity: WrkSummary;
  /** Server CPU (utime + stime of every server process) over the capacity run, per request. */
  readonly serverCpuSecondsPerRequest: number;
  readonly serverCpuShareOfOneCore: number;
  /** Busy CPU of the whole machine during the capacity run minus server and wrk: other tenants. */
  readonly otherLoadCores: number;
  readonly open50: OpenLoopOutput;
  readonly open80: OpenLoopOutput;
  /** VmHWM after the 50-connection runs. */
  readonly peakRssMb: number;
  readonly at500?: { readonly wrk: WrkSummary; readonly maxRssMb: number; readonly hwmMb: number };
}

export interface BaselineResult {
  readonly label: 'B0' | 'B1';
  readonly description: string;
  readonly runs: readonly HttpMeasurement[];
  /** Mean over the runs (full runs measure each baseline at the start and at the end). */
  readonly capacity: number;
  readonly p99At50Ms: number;
}

export interface CaseResult {
  readonly id: string;
  readonly broker: BrokerName;
  readonly mode: CaseMode;
  readonly path: string;
  readonly destination: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  sanity?: { readonly status: number; readonly body: string };
  router?: HttpMeasurement;
  b2?: B2Output;
  b2Error?: string;
  /** B1 measured right before this case (full runs). */
  adjacentB1?: { readonly rate: number; readonly cpuSecondsPerRequest: number; readonly otherLoadCores: number };
  ratios?: {
    readonly vsB1: number;
    readonly vsB0: number;
    readonly vsB2: number | undefined;
    /** Against the B1 run right before this case. */
    readonly vsAdjacentB1: number | undefined;
    /** B1 CPU per request / daemon CPU per request: the capacity ratio if both were CPU-bound on one core. */
    readonly cpuVsB1: number | undefined;
    /** Against the composed limit 1 / (1/B0 + 1/B2): bare HTTP serving and the broker client alone, one after the other. */
    readonly vsComposed: number | undefined;
  };
}

export interface ClusterSide {
  readonly rate: number;
  readonly non2xx: number;
  readonly serverCpuShareOfOneCore: number;
  readonly wrkCpuShareOfOneCore: number;
  readonly otherLoadCores: number;
  readonly processes: number;
}

export interface ClusterResult {
  readonly id: string;
  single?: ClusterSide;
  double?: ClusterSide;
  ratio?: number;
  error?: string;
}

export interface TargetResult {
  readonly target: string;
  readonly caseId: string;
  readonly value: number | undefined;
  readonly limit: number | undefined;
  readonly pass: boolean | undefined;
  readonly detail: string;
  readonly stretch?: boolean;
}

export interface BenchResults {
  readonly kind: 'quick' | 'full';
  readonly date: string;
  readonly meta: Record<string, unknown>;
  readonly phases: Phases;
  readonly baselines: { B0?: BaselineResult; B1?: BaselineResult };
  readonly cases: CaseResult[];
  readonly cluster: ClusterResult[];
  targets: TargetResult[];
  readonly profiles: Array<{ readonly caseId: string; readonly file: string; readonly top: readonly string[] }>;
  readonly timings: Record<string, number>;
  readonly notes: string[];
  /** `routes` section: the same route with 1, 100 and 10,000 routes in the file (bench/routes.ts). */
  routes?: RouteCountResult;
  /** `stages` section: the memory route's CPU per request by stage, from a profile (bench/lib/stages.ts). */
  stages?: StageSplit;
}

const r2 = (v: number): number => Math.round(v * 100) / 100;

/**
 * What a daemon doing both jobs one after the other could reach at best: serve the HTTP request
 * as bare node:http does (B0) and make the broker call as the client alone does (B2).
 */
export const composedLimit = (b0: number, b2: number): number => 1 / (1 / b0 + 1 / b2);

export function computeRatios(results: BenchResults): void {
  const b0 = results.baselines.B0?.capacity;
  const b1 = results.baselines.B1?.capacity;
  for (const c of results.cases) {
    if (!c.router || b0 === undefined || b1 === undefined) continue;
    const rate = c.router.capacity.rate;
    const b2 = c.b2?.capacity.rate;
    const b1Cpu = results.baselines.B1!.runs.reduce((a, run) => a + run.serverCpuSecondsPerRequest, 0) / results.baselines.B1!.runs.length;
    c.ratios = {
      vsB1: r2(rate / b1),
      vsB0: r2(rate / b0),
      vsB2: b2 ? r2(rate / b2) : undefined,
      vsAdjacentB1: c.adjacentB1 ? r2(rate / c.adjacentB1.rate) : undefined,
      cpuVsB1: c.router.serverCpuSecondsPerRequest > 0 ? r2(b1Cpu / c.router.serverCpuSecondsPerRequest) : undefined,
      vsComposed: b2 ? r2(rate / composedLimit(b0, b2)) : undefined,
    };
  }
}

export function evaluateTargets(results: BenchResults): TargetResult[] {
  const targets: TargetResult[] = [];
  const b0 = results.baselines.B0;
  const b1 = results.baselines.B1;
  const find = (id: string): CaseResult | undefined => results.cases.find((c) => c.id === id);
  const capacity = (id: string, factor: number, base: BaselineResult | undefined, stretch = false): void => {
    const c = find(id);
    if (!c) return;
    const paired = !stretch && c.ratios?.vsAdjacentB1 !== undefined;
    const value = c.router && base ? (paired ? c.ratios!.vsAdjacentB1 : r2(c.router.capacity.rate / base.capacity)) : undefined;
    const others =
      c.router && base
        ? `; run-level ${base.label} ${base.capacity} req/s gives x${r2(c.router.capacity.rate / base.capacity)}; CPU per request x${c.ratios?.cpuVsB1 ?? '-'} of B1's`
        : '';
    targets.push({
      target: `capacity >= ${factor} x ${base?.label ?? (stretch ? 'B0' : 'B1')}${paired ? ' (paired B1 run)' : ''}`,
      caseId: id,
      value,
      limit: factor,
      pass: value === undefined ? undefined : value >= factor,
      detail:
        c.router && base
          ? `${c.router.capacity.rate} req/s vs ${paired ? `the B1 run just before, ${c.adjacentB1!.rate}` : `${base.label} ${base.capacity}`} req/s${others}`
          : (c.reason ?? 'not measured'),
      ...(stretch ? { stretch } : {}),
    });
  };
  capacity('nats/pubsub', 0.8, b1);
  for (const id of ['rabbitmq/pubsub', 'rabbitmq/point-to-point', 'kafka/pubsub', 'kafka/point-to-point']) capacity(id, 0.6, b1);
  targets.push(...issue15Targets(results));
  capacity('nats/pubsub', 0.5, b0, true);
  return targets;
}

const notMeasured = (target: string, caseId: string, detail: string): TargetResult => ({
  target,
  caseId,
  value: undefined,
  limit: undefined,
  pass: undefined,
  detail,
});

/**
 * Issue 15's targets, every one a ratio from this run: the memory route against bare node:http,
 * every case against its composed limit, the tail against B0's and B2's own tails, Kafka
 * request-reply against Kafka pubsub, RSS at 500 connections, and WORKERS=2 on the memory route.
 */
function issue15Targets(results: BenchResults): TargetResult[] {
  const targets: TargetResult[] = [];
  const b0 = results.baselines.B0;
  const find = (id: string): CaseResult | undefined => results.cases.find((c) => c.id === id);

  const memory = find('memory/pubsub');
  if (memory) {
    const target = 'capacity >= 0.8 x B0 (hot path, one worker)';
    if (!memory.router || !b0) targets.push(notMeasured(target, memory.id, memory.reason ?? 'not measured'));
    else {
      const value = r2(memory.router.capacity.rate / b0.capacity);
      targets.push({
        target,
        caseId: memory.id,
        value,
        limit: 0.8,
        pass: value >= 0.8,
        detail: `${memory.router.capacity.rate} req/s vs B0 ${b0.capacity} req/s`,
      });
    }
  }

  for (const c of results.cases) {
    const target = 'capacity >= 0.8 x composed limit 1/(1/B0 + 1/B2)';
    const b2 = c.b2?.capacity.rate;
    if (!c.router || !b0 || !b2) {
      targets.push(notMeasured(target, c.id, c.reason ?? c.b2Error ?? 'not measured'));
      continue;
    }
    const limit = composedLimit(b0.capacity, b2);
    const value = r2(c.router.capacity.rate / limit);
    targets.push({
      target,
      caseId: c.id,
      value,
      limit: 0.8,
      pass: value >= 0.8,
      detail: `${c.router.capacity.rate} req/s vs ${Math.round(limit)} (B0 ${b0.capacity}, B2 ${b2})`,
    });
  }

  for (const c of results.cases) {
    const target = 'p99@50% <= 1.3 x (B0 p99 + B2 p99)';
    const b2p99 = c.b2?.open50.latency.p99Ms;
    if (c.status !== 'ok' || !c.router || !b0 || b2p99 === undefined) {
      targets.push(notMeasured(target, c.id, c.reason ?? c.b2Error ?? 'not measured'));
      continue;
    }
    const limit = r2(1.3 * (b0.p99At50Ms + b2p99));
    const value = r2(c.router.open50.latency.p99Ms);
    targets.push({ target, caseId: c.id, value, limit, pass: value <= limit, detail: `router ${value} ms; B0 ${r2(b0.p99At50Ms)} ms + B2 ${r2(b2p99)} ms` });
  }

  const kafkaPubsub = find('kafka/pubsub');
  const kafkaRequests = find('kafka/request-reply');
  if (kafkaPubsub && kafkaRequests) {
    const target = 'Kafka request-reply capacity >= 0.6 x Kafka pubsub';
    if (!kafkaPubsub.router || !kafkaRequests.router)
      targets.push(notMeasured(target, kafkaRequests.id, kafkaRequests.reason ?? kafkaPubsub.reason ?? 'not measured'));
    else {
      const value = r2(kafkaRequests.router.capacity.rate / kafkaPubsub.router.capacity.rate);
      targets.push({
        target,
        caseId: kafkaRequests.id,
        value,
        limit: 0.6,
        pass: value >= 0.6,
        detail: `${kafkaRequests.router.capacity.rate} req/s vs kafka/pubsub ${kafkaPubsub.router.capacity.rate} req/s; the client alone (B2) ${kafkaRequests.b2?.capacity.rate ?? '-'} round trips/s`,
      });
    }
  }

  for (const c of results.cases) {
    const target = 'RSS <= 100 MB at 500 connections';
    const at500 = c.router?.at500;
    if (!at500) {
      targets.push(
        notMeasured(
          target,
          c.id,
          c.router
            ? `quick run: one daemon serves every ${c.broker} mode and RSS at 500 connections is read once, with its first route`
            : (c.reason ?? 'not measured'),
        ),
      );
      continue;
    }
    targets.push({
      target,
      caseId: c.id,
      value: r2(at500.hwmMb),
      limit: 100,
      pass: at500.hwmMb <= 100,
      detail: `VmHWM ${r2(at500.hwmMb)} MB (largest RSS sampled ${r2(at500.maxRssMb)} MB), ${at500.wrk.rate} req/s at 500 connections`,
    });
  }

  const memoryCluster = results.cluster.find((c) => c.id === 'memory/pubsub');
  if (memoryCluster) {
    const target = 'WORKERS=2 capacity >= 1.8 x one worker';
    if (memoryCluster.ratio === undefined) targets.push(notMeasured(target, memoryCluster.id, memoryCluster.error ?? 'not measured'));
    else
      targets.push({
        target,
        caseId: memoryCluster.id,
        value: memoryCluster.ratio,
        limit: 1.8,
        pass: memoryCluster.ratio >= 1.8,
        detail: `${memoryCluster.single?.rate ?? '-'} -> ${memoryCluster.double?.rate ?? '-'} req/s`,
      });
  }
  return targets;
}

const verdict = (t: TargetResult): string => (t.pass === undefined ? 'n/a ' : t.pass ? 'PASS' : 'MISS');
const fmt = (v: number | undefined, digits = 1): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));
const k = (v: number | undefined): string => (v === undefined ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : String(Math.round(v)));

export function stdoutTable(results: BenchResults): string {
  const lines: string[] = [];
  const b0 = results.baselines.B0;
  const b1 = results.baselines.B1;
  lines.push(`busgate bench (${results.kind}) ${results.date}`);
  lines.push(
    `baselines: B0 node:http ${k(b0?.capacity)} req/s (p99@50% ${fmt(b0?.p99At50Ms, 2)} ms), B1 express ${k(b1?.capacity)} req/s (p99@50% ${fmt(b1?.p99At50Ms, 2)} ms)`,
  );
  const head = [
    'case',
    'req/s',
    'xB1',
    'xB1adj',
    'CPU xB1',
    'xB0',
    'xB2',
    'xLimit',
    'B2 req/s',
    'p50@50%',
    'p90@50%',
    'p99@50%',
    'p99@80%',
    'B2 p99@50%',
    'non2xx',
    'CPU us/req',
    'RSS MB',
    'RSS@500',
    'rest',
  ];
  const rows: string[][] = [head];
  for (const c of results.cases) {
    if (!c.router) {
      rows.push([c.id, c.status, (c.reason ?? '').slice(0, 90)]);
      continue;
    }
    const rt = c.router;
    rows.push([
      c.id,
      k(rt.capacity.rate),
      fmt(c.ratios?.vsB1, 2),
      fmt(c.ratios?.vsAdjacentB1, 2),
      fmt(c.ratios?.cpuVsB1, 2),
      fmt(c.ratios?.vsB0, 2),
      fmt(c.ratios?.vsB2, 2),
      fmt(c.ratios?.vsComposed, 2),
      k(c.b2?.capacity.rate),
      fmt(rt.open50.latency.p50Ms, 2),
      fmt(rt.open50.latency.p90Ms, 2),
      fmt(rt.open50.latency.p99Ms, 2),
      fmt(rt.open80.latency.p99Ms, 2),
      fmt(c.b2?.open50.latency.p99Ms, 2),
      String(rt.capacity.non2xx + rt.open50.failed + rt.open80.failed + (rt.at500?.wrk.non2xx ?? 0)),
      fmt(rt.serverCpuSecondsPerRequest * 1e6, 0),
      fmt(rt.peakRssMb, 0),
      fmt(rt.at500?.hwmMb, 0),
      fmt(rt.otherLoadCores, 2),
    ]);
  }
  const full = rows.filter((r) => r.length === head.length);
  const widths = head.map((_, i) => Math.max(...full.map((r) => (r[i] ?? '').length)));
  for (const row of rows) {
    if (row.length !== head.length) lines.push(`${row[0]!.padEnd(widths[0]!)}  ${row.slice(1).join(': ')}`);
    else lines.push(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
  }
  lines.push(
    "(xB1adj: vs a B1 run right before the case; CPU xB1: B1 CPU/request divided by the daemon's; xLimit: vs the composed limit 1/(1/B0 + 1/B2); rest: cores used by every other process during the capacity run: broker server, consumer, other tenants of the box)",
  );
  lines.push('');
  lines.push('targets:');
  for (const t of results.targets) {
    lines.push(
      `  ${verdict(t)}  ${t.caseId.padEnd(24)} ${t.target}${t.stretch ? ' (stretch)' : ''}: ${t.value ?? '-'}${t.limit !== undefined ? ` (limit ${t.limit})` : ''}  ${t.detail}`,
    );
  }
  if (results.cluster.length > 0) {
    lines.push('');
    lines.push('scaling out (node:cluster, 2 workers behind one port, vs 1 daemon):');
    for (const c of results.cluster) {
      lines.push(
        c.error
          ? `  ${c.id}: ${c.error}`
          : `  ${c.id}: 1 daemon ${k(c.single?.rate)} req/s (daemon CPU ${fmt(c.single?.serverCpuShareOfOneCore, 2)} cores, wrk ${fmt(c.single?.wrkCpuShareOfOneCore, 2)}, rest ${fmt(c.single?.otherLoadCores, 2)}) -> 2 workers ${k(c.double?.rate)} req/s (daemons ${fmt(c.double?.serverCpuShareOfOneCore, 2)} cores, wrk ${fmt(c.double?.wrkCpuShareOfOneCore, 2)}, rest ${fmt(c.double?.otherLoadCores, 2)}): x${fmt(c.ratio, 2)}`,
      );
    }
  }
  return lines.join('\n');
}

export function markdown(results: BenchResults): string {
  const m = results.meta as {
    machine?: { nproc?: number; cpu?: string; memoryGb?: number; kernel?: string };
    versions?: Record<string, string>;
    brokers?: Record<string, string>;
  };
  const b0 = results.baselines.B0;
  const b1 = results.baselines.B1;
  const out: string[] = [];
  out.push(`### busgate bench, ${results.kind} run, ${results.date}`);
  out.push('');
  out.push(
    `Machine: ${m.machine?.nproc ?? '?'} CPUs (${m.machine?.cpu ?? '?'}), ${m.machine?.memoryGb ?? '?'} GB, Linux ${m.machine?.kernel ?? '?'}. ` +
      `Versions: ${Object.entries(m.versions ?? {})
        .map(([n, v]) => `${n} ${v}`)
        .join(', ')}. ` +
      `Brokers: ${Object.entries(m.brokers ?? {})
        .map(([n, v]) => `${n} ${v}`)
        .join(', ')}.`,
  );
  const p = results.phases;
  out.push('');
  out.push(
    `Load: closed loop with wrk (1 thread, 50 connections, ${p.capacityS} s after ${p.warmS} s warm-up; then 500 connections for ${p.rssS} s to read RSS); ` +
      `latency with the bench's open-loop generator at 50% and 80% of each target's own capacity (${p.openMs / 1000} s each, 50 connections, latency from the intended send time). ` +
      `256-byte JSON body, all on 127.0.0.1. B2 runs in-process at 50 concurrent callers (${p.b2CapacityMs / 1000} s capacity, ${p.b2OpenMs / 1000} s per latency point).`,
  );
  out.push('');
  out.push(
    '| baseline | req/s | p50 @50% | p99 @50% | p99 @80% | CPU µs/req | wrk CPU (cores) | open-loop generator CPU @80% (cores) | peak RSS MB | RSS @500 MB | rest of box (cores) |',
  );
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const b of [b0, b1]) {
    if (!b) continue;
    const last = b.runs[b.runs.length - 1]!;
    const runs = b.runs.length > 1 ? ` (runs: ${b.runs.map((r) => r.capacity.rate).join(', ')})` : '';
    out.push(
      `| ${b.label} ${b.description} | ${b.capacity}${runs} | ${fmt(last.open50.latency.p50Ms, 2)} | ${fmt(b.p99At50Ms, 2)} | ${fmt(last.open80.latency.p99Ms, 2)} | ${fmt(last.serverCpuSecondsPerRequest * 1e6, 0)} | ${fmt(last.capacity.cpuShareOfOneCore, 2)} | ${fmt(last.open80.generator.cpuShareOfOneCore, 2)} | ${fmt(last.peakRssMb, 0)} | ${fmt(last.at500?.hwmMb, 0)} | ${fmt(last.otherLoadCores, 2)} |`,
    );
  }
  out.push('');
  out.push(
    '| broker / mode | req/s | ×B1 | ×B1 paired | CPU ×B1 | ×B0 | ×B2 | ×limit | B2 ops/s | p50 / p90 / p99 @50% (ms) | p50 / p90 / p99 @80% (ms) | B2 p99 @50% | non-2xx | daemon CPU µs/req | peak RSS MB | RSS @500 conns MB | rest of box (cores) |',
  );
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of results.cases) {
    if (!c.router) {
      out.push(`| ${c.id} | ${c.status}: ${(c.reason ?? '').replace(/\|/g, '/')} |||||||||||||||`);
      continue;
    }
    const rt = c.router;
    const l50 = rt.open50.latency;
    const l80 = rt.open80.latency;
    const errors = rt.capacity.non2xx + rt.open50.failed + rt.open80.failed + (rt.at500?.wrk.non2xx ?? 0);
    out.push(
      `| ${c.id} | ${rt.capacity.rate} | ${fmt(c.ratios?.vsB1, 2)} | ${fmt(c.ratios?.vsAdjacentB1, 2)} | ${fmt(c.ratios?.cpuVsB1, 2)} | ${fmt(c.ratios?.vsB0, 2)} | ${fmt(c.ratios?.vsB2, 2)} | ${fmt(c.ratios?.vsComposed, 2)} | ${c.b2?.capacity.rate ?? '-'} | ` +
        `${fmt(l50.p50Ms, 2)} / ${fmt(l50.p90Ms, 2)} / ${fmt(l50.p99Ms, 2)} | ${fmt(l80.p50Ms, 2)} / ${fmt(l80.p90Ms, 2)} / ${fmt(l80.p99Ms, 2)} | ${fmt(c.b2?.open50.latency.p99Ms, 2)} | ` +
        `${errors} | ${fmt(rt.serverCpuSecondsPerRequest * 1e6, 0)} | ${fmt(rt.peakRssMb, 0)} | ${fmt(rt.at500?.hwmMb, 0)} | ${fmt(rt.otherLoadCores, 2)} |`,
    );
  }
  out.push('');
  out.push('| target | case | value | limit | result |');
  out.push('|---|---|---:|---:|---|');
  for (const t of results.targets) {
    out.push(`| ${t.target}${t.stretch ? ' (stretch)' : ''} | ${t.caseId} | ${t.value ?? '-'} | ${t.limit ?? '-'} | ${verdict(t).trim()} |`);
  }
  if (results.cluster.length > 0) {
    out.push('');
    out.push(
      '| scaling out (node:cluster, 2 workers, one port) | 1 daemon req/s | 2 workers req/s | ratio | daemon CPU (cores) 1 → 2 | wrk CPU (cores) 1 → 2 | rest of box (cores) 1 → 2 |',
    );
    out.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const c of results.cluster) {
      if (c.error) out.push(`| ${c.id} | ${c.error} ||||||`);
      else
        out.push(
          `| ${c.id} | ${c.single?.rate} | ${c.double?.rate} | ${fmt(c.ratio, 2)} | ${fmt(c.single?.serverCpuShareOfOneCore, 2)} → ${fmt(c.double?.serverCpuShareOfOneCore, 2)} | ${fmt(c.single?.wrkCpuShareOfOneCore, 2)} → ${fmt(c.double?.wrkCpuShareOfOneCore, 2)} | ${fmt(c.single?.otherLoadCores, 2)} → ${fmt(c.double?.otherLoadCores, 2)} |`,
        );
    }
  }
  if (results.profiles.length > 0) {
    out.push('');
    out.push('Profiles of missed targets (top self-time frames; full lists in the files):');
    for (const prof of results.profiles) out.push(`- ${prof.caseId} (\`${prof.file}\`): ${prof.top.join('; ')}`);
  }
  if (results.notes.length > 0) {
    out.push('');
    for (const note of results.notes) out.push(`- ${note}`);
  }
  out.push('');
  return out.join('\n');
}

const COLOURS: Record<string, string> = { memory: '#8c8c8c', nats: '#2e7d32', rabbitmq: '#ef6c00', kafka: '#1565c0' };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Bars of router capacity per broker x mode, B2 as a marker per bar, B0 and B1 as lines. */
export function svgChart(results: BenchResults): string {
  const cases = results.cases.filter((c) => c.router);
  const b0 = results.baselines.B0?.capacity ?? 0;
  const b1 = results.baselines.B1?.capacity ?? 0;
  const barW = 44;
  const gap = 22;
  const left = 70;
  const top = 50;
  const plotH = 300;
  const width = Math.max(560, left + cases.length * (barW + gap) + 150);
  const height = top + plotH + 150;
  const maxValue = Math.max(b0, b1, ...cases.map((c) => c.router!.capacity.rate), 1) * 1.1;
  const y = (v: number): number => top + plotH - (Math.min(v, maxValue) / maxValue) * plotH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(
    `<text x="${left}" y="22" font-size="15" font-weight="bold">busgate capacity per broker × mode (req/s, ${results.kind} run ${escapeXml(results.date)})</text>`,
  );
  parts.push(
    `<text x="${left}" y="38" fill="#555">closed loop, 50 connections; lines: B0 bare node:http, B1 bare express; diamonds: B2 broker client alone</text>`,
  );
  const step = niceStep(maxValue / 5);
  for (let v = 0; v <= maxValue; v += step) {
    parts.push(`<line x1="${left}" x2="${width - 140}" y1="${y(v)}" y2="${y(v)}" stroke="#e0e0e0"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${k(v)}</text>`);
  }
  cases.forEach((c, i) => {
    const x = left + gap / 2 + i * (barW + gap);
    const rate = c.router!.capacity.rate;
    parts.push(
      `<rect x="${x}" y="${y(rate)}" width="${barW}" height="${top + plotH - y(rate)}" fill="${COLOURS[c.broker] ?? '#777'}"><title>${escapeXml(c.id)}: ${rate} req/s</title></rect>`,
    );
    parts.push(`<text x="${x + barW / 2}" y="${y(rate) - 4}" text-anchor="middle" font-size="10">${k(rate)}</text>`);
    const b2 = c.b2?.capacity.rate;
    if (b2 !== undefined) {
      const cx = x + barW / 2;
      if (b2 <= maxValue) {
        const cy = y(b2);
        parts.push(
          `<path d="M ${cx} ${cy - 5} L ${cx + 5} ${cy} L ${cx} ${cy + 5} L ${cx - 5} ${cy} Z" fill="none" stroke="#000" stroke-width="1.5"><title>B2 ${b2} req/s</title></path>`,
        );
      } else {
        parts.push(`<text x="${cx}" y="${top - 2}" text-anchor="middle" font-size="9" fill="#000">B2 ${k(b2)}↑</text>`);
      }
    }
    const lx = x + barW / 2;
    const ly = top + plotH + 10;
    parts.push(`<text x="${lx}" y="${ly}" transform="rotate(40 ${lx} ${ly})" font-size="11">${escapeXml(c.id)}</text>`);
  });
  for (const [label, value, colour] of [
    ['B0 node:http', b0, '#c62828'],
    ['B1 express', b1, '#6a1b9a'],
  ] as const) {
    if (!value) continue;
    parts.push(`<line x1="${left}" x2="${width - 140}" y1="${y(value)}" y2="${y(value)}" stroke="${colour}" stroke-width="2" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${width - 136}" y="${y(value) + 4}" fill="${colour}">${label} ${k(value)}</text>`);
  }
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`);
  parts.push(`<line x1="${left}" x2="${width - 140}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(Math.max(1, raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * power) return m * power;
  return 10 * power;
}
