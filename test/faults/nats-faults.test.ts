/** Broker faults on a private nats-server (JetStream, own port and store): see support/fault-suite.ts. */
import { faultSuite } from './support/fault-suite.js';
import { PrivateNats } from './support/private-brokers.js';
import { FaultProxy } from './support/tcp-proxy.js';

faultSuite({
  kind: 'nats',
  async setUp() {
    const broker = await PrivateNats.create();
    await broker.start();
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: broker.port });
    return { broker, proxy };
  },
  instance: (proxyPort) => ({ plugin: 'nats', options: { url: `nats://127.0.0.1:${proxyPort}` } }),
  destination: 'faults.{name}',
  destinationFor: (name) => `faults.${name}`,
  recoveryBoundMs: 10_000,
});
