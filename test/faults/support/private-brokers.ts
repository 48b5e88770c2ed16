/**
 * Private broker instances for the fault suites, on free ports and in temporary folders, so a
 * test can kill, freeze and restart them without disturbing the shared brokers on 4222, 5672,
 * 9092 and 1883 that every other suite uses. Each launcher only ever signals processes it started itself,
 * by pid.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import amqplib from 'amqplib';
import kafkajs from 'kafkajs';
import { brokersRequired } from '../../support/require-broker.js';
import { eventually, freeStablePort, sleep, tcpReachable } from '../../support/net.js';

/** The repository root (this file is at <out>/test/faults/support/). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) || !fs.existsSync(path.join(dir, 'core'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('repository root not found');
    dir = parent;
  }
  return dir;
}

export interface PrivateBroker {
  readonly kind: 'nats' | 'rabbitmq' | 'kafka' | 'mqtt';
  /** Where clients connect (for Kafka: the listener whose advertised address is the proxy). */
  readonly port: number;
  /** The broker process's pid (beam.smp for RabbitMQ, the JVM for Kafka). */
  pid(): number | undefined;
  start(): Promise<void>;
  /** kill -9 of the broker process. */
  kill(): void;
  /** SIGTERM (a graceful stop, as in a rolling restart); resolves once the process exited (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<void>;
  freeze(): void;
  thaw(): void;
  /** Starts again on the same ports and data; resolves once it serves clients. */
  restart(): Promise<void>;
  /** Kills everything it started and removes its folder (kept with `keep`, for its logs). Never throws. */
  dispose(keep?: boolean): Promise<void>;
  /** The folder with its data and logs. */
  readonly folder: string;
  /** Lets the broker outlive this process (scripts/brokers.sh cluster start): no kill on exit. */
  release(): void;
  /** The tail of the broker's log, for failure messages. */
  logTail(): string;
}

/**
 * Whether a private broker can run here; when not: fail under CI=true (or
 * BUSGATE_REQUIRE_BROKERS=1), otherwise skip the suite with the reason printed.
 */
export function requirePrivateBroker(context: Mocha.Context, kind: PrivateBroker['kind']): void {
  const missing = missingFor(kind);
  if (missing === undefined) return;
  const reason = `private ${kind} for the fault suite cannot start: ${missing}`;
  if (brokersRequired()) throw new Error(`${reason}; CI requires every broker`);
  console.log(`    (skipped: ${reason})`);
  context.skip();
}

function missingFor(kind: PrivateBroker['kind']): string | undefined {
  switch (kind) {
    case 'nats':
      return fs.existsSync(NATS_SERVER) ? undefined : `${NATS_SERVER} is missing (apt-get install nats-server)`;
    case 'rabbitmq':
      return fs.existsSync(RABBITMQ_SERVER) ? undefined : `${RABBITMQ_SERVER} is missing (apt-get install rabbitmq-server)`;
    case 'mqtt':
      return spawnSync(MOSQUITTO, ['-h'], { stdio: 'ignore' }).error === undefined ? undefined : `${MOSQUITTO} is missing (apt-get install mosquitto)`;
    case 'kafka': {
      if (spawnSync('java', ['-version'], { stdio: 'ignore' }).status !== 0) return 'java is missing (apt-get install default-jre-headless)';
      const jars = path.join(repoRoot(), '.brokers/kafka/jars');
      if (!fs.existsSync(jars) || !fs.readdirSync(jars).some((f) => /^kafka_2\.13-.*\.jar$/.test(f))) {
        return `${jars} has no Kafka jars (bash scripts/brokers.sh start kafka fetches them)`;
      }
      return undefined;
    }
  }
}

const NATS_SERVER = '/usr/sbin/nats-server';
const MOSQUITTO = 'mosquitto';
const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

/**
 * Launchers not yet disposed. If this process exits without after() having run (a crash, a
 * mocha timeout), each live broker's process group (spawned detached, so the group is ours
 * alone) is killed on the way out.
 */
const live = new Set<Launcher>();
process.once('exit', () => {
  for (const launcher of live) launcher.killGroup();
});

abstract class Launcher implements PrivateBroker {
  abstract readonly kind: PrivateBroker['kind'];
  protected readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-fault-'));
  get folder(): string {
    return this.dir;
  }
  protected child: ChildProcess | undefined;
  protected readonly logFile = path.join(this.dir, 'broker.log');
  private readonly started = new Set<ChildProcess>();

  constructor(readonly port: number) {
    live.add(this);
  }

