/**
 * CloudEvents and batches on NATS, read back by a plain NATS subscriber. The NATS binding's binary
 * mode is HTTP's: `ce-` headers, `content-type`; the SDK has no NATS binding, so its HTTP one reads it.
 */
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { Inbox, httpStyleEvent, runContractConformance } from './broker-suite.js';

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

runContractConformance({
  name: 'nats',
  plugin: 'nats',
  options: () => ({ url }),
  require: (context) => requireBroker(context, 'nats', brokerEndpoints.nats()),
  mode: 'pubsub',
  destination: () => `contracts.${randomUUID().slice(0, 8)}`,
  async open(destination) {
    const nc = await connect({ servers: url });
    const inbox = new Inbox();
    nc.subscribe(destination, {
      callback: (_error, msg) => {
        const headers: Record<string, string> = {};
        for (const name of msg.headers?.keys() ?? []) headers[name.toLowerCase()] = msg.headers!.get(name);
        inbox.push({ payload: Buffer.from(msg.data), headers, contentType: headers['content-type'] });
      },
    });
    await nc.flush();
    return { take: (count, timeoutMs) => inbox.take(count, timeoutMs), close: () => nc.close() };
  },
  toEvent: httpStyleEvent,
});
