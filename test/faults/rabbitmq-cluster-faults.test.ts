/** Leader failover on a private 3-node RabbitMQ cluster with quorum queues: see support/cluster-fault-suite.ts. */
import { clusterFaultSuite } from './support/cluster-fault-suite.js';
import { RabbitMqCluster } from './support/private-clusters.js';

clusterFaultSuite({
  kind: 'rabbitmq',
  leads: 'quorum queue',
  create: () => RabbitMqCluster.create(),
  // Every member's URL: after a lost connection the plugin reconnects to the next node.
  instance: (cluster) => ({ plugin: 'rabbitmq', options: { url: cluster.url } }),
  destination: 'cluster-{name}',
  destinationFor: (name) => `cluster-${name}`,
  replicaOf: (queue) => queue,
  // Quorum queues are an operator's choice in busgate (declare: false here): declared beforehand.
  prepare: (cluster, queue) => cluster.declareQuorumQueue(queue),
});
