/** Leader failover on a private 3-broker KRaft Kafka cluster (replication factor 3, min.insync.replicas 2): see support/cluster-fault-suite.ts. */
import { clusterFaultSuite } from './support/cluster-fault-suite.js';
import { KafkaCluster } from './support/private-clusters.js';

clusterFaultSuite({
  kind: 'kafka',
  leads: 'partition',
  create: () => KafkaCluster.create(),
  // Every member as a bootstrap broker. The point-to-point topics are created by the plugin on
  // their first send (the cluster's default replication factor is 3): right after a creation some
  // brokers have not heard of the topic yet, which the plugin rides out (settling-topics.ts).
  instance: (cluster) => ({ plugin: 'kafka', options: { brokers: cluster.brokers, createTopics: true, newTopicPartitions: 1 } }),
  destination: 'cluster-{name}',
  destinationFor: (name) => `cluster-${name}`,
  replicaOf: (topic) => topic,
  drainTimeoutMs: 45_000,
  pubsub: {
    destination: 'clusterps-{name}',
    destinationFor: (name) => `clusterps-${name}`,
    replicaOf: (topic) => topic,
    // Created beforehand like an operator would (replication factor 3); the subscribers are two
    // consumer groups reading from the end, joined before the first send.
    prepare: (cluster, topic) => cluster.createTopic(topic),
  },
});
