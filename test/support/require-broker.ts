/**
 * The broker check itself ships with busgate/conformance (conformance/require-broker.ts); this adds
 * where busgate's own suites find each broker, and the root hook that lists skipped suites.
 */
import { endpointOf, skippedBrokers, skippedCapabilities } from '../../conformance/require-broker.js';

export { brokersRequired, endpointOf, requireBroker, tcpReachable } from '../../conformance/require-broker.js';

export const brokerEndpoints = {
  nats: (): { host: string; port: number } => endpointOf(process.env.NATS_URL ?? 'nats://127.0.0.1:4222', 4222),
  kafka: (): { host: string; port: number } => endpointOf(process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', 9092),
  rabbitmq: (): { host: string; port: number } => endpointOf(process.env.AMQP_URL ?? 'amqp://127.0.0.1:5672', 5672),
  redis: (): { host: string; port: number } => endpointOf(redisUrl(), 6379),
};

/** The shared state store the replica suites use (REDIS_URL, default the local one). */
export function redisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

// Root hook: say plainly which broker suites did not run, so a green local run cannot hide them.
export const mochaHooks = {
  afterAll(): void {
    const reasons = skippedBrokers();
    if (reasons.length > 0) {
      console.log('\n  Skipped broker suites (broker not running; CI would fail instead):');
      for (const reason of reasons) console.log(`    - ${reason}`);
    }
    const undeclared = skippedCapabilities();
    if (undeclared.length > 0) {
      console.log('\n  Skipped conformance tests (the plugin does not declare the capability):');
      for (const reason of undeclared) console.log(`    - ${reason}`);
    }
  },
};
