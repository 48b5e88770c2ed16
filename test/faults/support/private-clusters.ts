/**
 * Three-node clusters of private brokers for the failover suites, built from the single-node
 * launchers in private-brokers.ts (each member is one of them, with its own folder, ports and
 * pid): nothing of the shared brokers is touched, and every process is signalled by pid only.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import amqplib from 'amqplib';
import kafkajs from 'kafkajs';
import { connect } from '@nats-io/transport-node';
import { eventually, freePort } from '../../support/net.js';
import { kafkaClusterId, PrivateKafka, PrivateNats, PrivateRabbitMq, type PrivateBroker } from './private-brokers.js';

export const CLUSTER_SIZE = 3;

export interface PrivateCluster {
  readonly kind: PrivateBroker['kind'];
  readonly nodes: readonly PrivateBroker[];
  /** Starts every member; resolves once the cluster as a whole serves (a quorum formed). */
  start(): Promise<void>;
  /** Which member leads the destination right now (stream / queue / partition 0 leader). */
  leaderOf(destination: string): Promise<number>;
  /** Resolves once member `index` is back in the cluster and holds its replica of `destination` again. */
  rejoined(index: number, destination: string): Promise<void>;
  /** Kills every member and removes their folders (kept with `keep`, for the logs). Never throws. */
  dispose(keep?: boolean): Promise<void>;
  /** The members' logs' tails, for failure messages. */
  logTail(): string;
}

abstract class ClusterBase<Node extends PrivateBroker> implements PrivateCluster {
  abstract readonly kind: PrivateBroker['kind'];

  constructor(readonly nodes: readonly Node[]) {}

  async start(): Promise<void> {
    // All at once: a member waits for a quorum of its peers before it serves.
    await Promise.all(this.nodes.map((node) => node.start()));
    await this.formed();
  }

  async dispose(keep = false): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.dispose(keep)));
  }

  logTail(): string {
    return this.nodes.map((node, index) => `--- member ${index} (${node.folder})\n${node.logTail()}`).join('\n');
  }

  abstract leaderOf(destination: string): Promise<number>;
  abstract rejoined(index: number, destination: string): Promise<void>;
  protected abstract formed(): Promise<void>;
}

// ------------------------------------------------------------------------------------------ NATS

/** Three nats-servers with JetStream, routed to each other: R3 streams have a leader and two followers. */
export class NatsCluster extends ClusterBase<PrivateNats> {
  readonly kind = 'nats' as const;

  static async create(): Promise<NatsCluster> {
    const clusterName = `busgate-${process.pid}`;
    const routePorts: number[] = [];
    const clientPorts: number[] = [];
    for (let i = 0; i < CLUSTER_SIZE; i += 1) {
      routePorts.push(await freePort());
      clientPorts.push(await freePort());
    }
    const nodes = await Promise.all(
      routePorts.map((routePort, i) =>
        PrivateNats.create({ clusterName, serverName: `n${i}`, routePort, peerRoutePorts: routePorts.filter((p) => p !== routePort) }, clientPorts[i]),
      ),
    );
    return new NatsCluster(nodes);
  }

  /** What the plugin's url option gets: every member. */
  get url(): string {
    return this.nodes.map((node) => `nats://127.0.0.1:${node.port}`).join(',');
  }

  /** A management connection to any member that answers. */
  private async withManager<T>(use: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<T>): Promise<T> {
    const nc = await connect({ servers: this.nodes.map((node) => `127.0.0.1:${node.port}`), timeout: 2000, reconnect: false });
    try {
      return await use(await jetstreamManager(nc, { timeout: 3000 }));
    } finally {
      await nc.close().catch(() => undefined);
    }
  }

  /** JetStream answers account requests only once the meta group elected a leader. */
  protected async formed(): Promise<void> {
    await eventually(
      async () => {
        try {
          await this.withManager((jsm) => jsm.getAccountInfo());
          return true;
        } catch {
          return false;
        }
      },
      60_000,
      'the NATS cluster to elect a JetStream meta leader',
      500,
    );
  }

  private indexOf(serverName: string | undefined): number {
    const index = this.nodes.findIndex((node) => node.seat?.serverName === serverName);
    if (index < 0) throw new Error(`no member named ${String(serverName)}`);
    return index;
  }

