/**
 * Closed-loop load with wrk (Debian's package): a fixed number of keep-alive connections, each
 * sending its next request as soon as the previous answer arrived; no pipelining. A Lua script
 * sets method, body and headers and prints a JSON summary. wrk's own CPU time is read from this
 * process's reaped-children counters (cutime + cstime) around the run.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { collectOutput, reapedChildrenCpuSeconds, spawnTracked, stopProcess, waitExit } from './proc.js';
import type { WrkSummary } from './types.js';

export function wrkVersion(): string | undefined {
  try {
    const out = execFileSync('wrk', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n')[0]?.trim();
  } catch (error) {
    // wrk -v exits 1 after printing its version
    const out = (error as { stdout?: string }).stdout;
    if (typeof out === 'string' && out.startsWith('wrk')) return out.split('\n')[0]!.trim();
    return undefined;
  }
}

export function writeWrkScript(dir: string, body: string, headers: Record<string, string>): string {
  if (body.includes(']==]')) throw new Error('bench body must not contain ]==]');
  const lines = ['wrk.method = "POST"', `wrk.body = [==[${body}]==]`];
  for (const [name, value] of Object.entries(headers)) lines.push(`wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`);
  lines.push(
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format("BENCHJSON {\\"requests\\":%.0f,\\"duration_us\\":%.0f,\\"connect\\":%.0f,\\"read\\":%.0f,\\"write\\":%.0f,\\"status\\":%.0f,\\"timeout\\":%.0f,\\"p50\\":%.0f,\\"p90\\":%.0f,\\"p99\\":%.0f,\\"max\\":%.0f}\\n",',
    '    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,',
    '    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))',
    'end',
    '',
  );
  const file = path.join(dir, 'post.lua');
  fs.writeFileSync(file, lines.join('\n'));
  return file;
}

export interface WrkRun {
  readonly url: string;
  readonly connections: number;
  readonly durationS: number;
  readonly script: string;
  /** Called every `sampleMs` while wrk runs (e.g. to sample the server's RSS). */
  readonly onSample?: () => void;
  readonly sampleMs?: number;
}

export async function runWrk(run: WrkRun): Promise<WrkSummary> {
  const durationS = Math.max(1, Math.round(run.durationS));
  const threads = 1; // one thread keeps wrk at most one core of the two; it easily drives 500 connections
  const cpuBefore = reapedChildrenCpuSeconds();
  const child = spawnTracked('wrk', [`-t${threads}`, `-c${run.connections}`, `-d${durationS}s`, '--timeout', '10s', '-s', run.script, run.url]);
  const output = collectOutput(child);
  const sampler = run.onSample ? setInterval(run.onSample, run.sampleMs ?? 200) : undefined;
  const exited = await waitExit(child, (durationS + 30) * 1000);
  if (sampler) clearInterval(sampler);
  if (!exited) {
    await stopProcess(child, 1000);
    throw new Error('wrk did not finish in time');
  }
  const cpuSeconds = reapedChildrenCpuSeconds() - cpuBefore;
  const line = output
    .stdout()
    .split('\n')
    .find((l) => l.startsWith('BENCHJSON '));
  if (line === undefined) throw new Error(`wrk printed no summary: ${output.stderr().slice(0, 400)} ${output.stdout().slice(0, 400)}`);
  const raw = JSON.parse(line.slice('BENCHJSON '.length)) as Record<string, number>;
  const seconds = raw.duration_us! / 1e6;
  return {
    requests: raw.requests!,
    durationS: Math.round(seconds * 1000) / 1000,
    rate: Math.round(raw.requests! / seconds),
    non2xx: raw.status!,
    socketErrors: raw.connect! + raw.read! + raw.write! + raw.timeout!,
    latency: { p50Ms: raw.p50! / 1000, p90Ms: raw.p90! / 1000, p99Ms: raw.p99! / 1000, maxMs: raw.max! / 1000 },
    cpuSeconds: Math.round(cpuSeconds * 100) / 100,
    cpuShareOfOneCore: Math.round((cpuSeconds / seconds) * 100) / 100,
  };
}
