/** Leader failover on a private 3-node NATS cluster with JetStream (R3 work-queue streams): see support/cluster-fault-suite.ts. */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { streamNameFor } from '../../plugins/nats/names.js';
import { clusterFaultSuite } from './support/cluster-fault-suite.js';
import { NatsCluster } from './support/private-clusters.js';

/** The operator's stream behind the persistent pubsub route (busgate creates none for pubsub). */
const pubsubStream = (subject: string): string => `CLUSTERPS_${subject.replace(/[^A-Za-z0-9_-]/g, '_')}`;

clusterFaultSuite({
  kind: 'nats',
  leads: 'stream',
  create: () => NatsCluster.create(),
  // Every member's URL; the plugin creates the work-queue streams with three replicas.
  instance: (cluster) => ({ plugin: 'nats', options: { url: cluster.url, streamReplicas: 3 } }),
  destination: 'cluster.{name}',
  destinationFor: (name) => `cluster.${name}`,
  replicaOf: (subject) => streamNameFor('BUSGATE', subject),
  pubsub: {
    destination: 'clusterps.{name}',
    destinationFor: (name) => `clusterps.${name}`,
    // Persistent pubsub: the publish is answered after the R3 stream's PubAck; the subscribers
    // are durable consumers of that stream (replicated like it), so they ride through too.
    routeOptions: '{ persistent: true }',
    replicaOf: pubsubStream,
    async prepare(cluster, subject) {
      const nc = await connect({ servers: cluster.url.split(','), timeout: 2000 });
      try {
        await (await jetstreamManager(nc)).streams.add({ name: pubsubStream(subject), subjects: [subject], num_replicas: 3 });
      } finally {
        await nc.close();
      }
    },
  },
});