  /** Lets the broker outlive this process (scripts/brokers.sh cluster start): no kill on exit. */
  release(): void {
    live.delete(this);
  }

  /** SIGKILL to the process group of the running broker (the launcher's own child). */
  killGroup(): void {
    const child = this.child;
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    signal(-child.pid, 'SIGCONT');
    signal(-child.pid, 'SIGKILL');
  }

  pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    await this.prepare();
    await this.launch();
  }

  kill(): void {
    signal(this.pid(), 'SIGKILL');
  }

  async stop(timeoutMs = 30_000): Promise<void> {
    const pid = this.pid();
    signal(pid, 'SIGTERM');
    const gone = await eventually(() => !alive(pid), timeoutMs, `private ${this.kind} on port ${this.port} to stop`, 100).then(
      () => true,
      () => false,
    );
    if (!gone) signal(pid, 'SIGKILL');
    await this.exited();
  }

  freeze(): void {
    signal(this.pid(), 'SIGSTOP');
  }

  thaw(): void {
    signal(this.pid(), 'SIGCONT');
  }

  async restart(): Promise<void> {
    await this.exited();
    await this.launch();
  }

  /** Resolves once the killed broker's process has exited (or after 5 s). */
  protected async exited(): Promise<void> {
    const old = this.child;
    if (old && old.exitCode === null && old.signalCode === null) {
      await new Promise<void>((resolve) => {
        old.once('exit', () => resolve());
        setTimeout(resolve, 5000);
      });
    }
  }

  async dispose(keep = false): Promise<void> {
    live.delete(this);
    try {
      this.killGroup();
      signal(this.pid(), 'SIGCONT');
      this.kill();
      for (const child of this.started) {
        signal(child.pid, 'SIGCONT');
        signal(child.pid, 'SIGKILL');
      }
      await sleep(200);
      if (keep) console.log(`    (private ${this.kind} data and logs kept in ${this.dir})`);
      else fs.rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // best effort: a leftover temp folder must not fail the suite
    }
  }

  logTail(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  }

  protected abstract prepare(): Promise<void>;
  protected abstract command(): { file: string; args: string[]; env?: NodeJS.ProcessEnv };
  protected abstract ready(): Promise<boolean>;
  protected readonly bootTimeoutMs: number = 60_000;

  protected async launch(): Promise<void> {
    const { file, args, env } = this.command();
    const log = fs.openSync(this.logFile, 'a');
    // detached: its own process group, so a Ctrl-C in the terminal does not reach it mid-test.
    const child = spawn(file, args, { cwd: this.dir, env: env ?? process.env, stdio: ['ignore', log, log], detached: true });
    fs.closeSync(log);
    child.on('error', () => undefined);
    child.unref();
    this.child = child;
    this.started.add(child);
    child.once('exit', () => this.started.delete(child));
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`private ${this.kind} exited with ${child.exitCode}:\n${this.logTail()}`);
        return this.ready();
      },
      this.bootTimeoutMs,
      `private ${this.kind} on port ${this.port}`,
      200,
    );
  }
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number | undefined, name: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

// ------------------------------------------------------------------------------------------ NATS

/** A NATS server's place in a cluster: its names and route port, and the other members' route ports. */
export interface NatsClusterSeat {
  readonly clusterName: string;
  readonly serverName: string;
  readonly routePort: number;
  readonly peerRoutePorts: readonly number[];
}

export class PrivateNats extends Launcher {
  readonly kind = 'nats' as const;

  private constructor(
    port: number,
    /** Set for a member of a cluster (private-clusters.ts); a lone server has none. */
    readonly seat?: NatsClusterSeat,
  ) {
    super(port);
  }

  static async create(seat?: NatsClusterSeat, port?: number): Promise<PrivateNats> {
    return new PrivateNats(port ?? (await freeStablePort()), seat);
  }

  protected async prepare(): Promise<void> {
    fs.mkdirSync(path.join(this.dir, 'jetstream'), { recursive: true });
  }

  protected command(): { file: string; args: string[] } {
    const args = ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', path.join(this.dir, 'jetstream')];
    const seat = this.seat;
    if (seat !== undefined) {
      // JetStream in a cluster needs a stable server name and cluster name on every member.
      const routes = seat.peerRoutePorts.map((port) => `nats://127.0.0.1:${port}`).join(',');
      args.push('--server_name', seat.serverName, '--cluster_name', seat.clusterName, '--cluster', `nats://127.0.0.1:${seat.routePort}`, '--routes', routes);
    }
    return { file: NATS_SERVER, args };
  }

