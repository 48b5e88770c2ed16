/** Leader failover on a private 3-broker KRaft Kafka cluster (replication factor 3, min.insync.replicas 2): see support/cluster-fault-suite.ts. */
import { clusterFaultSuite } from './support/cluster-fault-suite.js';
import { KafkaCluster } from './support/private-clusters.js';

clusterFaultSuite({
  kind: 'kafka',
  leads: 'partition',
  create: () => KafkaCluster.create(),
  // Every member as a bootstrap broker; topics exist beforehand, with 3 replicas.
  instance: (cluster) => ({ plugin: 'kafka', options: { brokers: cluster.brokers, createTopics: false } }),
  destination: 'cluster-{name}',
  destinationFor: (name) => `cluster-${name}`,
  replicaOf: (topic) => topic,
  // Created beforehand like an operator would: right after a creation, a broker that has not yet
  // heard of the topic answers UNKNOWN_TOPIC_OR_PARTITION to the first produce.
  prepare: (cluster, topic) => cluster.createTopic(topic),
  recoveryBoundMs: 30_000,
  drainTimeoutMs: 45_000,
});
