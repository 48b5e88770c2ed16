/**
 * busgate/conformance: the behaviour suite every broker plugin passes, and the broker check that
 * fails a run in CI when the broker is missing. Runs under mocha; needs no dev dependency.
 */
export { runConformance, type ConformanceTarget } from './suite.js';
export { brokersRequired, endpointOf, requireBroker, skippedBrokers, skippedCapabilities, tcpReachable, type SkippableContext } from './require-broker.js';
/** What the suite's prepare and cleanup hooks get: the daemon's broker instance. */
export type { BrokerInstance } from '../core/brokers/instance.js';