  protected ready(): Promise<boolean> {
    return tcpReachable('127.0.0.1', this.port, 1000);
  }
}

// ------------------------------------------------------------------------------- MQTT (Mosquitto)

/** A Mosquitto of its own, in the foreground, persisting to its folder (run as root: `user root`). */
export class PrivateMosquitto extends Launcher {
  readonly kind = 'mqtt' as const;

  static async create(): Promise<PrivateMosquitto> {
    return new PrivateMosquitto(await freeStablePort());
  }

  protected async prepare(): Promise<void> {
    const config = [
      `listener ${this.port} 127.0.0.1`,
      'allow_anonymous true',
      'user root',
      'persistence true',
      `persistence_location ${this.dir}/`,
      'autosave_interval 1',
      'autosave_on_changes true',
      'log_dest stderr',
    ];
    fs.writeFileSync(path.join(this.dir, 'mosquitto.conf'), `${config.join('\n')}\n`);
  }

  protected command(): { file: string; args: string[] } {
    return { file: MOSQUITTO, args: ['-c', path.join(this.dir, 'mosquitto.conf')] };
  }

  protected ready(): Promise<boolean> {
    return tcpReachable('127.0.0.1', this.port, 1000);
  }
}

// -------------------------------------------------------------------------------------- RabbitMQ

/** A RabbitMQ node's place in a cluster: the shared Erlang cookie and every member's node name. */
export interface RabbitMqClusterSeat {
  readonly cookie: string;
  readonly members: readonly string[];
}

/**
 * A second RabbitMQ node (`busgate-fault-<n>@localhost`) run as root straight from
 * /usr/lib/rabbitmq/bin (the /usr/sbin wrapper would switch to the rabbitmq user), with its own
 * config, env file, data, logs, cookie (HOME) and ports: nothing of the shared node is read.
 * The broker process is beam.smp, whose pid the node writes to RABBITMQ_PID_FILE.
 */
export class PrivateRabbitMq extends Launcher {
  readonly kind = 'rabbitmq' as const;
  protected override readonly bootTimeoutMs = 90_000;
  private beamPid: number | undefined;

  private constructor(
    port: number,
    private readonly distPort: number,
    /** Set for a member of a cluster (private-clusters.ts); a lone node has none. */
    readonly seat?: RabbitMqClusterSeat,
  ) {
    super(port);
  }

  static async create(seat?: RabbitMqClusterSeat, port?: number): Promise<PrivateRabbitMq> {
    return new PrivateRabbitMq(port ?? (await freeStablePort()), await freeStablePort(), seat);
  }

  /** The node's Erlang name, derived from its AMQP port (so peers can be named before they start). */
  static nodeNameFor(port: number): string {
    return `busgate-fault-${process.pid}-${port}@localhost`;
  }

  get nodeName(): string {
    return PrivateRabbitMq.nodeNameFor(this.port);
  }

