/**
 * Where each microsecond of a request goes: a CPU profile of the daemon under load, every sample
 * given to one stage of the request path, then scaled by the CPU the process really used per
 * request (the sampler counts wall time on the main thread, so shares are trusted, not its ms).
 *
 * A sample belongs to the innermost frame on its stack that names a stage: prom-client called from
 * the response's 'finish' listener is "metrics", node's writeHead/end down to the socket's writev
 * is "response write" (the rest of serve() after the broker answered is "receipt"), and
 * whatever no busgate or library frame claims (the event loop, socket reads, HTTP parsing up to the
 * request event) is "parse" when node's HTTP parser is on the stack, "event loop & I/O" otherwise.
 */
import { componentOf, readProfile, type CallFrame, type ProfileWindow } from './profile.js';

export const STAGES = [
  'parse',
  'route',
  'plan',
  'body',
  'broker call',
  'receipt',
  'response write',
  'metrics',
  'logging',
  'tracing',
  'GC',
  'event loop & I/O',
] as const;
export type Stage = (typeof STAGES)[number];

export interface StageSplit {
  readonly caseId: string;
  readonly requests: number;
  readonly cpuUsPerRequest: number;
  readonly stages: ReadonlyArray<{ readonly stage: Stage; readonly share: number; readonly usPerRequest: number }>;
  readonly loadAverage: readonly number[];
}

/** The busgate functions of core/http/ingress.js, by the stage they do. */
const INGRESS_FUNCTIONS: Readonly<Record<string, Stage>> = {
  handle: 'route',
  admit: 'plan',
  plan: 'plan',
  choose: 'plan',
  message: 'plan',
  optionsFor: 'plan',
  serve: 'receipt',
  deliver: 'receipt',
  observe: 'metrics',
};

/** node's response writing, from writeHead to the socket's writev. */
const RESPONSE_WRITE_FUNCTIONS = new Set([
  'writeHead',
  'end',
  '_send',
  '_writeRaw',
  '_flushOutput',
  '_storeHeader',
  'write_',
  'writeGeneric',
  'writevGeneric',
  'writev',
  'writeBuffer',
  'writeLatin1String',
  'writeUtf8String',
  '_writeGeneric',
  '_writev',
  '_write',
  'setHeader',
]);

const HTTP_PARSER_FUNCTIONS = new Set([
  'parserOnHeadersComplete',
  'parserOnIncoming',
  'parserOnHeaders',
  'parserOnMessageComplete',
  'onParserExecute',
  'onParserExecuteCommon',
  'execute',
]);

/** The stage a frame names, if any. */
export function stageOf(frame: CallFrame): Stage | undefined {
  if (frame.url === '' && frame.functionName === '(garbage collector)') return 'GC';
  const component = componentOf(frame);
  if (component === 'prom-client') return 'metrics';
  if (
    ['winston', 'logform', 'winston-transport', 'triple-beam', '@colors/colors', 'safe-stable-stringify'].includes(component) ||
    frame.url.endsWith('/observability/logger.js')
  )
    return 'logging';
  if (component.startsWith('@opentelemetry/') || frame.url.endsWith('/observability/tracing.js')) return 'tracing';
  if (
    (frame.url === '' || /^node:(_http_outgoing|_http_server|net|internal\/stream_base_commons|internal\/streams\/writable)$/.test(frame.url)) &&
    RESPONSE_WRITE_FUNCTIONS.has(frame.functionName)
  )
    return 'response write';
  if (frame.url.endsWith('/core/http/router.js') || component === 'path-to-regexp') return 'route';
  if (frame.url.endsWith('/core/http/read-body.js') || frame.functionName === 'parserOnBody') return 'body';
  if (component.startsWith('busgate plugins/') || /\/core\/brokers\/[^/]+\.js$/.test(frame.url)) return 'broker call';
  if (/\/core\/routes\/template\.js$|\/core\/http\/(auth|rate-limit)\.js$/.test(frame.url)) return 'plan';
  if (/\/core\/http\/(idempotency|send-error)\.js$/.test(frame.url)) return 'receipt';
  if (frame.url.endsWith('/core/http/ingress.js')) return INGRESS_FUNCTIONS[frame.functionName] ?? 'receipt';
  return undefined;
}

export function stageSplit(
  caseId: string,
  file: string,
  window: ProfileWindow,
  cpuSeconds: number,
  requests: number,
  loadAverage: readonly number[],
): StageSplit {
  const { byId, parentOf, selfUs } = readProfile(file, window);
  const byStage = new Map<Stage, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const leaf = byId.get(id)!.callFrame;
    if (leaf.url === '' && leaf.functionName === '(idle)') continue;
    busyUs += us;
    let stage: Stage | undefined;
    let underParser = false;
    for (let current: number | undefined = id; current !== undefined && stage === undefined; current = parentOf.get(current)) {
      const frame = byId.get(current)!.callFrame;
      stage = stageOf(frame);
      if (frame.url.startsWith('node:') && HTTP_PARSER_FUNCTIONS.has(frame.functionName)) underParser = true;
      if (frame.url === '' && frame.functionName === 'execute') underParser = true;
    }
    stage ??= underParser ? 'parse' : 'event loop & I/O';
    byStage.set(stage, (byStage.get(stage) ?? 0) + us);
  }
  const cpuUsPerRequest = (cpuSeconds / Math.max(1, requests)) * 1e6;
  return {
    caseId,
    requests,
    cpuUsPerRequest: Math.round(cpuUsPerRequest * 10) / 10,
    stages: STAGES.map((stage) => {
      const share = (byStage.get(stage) ?? 0) / Math.max(1, busyUs);
      return { stage, share: Math.round(share * 1000) / 10, usPerRequest: Math.round(share * cpuUsPerRequest * 10) / 10 };
    }),
    loadAverage,
  };
}

export function stageTable(split: StageSplit): string {
  const lines = [
    `CPU per request by stage, ${split.caseId}: ${split.cpuUsPerRequest} µs/request over ${split.requests} requests (load average ${split.loadAverage.join(' ')}; shares from a sampling profile)`,
    '| stage | share | µs/request |',
    '|---|---:|---:|',
    ...split.stages.map((s) => `| ${s.stage} | ${s.share}% | ${s.usPerRequest} |`),
  ];
  return lines.join('\n');
}
