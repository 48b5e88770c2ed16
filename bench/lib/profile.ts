/**
 * Reads a V8 .cpuprofile (written by `node --cpu-prof`) and summarises where the CPU went: self
 * time per function, and per component (express, prom-client, a broker client, busgate core, node's
 * own http/net/stream internals, GC). Self time of a sample = the time delta up to the next sample.
 */
import fs from 'node:fs';

export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

export interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly startTime: number;
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface FrameCost {
  readonly frame: string;
  readonly component: string;
  readonly ms: number;
  readonly share: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly busyMs: number;
  readonly topFrames: readonly FrameCost[];
  /** busgate's own functions by inclusive time (themselves and everything they call). */
  readonly busgateInclusive: readonly FrameCost[];
  readonly components: ReadonlyArray<{ readonly component: string; readonly ms: number; readonly share: number }>;
}

export function componentOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(program)') return 'native (program)';
    return `native ${functionName || '(anonymous)'}`;
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) {
    const name = url.slice(5);
    if (/http|_http/.test(name)) return 'node http';
    if (/net|stream|tcp|buffer|events/.test(name)) return 'node net/stream/events';
    if (/timers|async_hooks|task_queues|process/.test(name)) return 'node timers/microtasks';
    return 'node other';
  }
  const dist = /\/dist\/(core|plugins|bench)\/([^/]+)/.exec(url);
  if (dist) return dist[1] === 'plugins' ? `busgate plugins/${dist[2]}` : `busgate ${dist[1]}/${dist[2]!.replace(/\.js$/, '')}`;
  return 'other';
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

/**
 * `window` (µs on the monotonic clock that process.hrtime and V8's profiler share) keeps only the
 * samples taken under load, leaving start-up (module loading, compiling) and shutdown out.
 */
export interface ProfileWindow {
  readonly fromUs: number;
  readonly toUs: number;
}

/** A profile's nodes, each node's parent, and the sampled self time per node (within `window`). */
export interface SampledProfile {
  readonly byId: ReadonlyMap<number, ProfileNode>;
  readonly parentOf: ReadonlyMap<number, number>;
  readonly selfUs: ReadonlyMap<number, number>;
}

export function readProfile(file: string, window?: ProfileWindow): SampledProfile {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  return { byId, parentOf, selfUs };
}

export function summariseProfile(file: string, top = 30, window?: ProfileWindow): ProfileSummary {
  const { byId, parentOf, selfUs } = readProfile(file, window);
  const frames = new Map<string, { component: string; us: number }>();
  const components = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const component = componentOf(frame);
    totalUs += us;
    if (component === '(idle)') {
      idleUs += us;
      continue;
    }
    const key = frame.url === '' ? frame.functionName : `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    const entry = frames.get(key) ?? { component, us: 0 };
    entry.us += us;
    frames.set(key, entry);
    components.set(component, (components.get(component) ?? 0) + us);
  }
  const busyUs = Math.max(1, totalUs - idleUs);
  // Inclusive time of busgate's own frames: each sample counts once for every distinct busgate
  // function on its stack.
  const inclusive = new Map<string, { component: string; us: number }>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parentOf.get(current)) {
      const frame = byId.get(current)!.callFrame;
      const component = componentOf(frame);
      if (!component.startsWith('busgate ')) continue;
      const key = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = inclusive.get(key) ?? { component, us: 0 };
      entry.us += us;
      inclusive.set(key, entry);
    }
  }
  const ms = (us: number): number => Math.round(us / 100) / 10;
  const share = (us: number): number => Math.round((us / busyUs) * 1000) / 10;
  return {
    totalMs: ms(totalUs),
    busyMs: ms(busyUs),
    topFrames: [...frames]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, top)
      .map(([frame, { component, us }]) => ({ frame, component, ms: ms(us), share: share(us) })),
    components: [...components].sort((a, b) => b[1] - a[1]).map(([component, us]) => ({ component, ms: ms(us), share: share(us) })),
    busgateInclusive: [...inclusive]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, 20)
      .map(([frame, { component, us }]) => ({ frame, component, ms: ms(us), share: share(us) })),
  };
}

export function formatProfile(title: string, summary: ProfileSummary, notes: readonly string[] = []): string {
  const lines = [
    title,
    ...notes,
    `sampled ${summary.totalMs} ms, busy (not idle) ${summary.busyMs} ms; shares below are of busy time`,
    '',
    'by component (self time; components under 0.2% left out):',
    ...summary.components.filter((c) => c.share >= 0.2).map((c) => `  ${c.share.toFixed(1).padStart(5)}%  ${c.ms.toFixed(1).padStart(9)} ms  ${c.component}`),
    '',
    `top ${summary.topFrames.length} frames by self time:`,
    ...summary.topFrames.map((f) => `  ${f.share.toFixed(1).padStart(5)}%  ${f.ms.toFixed(1).padStart(9)} ms  ${f.frame}  [${f.component}]`),
    '',
    'busgate functions by inclusive time (what they and their callees cost):',
    ...summary.busgateInclusive.map((f) => `  ${f.share.toFixed(1).padStart(5)}%  ${f.ms.toFixed(1).padStart(9)} ms  ${f.frame}`),
    '',
  ];
  return lines.join('\n');
}