  /** The environment rabbitmqctl and rabbitmq-queues need to talk to this node (its cookie). */
  get toolEnv(): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH, HOME: path.join(this.dir, 'home'), ERL_EPMD_ADDRESS: '127.0.0.1' };
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  override pid(): number | undefined {
    return this.beamPid;
  }

  protected async prepare(): Promise<void> {
    fs.mkdirSync(path.join(this.dir, 'home'), { recursive: true });
    fs.writeFileSync(path.join(this.dir, 'enabled_plugins'), '[].\n');
    fs.writeFileSync(path.join(this.dir, 'rabbitmq-env.conf'), '');
    const config = [`listeners.tcp.local = 127.0.0.1:${this.port}`];
    const seat = this.seat;
    if (seat !== undefined) {
      // Erlang distribution admits only nodes with the same cookie; classic_config names the peers,
      // and a node that finds one of them running joins its cluster.
      const cookie = path.join(this.dir, 'home', '.erlang.cookie');
      fs.writeFileSync(cookie, seat.cookie);
      fs.chmodSync(cookie, 0o400);
      config.push('cluster_formation.peer_discovery_backend = classic_config');
      seat.members.forEach((member, index) => config.push(`cluster_formation.classic_config.nodes.${index + 1} = ${member}`));
    }
    fs.writeFileSync(path.join(this.dir, 'rabbitmq.conf'), `${config.join('\n')}\n`);
  }

  protected command(): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
    const name = this.nodeName;
    return {
      file: RABBITMQ_SERVER,
      args: [],
      env: {
        PATH: process.env.PATH,
        HOME: path.join(this.dir, 'home'),
        RABBITMQ_NODENAME: name,
        RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
        RABBITMQ_NODE_PORT: String(this.port),
        RABBITMQ_DIST_PORT: String(this.distPort),
        RABBITMQ_CONFIG_FILE: path.join(this.dir, 'rabbitmq.conf'),
        RABBITMQ_CONF_ENV_FILE: path.join(this.dir, 'rabbitmq-env.conf'),
        RABBITMQ_MNESIA_BASE: path.join(this.dir, 'mnesia'),
        RABBITMQ_LOG_BASE: path.join(this.dir, 'log'),
        RABBITMQ_PID_FILE: path.join(this.dir, 'pid'),
        RABBITMQ_ENABLED_PLUGINS_FILE: path.join(this.dir, 'enabled_plugins'),
        ERL_EPMD_ADDRESS: '127.0.0.1',
      },
    };
  }

  /**
   * Starts again on the same ports with an empty data folder: the node lost its disk, or was
   * replaced by a new one. Call after kill().
   */
  async restartWithoutData(): Promise<void> {
    await this.exited();
    fs.rmSync(path.join(this.dir, 'mnesia'), { recursive: true, force: true });
    await this.launch();
  }

  protected override async launch(): Promise<void> {
    fs.rmSync(path.join(this.dir, 'pid'), { force: true });
    this.beamPid = undefined;
    await super.launch();
  }

  protected async ready(): Promise<boolean> {
    if (this.beamPid === undefined) {
      try {
        const text = fs.readFileSync(path.join(this.dir, 'pid'), 'utf8').trim();
        if (/^\d+$/.test(text)) this.beamPid = Number(text);
      } catch {
        // not written yet
      }
    }
    if (this.beamPid === undefined || !(await tcpReachable('127.0.0.1', this.port, 1000))) return false;
    return this.answersAsThisNode();
  }

  /**
   * Ready means: an AMQP handshake on our port reaches THIS node. An open port alone can be a
   * node still booting, a TCP self-connect (the port is in the ephemeral range), or, while ours
   * is down, a listener someone else opened on the freed port; traffic sent there would look
   * like messages lost by our node. Another node on our port fails the suite, loudly.
   */
  private async answersAsThisNode(): Promise<boolean> {
    let connection: amqplib.ChannelModel | undefined;
    try {
      connection = await amqplib.connect(this.url, { timeout: 2000 });
    } catch {
      return false;
    }
    connection.on('error', () => undefined);
    // The default cluster name is the node's name with the machine's host name after the @.
    const name = String(connection.connection.serverProperties.cluster_name);
    await connection.close().catch(() => undefined);
    // A cluster member reports the cluster's name, which is one of its members' node names.
    const expected = (this.seat?.members ?? [this.nodeName]).map((node) => node.split('@')[0]);
    if (!expected.includes(name.split('@')[0]))
      throw new Error(`port ${this.port} answers as RabbitMQ node "${name}", not as ${this.nodeName}: another broker took the port`);
    return true;
  }

  override async dispose(keep = false): Promise<void> {
    signal(this.beamPid, 'SIGCONT');
    signal(this.beamPid, 'SIGKILL');
    await super.dispose(keep);
  }
}

// ----------------------------------------------------------------------------------------- Kafka

/** A KRaft node's place in a 3-node cluster: the shared cluster id, its node id and every controller. */
export interface KafkaClusterSeat {
  readonly clusterId: string;
  readonly nodeId: number;
  /** controller.quorum.voters, e.g. `0@127.0.0.1:9001,1@127.0.0.1:9002,2@127.0.0.1:9003`. */
  readonly voters: string;
  readonly replicas: number;
}

/** A KRaft cluster id: 16 random bytes, base64url; never starting with "-" (StorageTool would read it as an option). */
export function kafkaClusterId(): string {
  let clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
  return clusterId;
}

/**
 * A KRaft node (broker + controller) from the jars scripts/brokers.sh fetched, with -Xmx256m.
 * Alone (fault suites): three listeners, PLAINTEXT (direct, inter-broker), CONTROLLER, and PROXIED,
 * whose advertised address is `proxyPort`, so a client bootstrapped through the fault proxy keeps
 * using the proxy for every connection that metadata sends it to. As a cluster member (with a
 * seat, private-clusters.ts): PLAINTEXT and CONTROLLER only, replication factor 3 everywhere.
 */
