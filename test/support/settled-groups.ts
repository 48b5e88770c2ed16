/**
 * Kafka checks that look at every consumer group of the shared cluster (`check --live`, the
 * plugin's preflight) answer "consumer groups not checked" while any group rebalances: the broker
 * hides a rebalancing group's subscriptions. The fault suites run alongside the rest on the same
 * cluster and kill and add group members (egress faults), so a test that expects a definite
 * answer asks again, for that answer only, until the other groups settle.
 */
import { sleep } from './net.js';

/** How long other suites' consumer groups are given to finish rebalancing. */
export const UNSETTLED_BOUND_MS = 60_000;

const NOT_CHECKED = 'consumer groups not checked';

/** Runs `check` until its answer (as `text` reads it) is not "not checked", or the bound is spent. */
export async function untilGroupsSettle<T>(check: () => T | Promise<T>, text: (answer: T) => string | undefined): Promise<T> {
  const started = Date.now();
  for (;;) {
    const answer = await check();
    if (!text(answer)?.includes(NOT_CHECKED) || Date.now() - started > UNSETTLED_BOUND_MS) return answer;
    await sleep(2000);
  }
}
