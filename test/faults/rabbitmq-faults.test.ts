/** Broker faults on a private RabbitMQ node (own name, ports, data): see support/fault-suite.ts. */
import amqplib from 'amqplib';
import { faultSuite } from './support/fault-suite.js';
import { PrivateRabbitMq } from './support/private-brokers.js';
import { FaultProxy } from './support/tcp-proxy.js';

faultSuite({
  kind: 'rabbitmq',
  async setUp() {
    const broker = await PrivateRabbitMq.create();
    await broker.start();
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: broker.port });
    return { broker, proxy };
  },
  // declare: the work queue is created durable on first use.
  instance: (proxyPort) => ({ plugin: 'rabbitmq', options: { url: `amqp://guest:guest@127.0.0.1:${proxyPort}`, declare: true } }),
  destination: 'faults-{name}',
  destinationFor: (name) => `faults-${name}`,
  // amqplib's recovery backs off up to reconnect.maxDelayMs (10 s) while the node boots.
  recoveryBoundMs: 20_000,
  async inspect(broker, queue) {
    const connection = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
    try {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      const reply = await channel.checkQueue(queue);
      return `queue ${queue} holds ${reply.messageCount} messages`;
    } finally {
      await connection.close().catch(() => undefined);
    }
  },
});
