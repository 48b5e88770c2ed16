/**
 * Whether a private RabbitMQ node's queue definitions would survive a kill -9 (issue 9,
 * plugins/rabbitmq/README.md, "A classic queue missing after kill -9").
 *
 * RabbitMQ 3.10.8 declares a durable queue in one Mnesia transaction over a RAM table
 * (rabbit_queue) and a disc table (rabbit_durable_queue), which Mnesia commits with its
 * asymmetric protocol: the commit record goes to LATEST.LOG marked `presume_abort`, and the
 * "committed" decision follows as a separate record, cast to mnesia_recover and appended without a
 * sync, after declare-ok. Until something syncs the log (the next durable metadata change, or
 * Mnesia's log dump, by default every 3 minutes) the decision can sit in the log's write cache; a
 * node killed then restarts, finds no decision, and aborts the declaration: the queue is gone.
 *
 * The check reads copies of the node's files: a definition is on disk when the table files
 * (rabbit_durable_queue.DCD/.DCL, written by a log dump) hold it, or when LATEST.LOG holds its
 * commit together with a committed decision.
 */
import fs from 'node:fs';
import path from 'node:path';
import { eventually } from '../../support/net.js';
import { erlOnCopy } from './rabbitmq-ra.js';

export type DefinitionState = 'on disk' | 'decision not on disk' | 'not on disk';

/** The node's Mnesia folder (`mnesia/<node>`, next to `<node>-plugins-expand`). */
function mnesiaFolder(nodeFolder: string): string | undefined {
  const base = path.join(nodeFolder, 'mnesia');
  if (!fs.existsSync(base)) return undefined;
  const entry = fs.readdirSync(base, { withFileTypes: true }).find((e) => e.isDirectory() && !e.name.endsWith('-plugins-expand'));
  return entry === undefined ? undefined : path.join(base, entry.name);
}

/**
 * The queues' definitions in Mnesia's transaction log, as Mnesia would read it after a kill:
 * `committed` when the commit needs no decision (presume_commit) or its committed decision is
 * there too, `pending` when only the commit is.
 */
async function inTransactionLog(log: string): Promise<Map<string, 'committed' | 'pending'>> {
  const lines = await erlOnCopy(
    log,
    (copy) =>
      `L = case disk_log:open([{name, l}, {file, "${copy}"}, {repair, true}, {mode, read_write}]) of {ok, N} -> N; {repaired, N, _, _} -> N end, ` +
      `Read = fun R(C, Acc) -> case disk_log:chunk(L, C) of eof -> Acc; {error, _} -> Acc; {C2, T} -> R(C2, Acc ++ T); {C2, T, _} -> R(C2, Acc ++ T) end end, ` +
      `Terms = Read(start, []), ` +
      `Done = [Tid || {decision, Tid, committed, _, _} <- Terms], ` +
      `Outcome = fun (presume_commit) -> committed; ({decision, Tid, _, _, _}) -> case lists:member(Tid, Done) of true -> committed; false -> pending end; (_) -> pending end, ` +
      `[io:format("~s ~s~n", [Outcome(element(3, C)), Name]) || C <- Terms, is_tuple(C), element(1, C) =:= commit, {{rabbit_durable_queue, {resource, _, queue, Name}}, _, write} <- element(5, C)]`,
  );
  const states = new Map<string, 'committed' | 'pending'>();
  for (const line of lines) {
    const space = line.indexOf(' ');
    // A later record of the same queue wins, as it does when Mnesia replays the log.
    states.set(line.slice(space + 1), line.slice(0, space) === 'committed' ? 'committed' : 'pending');
  }
  return states;
}

/** Where each queue's definition stands on the node's disk right now. */
export async function queueDefinitionStates(nodeFolder: string, queues: readonly string[]): Promise<Map<string, DefinitionState>> {
  const folder = mnesiaFolder(nodeFolder);
  const states = new Map<string, DefinitionState>(queues.map((queue) => [queue, 'not on disk']));
  if (folder === undefined) return states;
  const tables = ['rabbit_durable_queue.DCD', 'rabbit_durable_queue.DCL']
    .map((name) => path.join(folder, name))
    .filter((file) => fs.existsSync(file))
    .map((file) => fs.readFileSync(file));
  // Mnesia replays PREVIOUS.LOG (a dump in progress) before LATEST.LOG.
  const logs = ['PREVIOUS.LOG', 'LATEST.LOG'].map((name) => path.join(folder, name)).filter((file) => fs.existsSync(file));
  const logged = new Map<string, 'committed' | 'pending'>();
  for (const log of logs) for (const [queue, state] of await inTransactionLog(log)) logged.set(queue, state);
  for (const queue of queues) {
    if (logged.get(queue) === 'committed' || tables.some((table) => table.includes(queue))) states.set(queue, 'on disk');
    else if (logged.get(queue) === 'pending') states.set(queue, 'decision not on disk');
  }
  return states;
}

/** Resolves once every queue's definition would survive a kill -9 of the node; fails after `timeoutMs`. */
export async function awaitDurableDefinitions(nodeFolder: string, queues: readonly string[], timeoutMs = 30_000): Promise<void> {
  let last = new Map<string, DefinitionState>();
  await eventually(
    async () => {
      last = await queueDefinitionStates(nodeFolder, queues);
      return [...last.values()].every((state) => state === 'on disk');
    },
    timeoutMs,
    `the definitions of ${queues.join(', ')} on the disk of the node in ${nodeFolder}`,
    100,
  ).catch((error: unknown) => {
    // eventually() built its message before the last look: report what the last look saw.
    throw new Error(`${String(error)}; last look: ${[...last].map(([q, s]) => `${q}: ${s}`).join(', ')}`);
  });
}
