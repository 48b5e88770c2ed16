/**
 * Reproduces, on purpose, what a kill -9 costs a RabbitMQ node shortly after a queue was declared
 * (issue 9). On a PRIVATE node (test/faults/support/private-brokers.ts; the shared broker on 5672
 * is never touched) each trial:
 *   1. declares a durable queue every `--every` ms for `--span` seconds, and right after each
 *      declaration publishes `--messages` persistent messages to it on a confirm channel and waits
 *      for every confirm;
 *   2. kill -9s the node (beam.smp) the moment the last queue is confirmed, then restarts it on
 *      the same data;
 *   3. asks the restarted node, queue by queue, whether the queue still exists and how many of its
 *      confirmed messages it holds, and reads "Recovering N queues" from the node's own log.
 * The table groups queues by their age at the kill (declare-ok to SIGKILL), so it shows which part
 * is lost (the definition, the messages, or both) and from what age on a declaration survives.
 *
 * `--barrier` (stream only) runs the plugin's definitions barrier (flushDefinitions) after the declaration.
 * Usage (after npm run build):
 *   node dist/scripts/rabbitmq-declare-durability.js [--trials 3] [--span 30] [--every 500]
 *        [--messages 5] [--type classic|quorum] [--settle 0] [--recount 5] [--json out.json] [--keep]
 * `--settle S` waits S seconds after the node first boots before the first trial (node age).
 */
import amqplib from 'amqplib';
import fs from 'node:fs';
import path from 'node:path';
import { PrivateRabbitMq } from '../test/faults/support/private-brokers.js';
import { queueDefinitionStates, type DefinitionState } from '../test/faults/support/rabbitmq-mnesia.js';
import { flushDefinitions } from '../plugins/rabbitmq/topology.js';
import { sleep } from '../test/support/net.js';

interface Args {
  trials: number;
  spanS: number;
  everyMs: number;
  messages: number;
  type: 'classic' | 'quorum';
  settleS: number;
  json: string | undefined;
  keep: boolean;
  pattern: 'spread' | 'stream';
  recountS: number;
  /** Runs the plugin's definitions barrier (topology.ts flushDefinitions) right after the declarations. */
  barrier: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    trials: 3,
    spanS: 30,
    everyMs: 500,
    messages: 5,
    type: 'classic',
    settleS: 0,
    json: undefined,
    keep: false,
    pattern: 'spread',
    recountS: 5,
    barrier: false,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1] ?? '';
    switch (argv[i]) {
      case '--trials':
        args.trials = Number(value);
        break;
      case '--span':
        args.spanS = Number(value);
        break;
      case '--every':
        args.everyMs = Number(value);
        break;
      case '--messages':
        args.messages = Number(value);
        break;
      case '--type':
        args.type = value === 'quorum' ? 'quorum' : 'classic';
        break;
      case '--settle':
        args.settleS = Number(value);
        break;
      case '--json':
        args.json = value;
        break;
      case '--keep':
        args.keep = true;
        i -= 1;
        break;
      case '--recount':
        args.recountS = Number(value);
        break;
      case '--barrier':
        args.barrier = true;
        i -= 1;
        break;
      case '--pattern':
        args.pattern = value === 'stream' ? 'stream' : 'spread';
        break;
      default:
        throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return args;
}

interface QueueProbe {
  readonly trial: number;
  readonly queue: string;
  /** When declare-ok came back. */
  readonly declaredAt: number;
  /** How long the node had been up (this incarnation) when the queue was declared. */
  readonly nodeUpMs: number;
  confirmed: number;
  ageAtKillMs: number;
  existsAfter: boolean;
  messagesAfter: number;
  /** The count asked for right after the restart (a quorum queue may still be replaying its log). */
  messagesRightAfter: number;
  /** Metadata files (mnesia logs and tables) that held the queue's name right after the kill. */
  metadataFilesAtKill: string[];
  /** Where Mnesia had the definition at the kill (test/faults/support/rabbitmq-mnesia.ts). */
  definitionAtKill?: DefinitionState;
  /** What the node answered the passive declare of a queue it did not report (its channel-close text). */
  missingBecause?: string;
}

