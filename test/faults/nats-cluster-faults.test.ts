/** Leader failover on a private 3-node NATS cluster with JetStream (R3 work-queue streams): see support/cluster-fault-suite.ts. */
import { streamNameFor } from '../../plugins/nats/names.js';
import { clusterFaultSuite } from './support/cluster-fault-suite.js';
import { NatsCluster } from './support/private-clusters.js';

clusterFaultSuite({
  kind: 'nats',
  leads: 'stream',
  create: () => NatsCluster.create(),
  // Every member's URL; the plugin creates the work-queue streams with three replicas.
  instance: (cluster) => ({ plugin: 'nats', options: { url: cluster.url, streamReplicas: 3 } }),
  destination: 'cluster.{name}',
  destinationFor: (name) => `cluster.${name}`,
  replicaOf: (subject) => streamNameFor('BUSGATE', subject),
  recoveryBoundMs: 20_000,
});