export class PrivateKafka extends Launcher {
  readonly kind = 'kafka' as const;
  protected override readonly bootTimeoutMs = 120_000;

  private constructor(
    readonly directPort: number,
    readonly controllerPort: number,
    /** The PROXIED listener; the proxy forwards proxyPort -> proxiedPort. */
    readonly proxiedPort: number | undefined,
    readonly proxyPort: number | undefined,
    readonly seat?: KafkaClusterSeat,
  ) {
    super(directPort);
  }

  static async create(proxyPort: number): Promise<PrivateKafka> {
    return new PrivateKafka(await freeStablePort(), await freeStablePort(), await freeStablePort(), proxyPort);
  }

  static member(seat: KafkaClusterSeat, directPort: number, controllerPort: number): PrivateKafka {
    return new PrivateKafka(directPort, controllerPort, undefined, undefined, seat);
  }

  private java(): string[] {
    const root = repoRoot();
    return [
      '-Xmx256m',
      '-Xms64m',
      '-XX:+UseSerialGC',
      '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${path.join(root, 'scripts/kafka/log4j.properties')}`,
      '-cp',
      `${path.join(root, '.brokers/kafka/jars')}/*`,
    ];
  }

  private properties(): string[] {
    const seat = this.seat;
    const replicas = seat?.replicas ?? 1;
    const listeners = [`PLAINTEXT://127.0.0.1:${this.directPort}`, `CONTROLLER://127.0.0.1:${this.controllerPort}`];
    const advertised = [`PLAINTEXT://127.0.0.1:${this.directPort}`];
    if (this.proxiedPort !== undefined && this.proxyPort !== undefined) {
      listeners.push(`PROXIED://127.0.0.1:${this.proxiedPort}`);
      advertised.push(`PROXIED://127.0.0.1:${this.proxyPort}`);
    }
    return [
      'process.roles=broker,controller',
      `node.id=${seat?.nodeId ?? 1}`,
      `controller.quorum.voters=${seat?.voters ?? `1@127.0.0.1:${this.controllerPort}`}`,
      `listeners=${listeners.join(',')}`,
      `advertised.listeners=${advertised.join(',')}`,
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,PROXIED:PLAINTEXT',
      'inter.broker.listener.name=PLAINTEXT',
      'controller.listener.names=CONTROLLER',
      `log.dirs=${path.join(this.dir, 'data')}`,
      'num.partitions=1',
      `default.replication.factor=${replicas}`,
      // With 3 replicas: an acks=all write is on at least 2 of them, so one broker's death loses nothing.
      `min.insync.replicas=${replicas > 1 ? 2 : 1}`,
      `offsets.topic.replication.factor=${replicas}`,
      'offsets.topic.num.partitions=1',
      `transaction.state.log.replication.factor=${replicas}`,
      `transaction.state.log.min.isr=${replicas > 1 ? 2 : 1}`,
      'transaction.state.log.num.partitions=1',
      'auto.create.topics.enable=false',
      'group.initial.rebalance.delay.ms=0',
      'num.network.threads=2',
      'num.io.threads=2',
      'log.retention.hours=1',
      // A member killed with -9 comes back under the same id: its old registration must expire fast.
      ...(seat ? ['broker.session.timeout.ms=3000', 'broker.heartbeat.interval.ms=1000'] : []),
      '',
    ];
  }

  protected async prepare(): Promise<void> {
    const props = path.join(this.dir, 'server.properties');
    fs.writeFileSync(props, this.properties().join('\n'));
    const clusterId = this.seat?.clusterId ?? kafkaClusterId();
    const format = spawnSync('java', [...this.java(), 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (format.status !== 0) throw new Error(`formatting private Kafka storage failed:\n${format.stdout}\n${format.stderr}`);
  }

  protected command(): { file: string; args: string[] } {
    return { file: 'java', args: [...this.java(), 'kafka.Kafka', path.join(this.dir, 'server.properties')] };
  }

  /** A metadata round trip on the direct listener: the port alone opens before the broker serves. */
  protected async ready(): Promise<boolean> {
    if (!(await tcpReachable('127.0.0.1', this.directPort, 1000))) return false;
    const admin = new kafkajs.Kafka({
      brokers: [`127.0.0.1:${this.directPort}`],
      logLevel: kafkajs.logLevel.NOTHING,
      retry: { retries: 0 },
      connectionTimeout: 1000,
      requestTimeout: 2000,
    }).admin();
    try {
      await admin.connect();
      await admin.listTopics();
      return true;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
