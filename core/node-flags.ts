/**
 * node's own flags that busgate is launched with: `npm start`, the `busgate` command's first line
 * and the image's CMD all pass them (a test checks that they agree). They can only be given on
 * node's command line, because V8 sizes the young generation when it creates the heap; why these
 * two is in core/cli.ts (optimizeForSize) and the README (Performance: memory).
 */
export const NODE_MEMORY_FLAGS = ['--max-semi-space-size=2', '--heap-growing-percent=10'] as const;

/** True when node's command line (or NODE_OPTIONS) already sized the young generation. */
export function youngGenerationSized(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env.NODE_OPTIONS ?? ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((flag) => flag.startsWith('--max-semi-space-size'));
}
