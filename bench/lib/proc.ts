/**
 * Child processes of a bench run, and what /proc tells about them. Every process the bench starts
 * is registered here and killed (by its pid, never by name) when the run ends, even on error.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import { eventually } from '../../test/support/net.js';

const tracked = new Set<ChildProcess>();

export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  child.once('error', () => tracked.delete(child));
  return child;
}

/** Kills every process still running: SIGTERM, then SIGKILL after `graceMs`. */
export async function killAll(graceMs = 3000): Promise<void> {
  await Promise.all([...tracked].map((child) => stopProcess(child, graceMs)));
}

function killSync(): void {
  for (const child of tracked) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

let installed = false;
/** On exit or a signal, nothing the bench started may survive it. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}: stopping every process it started\n`);
      void killAll(1000).finally(() => process.exit(130));
    });
  }
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (!isRunning(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL. */
export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (!isRunning(child) || child.pid === undefined) return;
  child.kill('SIGTERM');
  if (await waitExit(child, graceMs)) return;
  child.kill('SIGKILL');
  await waitExit(child, 2000);
}

/** Collects a child's output; `lines` gets each complete stdout line. */
export function collectOutput(child: ChildProcess, onLine?: (line: string) => void): { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  let partial = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    out += chunk;
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
    if (onLine) {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    }
  });
  child.stderr?.on('data', (chunk: string) => {
    err += chunk;
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  return { stdout: () => out, stderr: () => err };
}

/** Resolves when the child prints a line starting with `marker`; rejects when it exits first. */
export function waitForLine(child: ChildProcess, marker: string, timeoutMs: number, output?: { stderr: () => string }): Promise<string> {
  return new Promise((resolve, reject) => {
    let partial = '';
    const timer = setTimeout(() => finish(new Error(`no "${marker}" within ${timeoutMs} ms${tail(output)}`)), timeoutMs);
    const onData = (chunk: Buffer | string): void => {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      const line = lines.find((l) => l.startsWith(marker));
      if (line !== undefined) finish(undefined, line.slice(marker.length).trim());
    };
    const onExit = (code: number | null): void => finish(new Error(`exited (code ${code}) before "${marker}"${tail(output)}`));
    const finish = (error?: Error, line?: string): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(line ?? '');
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

function tail(output?: { stderr: () => string }): string {
  const text = output?.stderr().trim();
  return text ? `: ${text.split('\n').slice(-6).join(' | ').slice(0, 800)}` : '';
}

/** Runs a child to completion and parses the JSON after its `BENCH_RESULT ` line. */
export async function runForResult<T>(command: string, args: readonly string[], timeoutMs: number, options: SpawnOptions = {}): Promise<T> {
  const child = spawnTracked(command, args, options);
  const output = collectOutput(child);
  const exited = await waitExit(child, timeoutMs);
  if (!exited) {
    await stopProcess(child, 1000);
    throw new Error(`${args[0] ?? command} did not finish within ${timeoutMs} ms${tail(output)}`);
  }
  const line = output
    .stdout()
    .split('\n')
    .find((l) => l.startsWith('BENCH_RESULT '));
  if (line === undefined) throw new Error(`${args[0] ?? command} printed no result (exit ${child.exitCode})${tail(output)}`);
  return JSON.parse(line.slice('BENCH_RESULT '.length)) as T;
}

let ticksPerSecond: number | undefined;
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces; the fields after it start at index 3 (state) of the man page.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime + stime of one process, in seconds (undefined when it is gone). */
export function cpuSeconds(pid: number): number | undefined {
  const f = statFields(pid);
  if (!f) return undefined;
  return (Number(f[11]) + Number(f[12])) / clockTicks();
}

/** CPU seconds of this process's children that have exited and been reaped (cutime + cstime). */
export function reapedChildrenCpuSeconds(): number {
  const f = statFields('self')!;
  return (Number(f[13]) + Number(f[14])) / clockTicks();
}

/** CPU seconds the whole machine spent busy (all CPUs, everything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
  return busy / clockTicks();
}

/** Every descendant of pid (children first), from /proc/<pid>/stat ppid fields. */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f) parentOf.set(Number(entry), Number(f[1]));
  }
  const result: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift()!;
    for (const [child, parent] of parentOf) {
      if (parent === current) {
        result.push(child);
        queue.push(child);
      }
    }
  }
  return result;
}

export interface MemoryStatus {
  /** Resident set now, MB. */
  readonly rssMb: number;
  /** Peak resident set (VmHWM), MB. */
  readonly hwmMb: number;
}

export function memoryStatus(pid: number): MemoryStatus | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/**
 * Polls `check` (a rejection counts as "not yet") until it resolves true, while `alive` runs.
 * `what` may be a function so that a failure can quote what the process printed by then.
 */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string | (() => string), alive?: ChildProcess): Promise<void> {
  const describe = (): string => (typeof what === 'string' ? what : what());
  try {
    await eventually(
      async () => {
        if (alive && !isRunning(alive)) throw new Error(`the process exited (code ${alive.exitCode})`);
        return check().catch(() => false);
      },
      timeoutMs,
      'it',
      100,
    );
  } catch (error) {
    throw new Error(`${describe()}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
