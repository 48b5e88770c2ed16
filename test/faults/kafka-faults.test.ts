/** Broker faults on a private single-node KRaft Kafka (own ports and log dir): see support/fault-suite.ts. */
import { faultSuite } from './support/fault-suite.js';
import { freePort } from '../support/net.js';
import { PrivateKafka } from './support/private-brokers.js';
import { FaultProxy } from './support/tcp-proxy.js';

faultSuite({
  kind: 'kafka',
  async setUp() {
    // The broker advertises the proxy's port on its PROXIED listener, so every connection the
    // client opens (bootstrap and partition leaders alike) goes through the proxy.
    const proxyPort = await freePort();
    const broker = await PrivateKafka.create(proxyPort);
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: broker.proxiedPort! }, proxyPort);
    await broker.start();
    return { broker, proxy };
  },
  instance: (proxyPort) => ({ plugin: 'kafka', options: { brokers: [`127.0.0.1:${proxyPort}`], createTopics: true } }),
  destination: 'faults-{name}',
  destinationFor: (name) => `faults-${name}`,
  recoveryBoundMs: 25_000,
  drainTimeoutMs: 45_000,
});
