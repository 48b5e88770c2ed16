/** Reconnect and re-subscribe delays: the core's backoff, fed by this plugin's options. */
import { backoffDelay as coreBackoff } from '../../core/backoff.js';
import type { ReconnectOptions } from './options.js';

/** `attempt` counts from 1 here (the first retry). */
export function backoffDelay(attempt: number, options: ReconnectOptions): number {
  return coreBackoff(attempt - 1, options.initialDelayMs, options.maxDelayMs);
}
