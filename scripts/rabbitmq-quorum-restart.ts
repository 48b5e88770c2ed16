/**
 * Reproduces, on purpose, the single-node quorum queue that has no leader after a kill -9 (issue 9,
 * the pending quorum kill scenario). On a PRIVATE node (test/faults/support/private-brokers.ts; the
 * shared broker on 5672 is never touched) each trial:
 *   1. declares a quorum queue and publishes confirmed persistent messages into it (8 in flight)
 *      for `--age` ms;
 *   2. kill -9s the node, and, between the kill and the restart, reads which Ra server ids the
 *      node's Ra directory (`quorum/<node>/names.dets`, a DETS file) holds: a copy of the file is
 *      opened with `erl`, so the node's own file is not touched;
 *   3. restarts the node on the same data and asks, for `--wait` seconds, whether a publish to the
 *      queue is confirmed (a confirm needs a leader), and how many Ra data folders exist (a second
 *      one means the node started a new, empty member for the queue).
 *
 * Usage (after npm run build):
 *   node dist/scripts/rabbitmq-quorum-restart.js [--trials 5] [--age 1600] [--wait 30] [--keep]
 */
import amqplib from 'amqplib';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PrivateRabbitMq } from '../test/faults/support/private-brokers.js';
import { quorumDirectoryFile, raServerName, registeredRaServers } from '../test/faults/support/rabbitmq-ra.js';
import { sleep } from '../test/support/net.js';

interface Args {
  trials: number;
  ageMs: number;
  waitS: number;
  keep: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { trials: 5, ageMs: 1600, waitS: 30, keep: false };
  for (let i = 0; i < argv.length; i += 1) {
    const value = Number(argv[i + 1]);
    if (argv[i] === '--keep') args.keep = true;
    else if (argv[i] === '--trials') args.trials = value;
    else if (argv[i] === '--age') args.ageMs = value;
    else if (argv[i] === '--wait') args.waitS = value;
    else throw new Error(`unknown argument ${argv[i]}`);
    if (argv[i] !== '--keep') i += 1;
  }
  return args;
}

interface Trial {
  readonly queue: string;
  readonly confirmed: number;
  readonly ageAtKillMs: number;
  /** Whether the node's Ra directory named the queue's Ra server when it was killed. */
  readonly registeredAtKill: boolean;
  readonly raFoldersBefore: number;
  readonly raFoldersAfter: number;
  /** Milliseconds from "the node serves AMQP again" to the first confirmed publish; undefined: none in --wait. */
  readonly leaderAfterMs: number | undefined;
}

/** Publishes confirmed persistent messages, 8 in flight, until `untilMs`; returns how many were confirmed. */
async function publishFor(channel: amqplib.ConfirmChannel, queue: string, untilMs: number): Promise<number> {
  let confirmed = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < untilMs) {
      await new Promise<void>((resolve, reject) =>
        channel.sendToQueue(queue, Buffer.from('x'), { persistent: true }, (error: unknown) =>
          error ? reject(new Error(`publish to ${queue} not confirmed`, { cause: error })) : resolve(),
        ),
      );
      confirmed += 1;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return confirmed;
}

/** The Ra data folders next to names.dets: one per Ra server this node ever started (every queue, every new member). */
function raFolders(folder: string): number {
  const dets = quorumDirectoryFile(folder);
  if (dets === undefined) return 0;
  return fs.readdirSync(path.dirname(dets), { withFileTypes: true }).filter((entry) => entry.isDirectory()).length;
}

async function confirmOne(url: string, queue: string, timeoutMs: number): Promise<boolean> {
  let connection: amqplib.ChannelModel | undefined;
  try {
    connection = await amqplib.connect(url, { timeout: 2000 });
    connection.on('error', () => undefined);
    const channel = await connection.createConfirmChannel();
    channel.on('error', () => undefined);
    const confirm = new Promise<boolean>((resolve) => channel.sendToQueue(queue, Buffer.from('probe'), { persistent: true }, (error) => resolve(!error)));
    return await Promise.race([confirm, sleep(timeoutMs).then(() => false)]);
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

async function trial(broker: PrivateRabbitMq, n: number, args: Args): Promise<Trial> {
  const queue = `qrestart${n}x${Date.now().toString(36)}`;
  const connection = await amqplib.connect(broker.url);
  connection.on('error', () => undefined);
  const channel = await connection.createConfirmChannel();
  channel.on('error', () => undefined);
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  const declaredAt = Date.now();
  const confirmed = await publishFor(channel, queue, declaredAt + args.ageMs);
  broker.kill();
  const ageAtKillMs = Date.now() - declaredAt;
  await sleep(500);
  const registeredAtKill = (await registeredRaServers(broker.folder)).includes(raServerName(queue));
  const raFoldersBefore = raFolders(broker.folder);
  await broker.restart();
  const backAt = Date.now();
  let leaderAfterMs: number | undefined;
  while (Date.now() - backAt < args.waitS * 1000) {
    if (await confirmOne(broker.url, queue, 2000)) {
      leaderAfterMs = Date.now() - backAt;
      break;
    }
  }
  return { queue, confirmed, ageAtKillMs, registeredAtKill, raFoldersBefore, raFoldersAfter: raFolders(broker.folder), leaderAfterMs };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const broker = await PrivateRabbitMq.create();
  await broker.start();
  const trials: Trial[] = [];
  try {
    for (let n = 1; n <= args.trials; n += 1) {
      const t = await trial(broker, n, args);
      trials.push(t);
      console.log(
        `trial ${n}: ${t.confirmed} confirmed, killed ${t.ageAtKillMs} ms after the declaration; Ra directory named it at the kill: ${t.registeredAtKill}; ` +
          `Ra folders ${t.raFoldersBefore} -> ${t.raFoldersAfter}; leader after restart: ${t.leaderAfterMs === undefined ? `NONE within ${args.waitS} s` : `${t.leaderAfterMs} ms`} (load ${os.loadavg()[0]!.toFixed(1)})`,
      );
    }
  } finally {
    await broker.dispose(args.keep);
  }
  const leaderless = trials.filter((t) => t.leaderAfterMs === undefined);
  const unregistered = trials.filter((t) => !t.registeredAtKill);
  console.log(
    `\n${trials.length} trials: ${leaderless.length} without a leader, ${unregistered.length} not in the Ra directory at the kill, ` +
      `${leaderless.filter((t) => !t.registeredAtKill).length} of the leaderless ones among those`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
