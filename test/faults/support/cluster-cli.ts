/**
 * Starts and stops the private three-node clusters outside the test suites, for trying things by
 * hand: `bash scripts/brokers.sh cluster start|stop|status nats|rabbitmq|kafka` runs this (after
 * npm run build:all). The members are the fault suites' own launchers (private-clusters.ts): temporary
 * folders, free ports, nothing shared. What was started is written to .brokers/cluster-<kind>.json;
 * stop signals those pids only (each checked against its command line first) and removes the folders.
 */
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from '../../support/net.js';
import { repoRoot } from './private-brokers.js';
import { KafkaCluster, NatsCluster, RabbitMqCluster, type PrivateCluster } from './private-clusters.js';

type Kind = 'nats' | 'rabbitmq' | 'kafka';

interface Started {
  readonly kind: Kind;
  readonly clients: string;
  readonly members: Array<{ readonly pid: number; readonly port: number; readonly folder: string }>;
}

/** What each member's command line contains, so a recycled pid is never signalled. */
const PROCESS_MARK: Record<Kind, string> = { nats: 'nats-server', rabbitmq: 'beam', kafka: 'kafka.Kafka' };

const stateFile = (kind: Kind): string => path.join(repoRoot(), '.brokers', `cluster-${kind}.json`);

function say(kind: Kind, text: string): void {
  console.log(`${`${kind} cluster:`.padEnd(18)} ${text}`);
}

async function create(kind: Kind): Promise<{ cluster: PrivateCluster; clients: () => string }> {
  switch (kind) {
    case 'nats': {
      const cluster = await NatsCluster.create();
      return { cluster, clients: () => `NATS_URL=${cluster.url}` };
    }
    case 'rabbitmq': {
      const cluster = await RabbitMqCluster.create();
      return { cluster, clients: () => `AMQP_URL=${cluster.url}` };
    }
    case 'kafka': {
      const cluster = await KafkaCluster.create();
      return { cluster, clients: () => `KAFKA_BROKERS=${cluster.brokers.join(',')}` };
    }
  }
}

function running(pid: number, kind: Kind): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(PROCESS_MARK[kind]);
  } catch {
    return false;
  }
}

function read(kind: Kind): Started | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(kind), 'utf8')) as Started;
  } catch {
    return undefined;
  }
}

async function start(kind: Kind): Promise<void> {
  const previous = read(kind);
  if (previous?.members.some((member) => running(member.pid, kind))) {
    say(kind, `running (${previous.clients})`);
    return;
  }
  const started = Date.now();
  const { cluster, clients } = await create(kind);
  try {
    await cluster.start();
  } catch (error) {
    say(kind, `FAILED to form: ${error instanceof Error ? error.message : String(error)}\n${cluster.logTail()}`);
    await cluster.dispose(true);
    process.exitCode = 1;
    return;
  }
  const state: Started = {
    kind,
    clients: clients(),
    members: cluster.nodes.map((node) => ({ pid: node.pid()!, port: node.port, folder: node.folder })),
  };
  for (const node of cluster.nodes) node.release();
  fs.mkdirSync(path.dirname(stateFile(kind)), { recursive: true });
  fs.writeFileSync(stateFile(kind), `${JSON.stringify(state, null, 2)}\n`);
  say(kind, `started 3 members in ${Math.round((Date.now() - started) / 1000)} s: ${state.clients} (logs in ${state.members.map((m) => m.folder).join(' ')})`);
}

async function stop(kind: Kind): Promise<void> {
  const state = read(kind);
  if (state === undefined) {
    say(kind, 'not started by this script; nothing to stop');
    return;
  }
  const mine = state.members.filter((member) => running(member.pid, kind));
  for (const member of mine) process.kill(member.pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && mine.some((member) => running(member.pid, kind))) await sleep(250);
  for (const member of mine) if (running(member.pid, kind)) process.kill(member.pid, 'SIGKILL');
  for (const member of state.members) fs.rmSync(member.folder, { recursive: true, force: true });
  fs.rmSync(stateFile(kind), { force: true });
  say(kind, `stopped ${mine.length} member(s)`);
}

function status(kind: Kind): void {
  const state = read(kind);
  const up = state?.members.filter((member) => running(member.pid, kind)).length ?? 0;
  if (state === undefined) say(kind, 'not started');
  else say(kind, `${up} of ${state.members.length} members running (${state.clients})`);
  if (state !== undefined && up < state.members.length) process.exitCode = 1;
}

async function main(): Promise<void> {
  const [action, ...kinds] = process.argv.slice(2);
  const chosen = (kinds.length > 0 ? kinds : ['nats', 'rabbitmq', 'kafka']) as Kind[];
  if (!['start', 'stop', 'status'].includes(action ?? '') || chosen.some((kind) => !(kind in PROCESS_MARK))) {
    console.error('usage: bash scripts/brokers.sh cluster start|stop|status [nats|rabbitmq|kafka ...]');
    process.exit(2);
  }
  // One at a time: three clusters booting at once would not fit two cores.
  for (const kind of chosen) {
    if (action === 'start') await start(kind);
    else if (action === 'stop') await stop(kind);
    else status(kind);
  }
}

await main();
