/**
 * The one set of waiting and port helpers for test/, bench/ and scripts/: sleep, poll a
 * condition, find a free port, ask whether a TCP port answers. The TCP check is the broker
 * check's own (require-broker.ts, which the conformance harness ships), re-exported here.
 */
import net from 'node:net';

export { tcpReachable } from './require-broker.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolves once `check` returns true, polling every `everyMs`; rejects after `timeoutMs`, naming
 * `what`. A check that throws ends the wait with its error (catch inside `check` to keep polling).
 */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition', everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A port nothing listens on right now (bound on 127.0.0.1, then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
