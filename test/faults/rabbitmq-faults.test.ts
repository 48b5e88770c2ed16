/**
 * Broker faults on a private RabbitMQ node (own name, ports, data): see support/fault-suite.ts.
 * Run once with classic and once with quorum work queues. As in production, each queue is
 * declared by the operator before traffic goes to it (declare: false): the daemon never creates
 * topology here. What `declare: true` can and cannot promise has its own suite
 * (rabbitmq-declare-caveat.test.ts).
 */
import { QUEUE_TYPES } from '../../plugins/rabbitmq/options.js';
import { faultSuite } from './support/fault-suite.js';
import { PrivateRabbitMq } from './support/private-brokers.js';
import { declareQueues, queueDepth } from './support/rabbitmq-admin.js';
import { awaitDurableDefinitions } from './support/rabbitmq-mnesia.js';
import { awaitRaRegistration } from './support/rabbitmq-ra.js';
import { FaultProxy } from './support/tcp-proxy.js';

for (const queueType of QUEUE_TYPES) {
  faultSuite({
    kind: 'rabbitmq',
    label: `rabbitmq, ${queueType} queues`,
    async setUp() {
      const broker = await PrivateRabbitMq.create();
      await broker.start();
      const proxy = await FaultProxy.start({ host: '127.0.0.1', port: broker.port });
      return { broker, proxy };
    },
    // The operator declares the queue before any traffic goes to it; the daemon never does here.
    // It counts as declared once a kill -9 can no longer undo it, as for an operator's queue
    // declared long before: its definition is on the node's disk (support/rabbitmq-mnesia.ts),
    // and a quorum queue's member is in the node's Ra directory (support/rabbitmq-ra.ts).
    async prepare(broker, queue) {
      await declareQueues((broker as PrivateRabbitMq).url, [queue], queueType);
      await awaitDurableDefinitions(broker.folder, [queue]);
      if (queueType === 'quorum') await awaitRaRegistration(broker.folder, [queue]);
    },
    instance: (proxyPort) => ({ plugin: 'rabbitmq', options: { url: `amqp://guest:guest@127.0.0.1:${proxyPort}`, declare: false } }),
    destination: 'faults-{name}',
    destinationFor: (name) => `faults-${name}`,
    // amqplib's recovery backs off up to reconnect.maxDelayMs (10 s) while the node boots.
    recoveryBoundMs: 20_000,
    async inspect(broker, queue) {
      const depth = await queueDepth((broker as PrivateRabbitMq).url, queue);
      return depth === undefined ? `queue ${queue} does not exist` : `queue ${queue} holds ${depth} messages`;
    },
  });
}
