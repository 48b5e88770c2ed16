/** CloudEvents and batches on the embedded broker: attributes travel as `ce-` headers, as over HTTP. */
import { randomUUID } from 'node:crypto';
import { Inbox, httpStyleEvent, runContractConformance } from './broker-suite.js';

runContractConformance({
  name: 'memory',
  plugin: 'memory',
  options: () => ({}),
  mode: 'pubsub',
  destination: () => `contracts.${randomUUID().slice(0, 8)}`,
  async open(destination, daemon) {
    const inbox = new Inbox();
    const subscription = await daemon.brokers.get('memory')!.subscribe(destination, { mode: 'pubsub' }, async (message) => {
      inbox.push({ payload: message.payload, headers: message.headers, contentType: message.contentType });
    });
    return { take: (count, timeoutMs) => inbox.take(count, timeoutMs), close: () => subscription.close() };
  },
  toEvent: httpStyleEvent,
});
