/**
 * Scaling out on one box: N busgate daemons behind one port with node:cluster. Each worker is the
 * unmodified `busgate start` (dist/core/cli.js); the primary owns the listening socket and hands
 * each new connection to the workers in turn (cluster's default round-robin scheduling on Linux),
 * so keep-alive connections spread evenly and the primary costs nothing per request.
 *
 *   node dist/bench/cluster.js WORKERS [busgate start flags...]     e.g. 2 --config bench.yaml
 *
 * Prints `READY <pids>` once every worker listens; SIGTERM stops every worker (each drains as
 * `busgate start` does on SIGTERM), then the primary exits.
 */
import cluster, { type Worker } from 'node:cluster';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const count = Math.max(1, Number(process.argv[2] ?? 2));
const here = path.dirname(fileURLToPath(import.meta.url));
cluster.schedulingPolicy = cluster.SCHED_RR;
cluster.setupPrimary({ exec: path.join(here, '..', 'core', 'cli.js'), args: ['start', ...process.argv.slice(3)] });

const workers: Worker[] = [];
let listening = 0;
let stopping = false;
for (let i = 0; i < count; i++) {
  const worker = cluster.fork();
  workers.push(worker);
  worker.once('listening', () => {
    listening += 1;
    if (listening === count) console.log(`READY ${workers.map((w) => w.process.pid).join(',')}`);
  });
  worker.once('exit', (code, signal) => {
    if (!stopping) console.error(`cluster: worker ${worker.process.pid} exited (${signal ?? code}) before being asked to`);
    if (workers.every((w) => w.isDead())) process.exit(stopping ? 0 : 1);
  });
}

const stop = (): void => {
  if (stopping) return;
  stopping = true;
  for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGTERM');
  setTimeout(() => {
    for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGKILL');
    process.exit(0);
  }, 8000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