  /** `destination` is a stream name here. */
  async leaderOf(stream: string): Promise<number> {
    const info = await this.withManager((jsm) => jsm.streams.info(stream));
    return this.indexOf(info.cluster?.leader);
  }

  async rejoined(index: number, stream: string): Promise<void> {
    const name = this.nodes[index]!.seat?.serverName;
    await eventually(
      async () => {
        try {
          const info = await this.withManager((jsm) => jsm.streams.info(stream));
          if (info.cluster?.leader === name) return true;
          return (info.cluster?.replicas ?? []).some((replica) => replica.name === name && replica.current && !replica.offline);
        } catch {
          return false;
        }
      },
      60_000,
      `member ${name} to catch up on stream ${stream}`,
      250,
    );
  }
}

// -------------------------------------------------------------------------------------- RabbitMQ

const run = promisify(execFile);
const RABBITMQ_QUEUES = '/usr/lib/rabbitmq/bin/rabbitmq-queues';
const RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';

/** Three RabbitMQ nodes (Debian's 3.10) joined by classic_config peer discovery and one cookie; quorum queues span all three. */
export class RabbitMqCluster extends ClusterBase<PrivateRabbitMq> {
  readonly kind = 'rabbitmq' as const;

  static async create(): Promise<RabbitMqCluster> {
    const ports: number[] = [];
    for (let i = 0; i < CLUSTER_SIZE; i += 1) ports.push(await freePort());
    const seat = { cookie: randomBytes(20).toString('hex').toUpperCase(), members: ports.map((port) => PrivateRabbitMq.nodeNameFor(port)) };
    return new RabbitMqCluster(await Promise.all(ports.map((port) => PrivateRabbitMq.create(seat, port))));
  }

  /** What the plugin's url option gets: every member. */
  get url(): string {
    return this.nodes.map((node) => node.url).join(',');
  }

  /** One after the other: a node that finds a running peer joins it; started together, each could form a cluster of its own. */
  override async start(): Promise<void> {
    for (const node of this.nodes) await node.start();
    await this.formed();
  }

  protected async formed(): Promise<void> {
    await eventually(
      async () => {
        const status = await this.tool(RABBITMQCTL, ['cluster_status', '--formatter', 'json']).catch(() => undefined);
        if (status === undefined) return false;
        const running = (JSON.parse(status) as { running_nodes?: string[] }).running_nodes ?? [];
        return this.nodes.every((node) => running.includes(node.nodeName));
      },
      60_000,
      'all 3 RabbitMQ nodes to run in one cluster',
      1000,
    );
  }

  /** Runs a RabbitMQ CLI tool against the first member that answers it. */
  private async tool(file: string, args: string[]): Promise<string> {
    let last: unknown;
    for (const node of this.nodes) {
      if (node.pid() === undefined) continue;
      try {
        const { stdout } = await run(file, ['-n', node.nodeName, ...args], { env: node.toolEnv, timeout: 30_000 });
        return stdout;
      } catch (error) {
        last = error;
      }
    }
    throw last instanceof Error ? last : new Error('no RabbitMQ member answers');
  }

  /** Declares a durable quorum queue on every member (the operator's job; the declaring node leads it). */
  async declareQuorumQueue(queue: string): Promise<void> {
    const connection = await amqplib.connect(this.nodes[0]!.url);
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    } finally {
      await connection.close().catch(() => undefined);
    }
  }

  /** The members' Raft states for a quorum queue, by node name (rabbitmq-queues quorum_status). */
  private async raftStates(queue: string): Promise<Map<string, string>> {
    const text = await this.tool(RABBITMQ_QUEUES, ['quorum_status', queue, '--formatter', 'json']);
    const rows = JSON.parse(text) as Array<Record<string, unknown>>;
    return new Map(rows.map((row) => [String(row['Node Name']), String(row['Raft State'])]));
  }

  async leaderOf(queue: string): Promise<number> {
    const states = await this.raftStates(queue);
    const index = this.nodes.findIndex((node) => states.get(node.nodeName) === 'leader');
    if (index < 0) throw new Error(`quorum queue ${queue} has no leader: ${JSON.stringify([...states])}`);
    return index;
  }

  async rejoined(index: number, queue: string): Promise<void> {
    const name = this.nodes[index]!.nodeName;
    await eventually(
      async () => {
        const states = await this.raftStates(queue).catch(() => new Map<string, string>());
        return ['leader', 'follower'].includes(states.get(name) ?? '');
      },
      90_000,
      `${name} to follow quorum queue ${queue} again`,
      1000,
    );
  }
}

