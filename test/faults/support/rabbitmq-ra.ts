/**
 * What a private RabbitMQ node's Ra directory holds on disk (issue 9, plugins/rabbitmq/README.md,
 * "A quorum queue without a leader after kill -9").
 *
 * RabbitMQ 3.10.8 (Ra 2.2.0) records each quorum queue member in `quorum/<node>/names.dets`, a DETS
 * file opened with `auto_save: 500`: a new entry reaches the file only once the table was left
 * alone for 500 ms (up to 3 s with DETS's write cache, later on a loaded machine). A node killed
 * before that restarts without the entry; `ra:restart_server` answers `name_not_registered`, the
 * node starts a NEW, empty member for the queue, and that member never calls an election (Ra
 * waits for an explicit trigger on a server with an empty log), so the queue has no leader, for
 * good, and its confirmed messages stay behind in the old member's folder.
 *
 * The fault suites model an operator who declared the queue long before traffic: they wait until
 * the file names the queue's member before the kill. Reading a copy leaves the node's own file
 * alone; `erl` opens it as the node would after a kill (repairing an unclosed file).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { eventually } from '../../support/net.js';

const run = promisify(execFile);

/** The Ra server name RabbitMQ 3.10 gives a quorum queue's member: `<vhost>_<queue>`, the default vhost written `%2F`. */
export function raServerName(queue: string, vhost = '/'): string {
  return `${vhost === '/' ? '%2F' : vhost}_${queue}`;
}

/** The quorum_queues Ra system's directory file under a node's data folder (the coordination system has its own). */
export function quorumDirectoryFile(nodeFolder: string): string | undefined {
  return findFile(path.join(nodeFolder, 'mnesia'), 'names.dets', (file) => file.split(path.sep).includes('quorum'));
}

function findFile(dir: string, name: string, accept: (file: string) => boolean): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const found = entry.isDirectory() ? findFile(full, name, accept) : entry.name === name && accept(full) ? full : undefined;
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The Ra server names the node's quorum Ra directory holds on disk right now (empty before the first quorum queue). */
export async function registeredRaServers(nodeFolder: string): Promise<string[]> {
  const file = quorumDirectoryFile(nodeFolder);
  if (file === undefined) return [];
  return erlOnCopy(file, (copy) => `{ok, T} = dets:open_file(t, [{file, "${copy}"}]), [io:format("~s~n", [K]) || {K, _} <- dets:match_object(T, '_')]`);
}

/**
 * Runs `erl -eval` on a copy of a node's file (the node's own file is never opened) and returns
 * the lines it printed. `body(copy)` is Erlang expressions separated by commas, printing lines.
 */
export async function erlOnCopy(file: string, body: (copy: string) => string): Promise<string[]> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-erl-'));
  try {
    const copy = path.join(scratch, path.basename(file));
    fs.copyFileSync(file, copy);
    const { stdout } = await run('erl', ['-noshell', '-eval', `${body(copy)}, halt().`], { timeout: 60_000 });
    return stdout.split('\n').filter((line) => line.length > 0);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Resolves once the node's Ra directory on disk names every queue's member, that is, once a kill -9
 * no longer makes the node start new, empty members for them. Fails after `timeoutMs`.
 */
export async function awaitRaRegistration(nodeFolder: string, queues: readonly string[], timeoutMs = 30_000): Promise<void> {
  const wanted = queues.map((queue) => raServerName(queue));
  let missing = wanted;
  await eventually(
    async () => {
      const registered = new Set(await registeredRaServers(nodeFolder));
      missing = wanted.filter((name) => !registered.has(name));
      return missing.length === 0;
    },
    timeoutMs,
    `the Ra directory of the node in ${nodeFolder} to name ${missing.join(', ')} on disk`,
    100,
  );
}
