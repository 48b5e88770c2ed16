/**
 * Group-coordinator answers that pass by themselves. A consumer group's coordinator is the leader
 * of one partition of __consumer_offsets; when that broker dies or restarts, another takes the
 * partition over and first loads the group's state from it. Until then a joining member hears
 * GROUP_LOAD_IN_PROGRESS, GROUP_COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR_FOR_GROUP; kafkajs
 * retries a few times, then crashes the consumer and restarts it itself (restart: true). A
 * subscribe() that treated the first such crash as final failed right after every failover,
 * though the group would have formed a few seconds later.
 */

/** kafkajs's names (src/protocol/error.js) for the coordinator being elsewhere or still loading. */
const COORDINATOR_MOVING = new Set(['GROUP_LOAD_IN_PROGRESS', 'GROUP_COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR_FOR_GROUP', 'REBALANCE_IN_PROGRESS']);

/** Whether a consumer crash is the coordinator moving or loading (anywhere in the error's cause chain). */
export function isCoordinatorMoving(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 10; depth += 1) {
    const type = (current as { type?: unknown }).type;
    if (typeof type === 'string' && COORDINATOR_MOVING.has(type)) return true;
    current = current.cause;
  }
  return false;
}

/**
 * Whether a crash before the member first joined should fail subscribe(): not when kafkajs is
 * restarting the consumer after a coordinator move (the join timeout still bounds the wait).
 */
export function crashFailsJoin(crash: { readonly error: Error; readonly restart: boolean }): boolean {
  return !(crash.restart && isCoordinatorMoving(crash.error));
}