// ----------------------------------------------------------------------------------------- Kafka

/**
 * Three KRaft nodes, each broker and controller (node ids 0-2, one cluster id): replication factor
 * 3 and min.insync.replicas 2 for every topic, so an acks=all write survives one broker's death.
 */
export class KafkaCluster extends ClusterBase<PrivateKafka> {
  readonly kind = 'kafka' as const;

  static async create(): Promise<KafkaCluster> {
    const ports: Array<{ direct: number; controller: number }> = [];
    for (let i = 0; i < CLUSTER_SIZE; i += 1) ports.push({ direct: await freePort(), controller: await freePort() });
    const clusterId = kafkaClusterId();
    const voters = ports.map((port, id) => `${id}@127.0.0.1:${port.controller}`).join(',');
    return new KafkaCluster(
      ports.map((port, nodeId) => PrivateKafka.member({ clusterId, nodeId, voters, replicas: CLUSTER_SIZE }, port.direct, port.controller)),
    );
  }

  /** What the plugin's brokers option gets: every member. */
  get brokers(): string[] {
    return this.nodes.map((node) => `127.0.0.1:${node.directPort}`);
  }

  /**
   * Creates a topic with 3 replicas (the operator's job) and waits until every broker's own
   * metadata has it: a broker learns of a new topic a moment after the controller made it.
   */
  async createTopic(topic: string): Promise<void> {
    // Not waitForLeaders: kafkajs then asks one broker for metadata and gives up on its
    // UNKNOWN_TOPIC_OR_PARTITION (it retries only LEADER_NOT_AVAILABLE); each broker is asked below.
    await this.withAdmin((admin) => admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: CLUSTER_SIZE }], waitForLeaders: false }));
    for (const broker of this.brokers) {
      await eventually(
        async () => {
          try {
            const metadata = await this.withAdmin((admin) => admin.fetchTopicMetadata({ topics: [topic] }), [broker]);
            return (metadata.topics[0]?.partitions[0]?.leader ?? -1) >= 0;
          } catch {
            return false;
          }
        },
        30_000,
        `broker ${broker} to know topic ${topic}`,
        250,
      );
    }
  }

  private async withAdmin<T>(use: (admin: kafkajs.Admin) => Promise<T>, brokers = this.brokers): Promise<T> {
    const admin = new kafkajs.Kafka({
      brokers,
      logLevel: kafkajs.logLevel.NOTHING,
      retry: { retries: 1 },
      connectionTimeout: 1000,
      requestTimeout: 3000,
    }).admin();
    try {
      await admin.connect();
      return await use(admin);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  protected async formed(): Promise<void> {
    await eventually(
      async () => {
        try {
          return (await this.withAdmin((admin) => admin.describeCluster())).brokers.length === CLUSTER_SIZE;
        } catch {
          return false;
        }
      },
      90_000,
      'all 3 Kafka brokers to register',
      1000,
    );
  }

  private async partitionZero(topic: string): Promise<{ leader: number; isr: number[] }> {
    const metadata = await this.withAdmin((admin) => admin.fetchTopicMetadata({ topics: [topic] }));
    const partition = metadata.topics[0]?.partitions.find((p) => p.partitionId === 0);
    if (partition === undefined) throw new Error(`topic ${topic} has no partition 0`);
    return { leader: partition.leader, isr: partition.isr };
  }

  /** Node ids are the members' indexes. */
  async leaderOf(topic: string): Promise<number> {
    return (await this.partitionZero(topic)).leader;
  }

  async rejoined(index: number, topic: string): Promise<void> {
    await eventually(
      async () => {
        try {
          return (await this.partitionZero(topic)).isr.includes(index);
        } catch {
          return false;
        }
      },
      90_000,
      `broker ${index} back in the in-sync replicas of ${topic}`,
      500,
    );
  }
}