interface TrialSummary {
  readonly trial: number;
  readonly queues: number;
  readonly survived: number;
  readonly restartMs: number;
  /** The youngest queue that survived and the oldest that was lost (ms at the kill). */
  readonly youngestSurvivorMs: number | undefined;
  readonly oldestLostMs: number | undefined;
}

function queueArguments(type: Args['type']): Record<string, unknown> {
  return { 'x-queue-type': type };
}

async function openChannel(url: string): Promise<{ connection: amqplib.ChannelModel; channel: amqplib.ConfirmChannel }> {
  const connection = await amqplib.connect(url);
  // The node is killed under this connection, as in production: no clean close, errors expected.
  connection.on('error', () => undefined);
  const channel = await connection.createConfirmChannel();
  channel.on('error', () => undefined);
  return { connection, channel };
}

/** spread: a new queue every `everyMs` for `spanS` seconds, each with `messages` confirmed messages. */
async function spread(url: string, args: Args, trial: number, nodeBootedAt: number): Promise<QueueProbe[]> {
  const { connection, channel } = await openChannel(url);
  const probes: QueueProbe[] = [];
  const until = Date.now() + args.spanS * 1000;
  try {
    for (let index = 0; Date.now() < until; index += 1) {
      const started = Date.now();
      const queue = `repro-${args.type}-t${trial}-${String(index).padStart(4, '0')}`;
      await channel.assertQueue(queue, { durable: true, arguments: queueArguments(args.type) });
      const declaredAt = Date.now();
      for (let m = 0; m < args.messages; m += 1) {
        channel.sendToQueue(queue, Buffer.from(`${queue}:${m}`), { persistent: true, messageId: `${queue}:${m}` });
      }
      await channel.waitForConfirms();
      probes.push(newProbe(trial, queue, declaredAt, nodeBootedAt, args.messages));
      // The last queue is killed right after its confirms: the youngest declaration possible.
      if (started + 2 * args.everyMs >= until) break;
      await sleep(Math.max(0, args.everyMs - (Date.now() - started)));
    }
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw error;
  }
  return probes;
}

/**
 * stream: what the fault suite did with `declare: true` on first use: one queue declared, then a
 * stream of confirmed persistent publishes (8 in flight) into it until the kill.
 */
async function stream(url: string, args: Args, trial: number, nodeBootedAt: number): Promise<QueueProbe[]> {
  const { connection, channel } = await openChannel(url);
  const queue = `repro-${args.type}-stream-t${trial}`;
  try {
    await channel.assertQueue(queue, { durable: true, arguments: queueArguments(args.type) });
    if (args.barrier) await flushDefinitions(connection);
    const probe = newProbe(trial, queue, Date.now(), nodeBootedAt, 0);
    const until = Date.now() + args.spanS * 1000;
    let sent = 0;
    const publisher = async (): Promise<void> => {
      while (Date.now() < until) {
        const id = `${queue}:${sent++}`;
        await new Promise<void>((resolve, reject) =>
          channel.sendToQueue(queue, Buffer.from(id), { persistent: true, messageId: id }, (error: unknown) =>
            error ? reject(new Error(`publish of ${id} not confirmed`, { cause: error })) : resolve(),
          ),
        );
        probe.confirmed += 1;
      }
    };
    await Promise.all(Array.from({ length: 8 }, publisher));
    return [probe];
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw error;
  }
}

function newProbe(trial: number, queue: string, declaredAt: number, nodeBootedAt: number, confirmed: number): QueueProbe {
  return {
    trial,
    queue,
    declaredAt,
    nodeUpMs: declaredAt - nodeBootedAt,
    confirmed,
    ageAtKillMs: 0,
    existsAfter: false,
    messagesAfter: 0,
    messagesRightAfter: 0,
    metadataFilesAtKill: [],
  };
}

