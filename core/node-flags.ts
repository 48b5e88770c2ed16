/**
 * node's own flags that busgate is launched with: `npm start`, the `busgate` command's first line
 * and the image's CMD all pass them (a test checks that they agree). They can only be given on
 * node's command line, because V8 sizes the young generation when it creates the heap; why these
 * two is in core/cli.ts (optimizeForSize) and the README (Performance: memory).
 */
export const NODE_MEMORY_FLAGS = ['--max-semi-space-size=2', '--heap-growing-percent=10'] as const;

/**
 * glibc malloc settings the same three launchers put in node's environment (glibc reads them once,
 * as the process starts, so the daemon cannot set them itself; other C libraries ignore them).
 * Setting the trim threshold also stops glibc from raising it and the mmap threshold as the process
 * frees large blocks (up to 32 MB): the broker clients' 64-128 KB read buffers then stay mmapped and
 * go back to the system when freed, instead of staying in malloc's free lists. Two arenas instead of
 * eight per core: freed memory is spread over fewer heaps. Measured at 500 connections (README,
 * Performance: memory): 3-10 MB less VmHWM on the network brokers' cases, CPU per request within
 * noise. A value already in the environment wins in `npm start` and the image.
 */
export const MALLOC_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' } as const;

/** MALLOC_ENV as `npm start` gives it: a value already in `env` wins (for launchers written in JS). */
export function mallocEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(Object.entries(MALLOC_ENV).map(([name, value]) => [name, env[name] ?? value]));
}

/** True when node's command line (or NODE_OPTIONS) already sized the young generation. */
export function youngGenerationSized(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env.NODE_OPTIONS ?? ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((flag) => flag.startsWith('--max-semi-space-size'));
}
