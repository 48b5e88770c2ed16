/** The daemon harness lives with the public conformance suite, which ships it; tests share it. */
export { eventually, sleep, startTestDaemon, type TestDaemon } from '../../conformance/daemon.js';

/** eventually() for a predicate that must await something (a metric, an HTTP call). */
export async function eventuallyAsync(predicate: () => Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