async function inspectAll(url: string, probes: QueueProbe[]): Promise<void> {
  const connection = await amqplib.connect(url);
  try {
    for (const probe of probes) {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      try {
        const reply = await channel.checkQueue(probe.queue);
        probe.existsAfter = true;
        probe.messagesAfter = reply.messageCount;
        await channel.close();
      } catch (error) {
        probe.existsAfter = false;
        probe.missingBecause = error instanceof Error ? error.message : String(error);
      }
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/**
 * Which of the node's metadata files (mnesia's transaction log LATEST.LOG and its table files
 * *.DCD / *.DCL, not the message store) hold each queue's name, read between the kill and the
 * restart: mnesia stores the name as a binary, verbatim. This says whether the definition had
 * reached the disk before the kill, or was lost later, during recovery.
 */
function metadataMentions(folder: string, probes: QueueProbe[]): void {
  const base = path.join(folder, 'mnesia');
  const nodeDir = fs
    .readdirSync(base)
    .map((name) => path.join(base, name))
    .find((dir) => fs.statSync(dir).isDirectory() && !dir.endsWith('-plugins-expand'));
  if (nodeDir === undefined) return;
  const files = fs.readdirSync(nodeDir).filter((name) => /\.(LOG|DCD|DCL|DAT)$/.test(name));
  // A copy of the metadata as the kill left it (kept with the folder when a queue is lost, --keep),
  // since the restart replays and rewrites these files.
  const snapshot = path.join(folder, `mnesia-at-kill-${Date.now()}`);
  fs.mkdirSync(snapshot);
  for (const name of files) fs.copyFileSync(path.join(nodeDir, name), path.join(snapshot, name));
  const contents = files.map((name) => ({ name, data: fs.readFileSync(path.join(nodeDir, name)) }));
  for (const probe of probes) {
    probe.metadataFilesAtKill = contents.filter((file) => file.data.includes(probe.queue)).map((file) => file.name);
  }
}

function bucketOf(ageMs: number): string {
  const edges = [1000, 2000, 3000, 4000, 5000, 6000, 8000, 10_000, 15_000, 20_000, 30_000, 60_000];
  let low = 0;
  for (const edge of edges) {
    if (ageMs < edge) return `${low / 1000}-${edge / 1000} s`;
    low = edge;
  }
  return `>= ${low / 1000} s`;
}

/** One kill -9 + restart on `broker`, after `load` declared and published. */
async function trialOn(broker: PrivateRabbitMq, args: Args, trial: number, bootedAt: number): Promise<{ probes: QueueProbe[]; summary: TrialSummary }> {
  const probes = await (args.pattern === 'stream' ? stream : spread)(broker.url, args, trial, bootedAt);
  const killedAt = Date.now();
  broker.kill();
  for (const probe of probes) probe.ageAtKillMs = killedAt - probe.declaredAt;
  await sleep(300);
  metadataMentions(broker.folder, probes);
  const states = await queueDefinitionStates(
    broker.folder,
    probes.map((p) => p.queue),
  );
  for (const probe of probes) probe.definitionAtKill = states.get(probe.queue);
  const restartStarted = Date.now();
  await broker.restart();
  const restartMs = Date.now() - restartStarted;
  await inspectAll(broker.url, probes);
  for (const probe of probes) probe.messagesRightAfter = probe.messagesAfter;
  // Counted again once the node has settled: a count that grows was still being recovered.
  await sleep(args.recountS * 1000);
  await inspectAll(broker.url, probes);
  const recovering = probes.filter((p) => p.messagesAfter !== p.messagesRightAfter).length;
  if (recovering > 0) console.log(`  ${recovering} queue(s) reported a different count ${args.recountS} s later (still recovering at the first count)`);
  const survivors = probes.filter((p) => p.existsAfter);
  const lost = probes.filter((p) => !p.existsAfter);
  const summary: TrialSummary = {
    trial,
    queues: probes.length,
    survived: survivors.length,
    restartMs,
    youngestSurvivorMs: survivors.length ? Math.min(...survivors.map((p) => p.ageAtKillMs)) : undefined,
    oldestLostMs: lost.length ? Math.max(...lost.map((p) => p.ageAtKillMs)) : undefined,
  };
  const onDisk = (list: QueueProbe[]): string => {
    const held = list.filter((p) => p.metadataFilesAtKill.some((f) => f !== 'schema.DAT')).length;
    return `${held}/${list.length}`;
  };
  console.log(
    `trial ${trial}: ${probes.length} ${args.type} queue(s), ${survivors.length} exist after kill -9 + restart (restart ${restartMs} ms); ` +
      `definition on disk at the kill: survivors ${onDisk(survivors)}, lost ${onDisk(lost)}; oldest lost ${summary.oldestLostMs ?? '-'} ms, youngest kept ${summary.youngestSurvivorMs ?? '-'} ms` +
      (args.pattern === 'stream' ? `; confirmed ${probes[0]!.confirmed}, found ${probes[0]!.messagesAfter}` : ''),
  );
  for (const probe of lost) {
    console.log(`  ${probe.queue}: ${probe.missingBecause ?? '?'}; its name was in ${probe.metadataFilesAtKill.join(', ') || 'no metadata file'} at the kill`);
  }
  const pending = probes.filter((p) => p.definitionAtKill !== 'on disk');
  console.log(
    `  definition at the kill: ${probes.map((p) => p.definitionAtKill ?? '?').join(', ')}; of those not on disk, ${pending.filter((p) => !p.existsAfter).length}/${pending.length} missing after the restart`,
  );
  return { probes, summary };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const all: QueueProbe[] = [];
  const trials: TrialSummary[] = [];
  // spread: one node for every trial (it gets older); stream: a fresh node per trial, like the suite.
  const nodes = args.pattern === 'stream' ? args.trials : 1;
  const perNode = args.pattern === 'stream' ? 1 : args.trials;
  for (let n = 0; n < nodes; n += 1) {
    const broker = await PrivateRabbitMq.create();
    let failed = false;
    try {
      const bootStarted = Date.now();
      await broker.start();
      console.log(`private node up on port ${broker.port} after ${Date.now() - bootStarted} ms (data in ${broker.folder})`);
      if (args.settleS > 0) await sleep(args.settleS * 1000);
      for (let t = 1; t <= perNode; t += 1) {
        const { probes, summary } = await trialOn(broker, args, n * perNode + t, Date.now());
        all.push(...probes);
        trials.push(summary);
        if (probes.some((p) => !p.existsAfter)) failed = true;
      }
    } catch (error) {
      failed = true;
      console.error(error);
      console.error(broker.logTail());
      process.exitCode = 1;
    } finally {
      await broker.dispose(args.keep && failed);
    }
  }

  const buckets = new Map<string, { queues: number; defsLost: number; confirmed: number; messagesFound: number; lostOnDisk: number; order: number }>();
  for (const probe of all) {
    const key = bucketOf(probe.ageAtKillMs);
    const row = buckets.get(key) ?? { queues: 0, defsLost: 0, confirmed: 0, messagesFound: 0, lostOnDisk: 0, order: probe.ageAtKillMs };
    row.queues += 1;
    row.order = Math.min(row.order, probe.ageAtKillMs);
    row.confirmed += probe.confirmed;
    row.messagesFound += probe.messagesAfter;
    if (!probe.existsAfter) {
      row.defsLost += 1;
      if (probe.metadataFilesAtKill.some((f) => f !== 'schema.DAT')) row.lostOnDisk += 1;
    }
    buckets.set(key, row);
  }
  console.log(`\n${args.pattern}: ${args.type} queues, ${trials.length} kill -9 trial(s)`);
  console.log(
    '| age of the declaration at kill -9 | queues | definition lost | of those, definition was on disk at the kill | confirmed messages | found after restart |',
  );
  console.log('|---|--:|--:|--:|--:|--:|');
  for (const [key, row] of [...buckets].sort((a, b) => a[1].order - b[1].order)) {
    console.log(`| ${key} | ${row.queues} | ${row.defsLost} | ${row.lostOnDisk} | ${row.confirmed} | ${row.messagesFound} |`);
  }
  if (args.json) fs.writeFileSync(args.json, `${JSON.stringify({ args, trials, probes: all }, null, 2)}\n`);
}

await main();
