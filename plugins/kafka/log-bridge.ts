/**
 * Routes kafkajs's own log lines into the daemon's logger (already labelled by the core
 * with the broker instance) instead of kafkajs's JSON on stdout.
 */
import kafkajs, { type LogEntry, type logCreator, type logLevel as KafkaLogLevel } from 'kafkajs';
import type { Logger } from '../../core/plugins/contract.js';

const { logLevel } = kafkajs;

type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/**
 * kafkajs logs every failed request and every retry as an error. The plugin reports what matters
 * itself (typed errors per request, health changes), so at their own level these lines would
 * bury it: a down broker alone gives several error lines per second.
 */
const PER_REQUEST_NAMESPACES = new Set(['Connection', 'BrokerPool']);

/** Situations the plugin causes on purpose or handles itself. */
const EXPECTED = [
  // The plugin bounds the idempotent producer's retries so that a down broker fails fast.
  /Limiting retries for the idempotent producer/,
  // The plugin names its partitioner explicitly; the v2 migration notice does not apply.
  /switched default partitioner/,
  // A fresh broker loads its coordinators lazily; kafkajs retries by itself.
  /coordinator is (loading|not available)/i,
  // Members rejoin when another member comes or goes.
  /group is rebalancing/i,
  // Consumer restarts after a lost cluster; GroupConsumer reports those once per outage.
  /^Crash: |^Restarting the consumer/,
  // After a frozen broker: answers to requests that timed out, and members that must rejoin.
  /Response without match|not aware of this member/,
];

function levelOf({ namespace, level, log }: LogEntry): LogLevel {
  if (PER_REQUEST_NAMESPACES.has(namespace) || EXPECTED.some((pattern) => pattern.test(log.message))) return 'debug';
  if (level === logLevel.ERROR) return 'error';
  if (level === logLevel.WARN) return 'warn';
  if (level === logLevel.INFO) return 'info';
  return 'debug';
}

export function kafkaLogCreator(logger: Logger): logCreator {
  return () => (entry: LogEntry) => {
    const { message, timestamp: _timestamp, ...extra } = entry.log;
    logger[levelOf(entry)](`kafkajs ${entry.namespace}: ${message}`, extra);
  };
}

/** kafkajs's threshold: INFO is chatty (every group join), so the daemon's debug level opts in. */
export function kafkaLogLevel(logger: Logger): KafkaLogLevel {
  return logger.isDebugEnabled?.() === true ? logLevel.DEBUG : logLevel.WARN;
}
