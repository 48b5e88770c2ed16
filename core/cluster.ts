/**
 * Every core behind one port (node:cluster). The primary owns the listening socket and hands each
 * new connection to the workers in turn; each worker is a whole daemon (its own broker
 * connections, its own reply inbox, reply queue or Kafka reply group, so a reply always reaches
 * the worker that asked). What must look like one daemon from outside goes through the primary:
 *
 * - /metrics: any worker answers with every worker's metrics summed (prom-client's
 *   AggregatorRegistry, asked through the primary);
 * - /ready: 200 only when every worker is ready and all of them are running; each worker's
 *   subscriptions are listed under it;
 * - SIGHUP (and the file watch): two phases, so a reload is all or none: every worker checks the
 *   new file and connects any new broker first ("prepare"); only if every one succeeded do they
 *   all swap routes and start/stop subscriptions ("commit"), otherwise every one keeps its routes
 *   and subscriptions ("abort");
 * - SIGTERM / SIGINT: every worker drains as a single daemon does, then the primary exits.
 *
 * - idempotency claims and rate-limit buckets, when no shared store is configured: the primary
 *   keeps them and the workers ask it (core/state/primary-state.ts), so a retry on another
 *   worker is replayed and a client's limit is the daemon's, not N times it.
 *
 * What is NOT shared between workers: the in-process memory broker (so a routes file that uses it
 * runs one process unless WORKERS says otherwise; see config.ts).
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'winston';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { SubscriptionStatus } from './egress/subscription-worker.js';
import type { DaemonConfig } from './config.js';
import { describeError } from './errors.js';
import type { ReloadResult } from './reloader.js';
import { PrimaryState, type StateCall } from './state/primary-state.js';

/** What a worker can be asked, by the primary. */
type WorkerQuestion = 'ready' | 'reload-prepare' | 'reload-commit' | 'reload-abort';
/** What the primary can be asked, by a worker answering /metrics or /ready, or by its state stores. */
type PrimaryQuestion = 'metrics' | 'ready' | 'state';

interface Ask<Q> {
  readonly busgate: 'ask';
  readonly id: number;
  readonly what: Q;
  readonly reason?: string;
  /** The state call, for 'state'. */
  readonly call?: StateCall;
}
interface Answer {
  readonly busgate: 'answer';
  readonly id: number;
  readonly value?: unknown;
  readonly error?: string;
}

export interface LocalReadiness {
  readonly status: string;
  readonly ready: boolean;
  readonly brokers: Record<string, { up: boolean; detail?: string }>;
  /** This worker's own subscriptions (each worker consumes; see the README on egress). */
  readonly subscriptions?: Record<string, SubscriptionStatus>;
}

export interface ClusterReadiness {
  readonly ready: boolean;
  readonly status: string;
  readonly workers: ReadonlyArray<LocalReadiness & { readonly pid: number }>;
}

const ASK_TIMEOUT_MS = 5000;

const isAsk = (message: unknown): message is Ask<string> =>
  typeof message === 'object' && message !== null && (message as { busgate?: unknown }).busgate === 'ask';
const isAnswer = (message: unknown): message is Answer =>
  typeof message === 'object' && message !== null && (message as { busgate?: unknown }).busgate === 'answer';

/** Questions sent over one IPC channel, matched to their answers by id. */
class Asker {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();

  ask(send: (message: Ask<string>) => void, what: string, extra: { reason?: string; call?: StateCall } = {}): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no answer to "${what}" within ${ASK_TIMEOUT_MS} ms`));
      }, ASK_TIMEOUT_MS);
      this.waiting.set(id, { resolve, reject, timer });
      send({ busgate: 'ask', id, what, ...extra });
    });
  }

  settle(answer: Answer): void {
    const entry = this.waiting.get(answer.id);
    if (!entry) return;
    this.waiting.delete(answer.id);
    clearTimeout(entry.timer);
    if (answer.error !== undefined) entry.reject(new Error(answer.error));
    else entry.resolve(answer.value);
  }
}

// ------------------------------------------------------------------------------------ worker side

/** What a worker's daemon offers the primary. */
export interface WorkerHooks {
  readonly registry: Registry;
  localReadiness(): LocalReadiness;
  prepareReload(reason: string): Promise<ReloadResult>;
  commitReload(): Promise<ReloadResult>;
  abortReload(): Promise<void>;
}

/** The worker's link to the primary, used by /metrics and /ready. */
export interface ClusterLink {
  metrics(): Promise<string>;
  readiness(): Promise<ClusterReadiness>;
}

/** A worker's one IPC channel to the primary: questions both ways, answers matched by id. */
interface WorkerChannel {
  readonly asker: Asker;
  send(message: Ask<string> | Answer): void;
  onQuestion: ((message: Ask<string>) => void) | undefined;
}

let workerChannel: WorkerChannel | undefined;

/** Opened on first use: the state stores ask before the daemon joins the cluster. */
function channelToPrimary(): WorkerChannel {
  if (workerChannel) return workerChannel;
  const channel: WorkerChannel = {
    asker: new Asker(),
    send: (message) => {
      if (process.connected) process.send!(message);
    },
    onQuestion: undefined,
  };
  process.on('message', (message: unknown) => {
    if (isAnswer(message)) channel.asker.settle(message);
    else if (isAsk(message)) channel.onQuestion?.(message);
  });
  return (workerChannel = channel);
}

/** A worker's state call (idempotency claim, rate-limit token), answered by the primary. */
export function askPrimaryState(call: StateCall): Promise<unknown> {
  const channel = channelToPrimary();
  return channel.asker.ask(channel.send, 'state' satisfies PrimaryQuestion, { call });
}

export function joinCluster(hooks: WorkerHooks): ClusterLink {
  // Constructing one registers prom-client's answer to the primary's "send me your metrics".
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([hooks.registry]);
  const channel = channelToPrimary();
  channel.onQuestion = (message) => {
    const what = message.what as WorkerQuestion;
    const reply = (work: () => unknown): void => {
      Promise.resolve()
        .then(work)
        .then(
          (value) => channel.send({ busgate: 'answer', id: message.id, value }),
          (error: unknown) => channel.send({ busgate: 'answer', id: message.id, error: describeError(error) }),
        );
    };
    if (what === 'ready') reply(() => hooks.localReadiness());
    else if (what === 'reload-prepare') reply(() => hooks.prepareReload(message.reason ?? 'SIGHUP'));
    else if (what === 'reload-commit') reply(() => hooks.commitReload());
    else if (what === 'reload-abort') reply(() => hooks.abortReload());
  };
  return {
    metrics: async () => (await channel.asker.ask(channel.send, 'metrics' satisfies PrimaryQuestion)) as string,
    readiness: async () => (await channel.asker.ask(channel.send, 'ready' satisfies PrimaryQuestion)) as ClusterReadiness,
  };
}

// ----------------------------------------------------------------------------------- primary side

/**
 * Runs the primary: forks `count` workers running `busgate start` with the same arguments, and
 * never serves a request itself. Resolves with the exit code once every worker has stopped.
 */
export function runPrimary(count: number, config: DaemonConfig, logger: Logger): Promise<number> {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const aggregator = new AggregatorRegistry();
  const asker = new Asker();
  const state = new PrimaryState({ maxKeys: config.idempotency.maxKeys, maxBytes: config.idempotency.maxBytes });
  const workers = new Set<Worker>();
  let listening = 0;
  let stopping = false;
  let exitCode = 0;
  let reloads: Promise<unknown> = Promise.resolve();
  /** Called each time a worker starts listening; a reload waits until all of them do. */
  let onListening: (() => void) | undefined;
  const allListening = (): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (listening < count && !stopping) return;
        onListening = undefined;
        resolve();
      };
      onListening = check;
      check();
    });

  const askAll = (what: WorkerQuestion, reason?: string): Promise<Array<{ pid: number; value?: unknown; error?: string }>> =>
    Promise.all(
      [...workers].map((worker) =>
        asker
          .ask((m) => worker.send(m), what, reason === undefined ? {} : { reason })
          .then(
            (value) => ({ pid: worker.process.pid!, value }),
            (error: unknown) => ({ pid: worker.process.pid!, error: describeError(error) }),
          ),
      ),
    );

  const readiness = async (): Promise<ClusterReadiness> => {
    const answers = await askAll('ready');
    const each = answers.map((a) => ({
      pid: a.pid,
      ...((a.value as LocalReadiness | undefined) ?? { status: `no answer: ${a.error ?? ''}`, ready: false, brokers: {} }),
    }));
    const ready = !stopping && each.length === count && each.every((w) => w.ready);
    const status = ready ? 'ready' : stopping ? 'stopping' : each.length < count ? 'starting' : (each.find((w) => !w.ready)?.status ?? 'degraded');
    return { ready, status, workers: each };
  };

  /** Every worker prepares; all commit, or all abort. */
  const reload = (reason: string): Promise<unknown> => {
    reloads = reloads.then(async () => {
      // A worker still starting reads the file itself, but it cannot take part in the vote yet.
      await allListening();
      if (stopping) return;
      const prepared = await askAll('reload-prepare', reason);
      const refused = prepared.filter((p) => p.error !== undefined || (p.value as ReloadResult).outcome !== 'ok');
      if (refused.length === 0 && prepared.length === count) {
        await askAll('reload-commit');
        logger.info('routes reloaded in every worker', { reason, workers: prepared.length, routes: (prepared[0]?.value as ReloadResult | undefined)?.routes });
      } else {
        await askAll('reload-abort');
        logger.error('routes reload refused; every worker keeps its routes', {
          reason,
          refusedBy: refused.map((p) => ({ pid: p.pid, error: p.error, outcome: (p.value as ReloadResult | undefined)?.outcome })),
        });
      }
    });
    return reloads;
  };

  cluster.on('message', (worker, message: unknown) => {
    if (isAnswer(message)) return asker.settle(message);
    if (!isAsk(message)) return;
    const answer = (work: () => Promise<unknown>): void => {
      work().then(
        (value) => worker.send({ busgate: 'answer', id: message.id, value } satisfies Answer),
        (error: unknown) => worker.send({ busgate: 'answer', id: message.id, error: describeError(error) } satisfies Answer),
      );
    };
    if (message.what === 'metrics') answer(() => aggregator.clusterMetrics());
    else if (message.what === 'ready') answer(readiness);
    else if (message.what === 'state' && message.call !== undefined) answer(() => state.answer(message.call!));
  });

  return new Promise<number>((resolve) => {
    // A replacement takes the slot of the worker it replaces, so its identity (instanceId) is the same.
    const fork = (slot: number): void => {
      const worker = cluster.fork({ BUSGATE_CLUSTER_WORKER: '1', BUSGATE_WORKER_SLOT: String(slot) });
      workers.add(worker);
      let listened = false;
      worker.once('listening', () => {
        listened = true;
        listening += 1;
        onListening?.();
        if (listening === count)
          logger.info('busgate listening on every worker', { workers: count, port: config.port, pids: [...workers].map((w) => w.process.pid) });
      });
      worker.once('exit', (code, signal) => {
        workers.delete(worker);
        if (listened) listening -= 1;
        if (!stopping && !listened) {
          // A worker that could not start (bad routes, port taken): the daemon cannot start either.
          exitCode = code ?? 1;
          stop('a worker failed to start');
        } else if (!stopping) {
          logger.error('worker exited; starting another', { pid: worker.process.pid, code, signal });
          fork(slot);
        }
        if (stopping && workers.size === 0) resolve(exitCode);
      });
    };

    const stop = (reason: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info('stopping every worker', { reason });
      for (const worker of workers) worker.process.kill('SIGTERM');
      const grace = config.shutdownDelayMs + config.shutdownTimeoutMs + 5000;
      setTimeout(() => {
        for (const worker of workers) worker.process.kill('SIGKILL');
      }, grace).unref();
      if (workers.size === 0) resolve(exitCode);
    };

    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => void reload('SIGHUP'));
    for (let slot = 0; slot < count; slot++) fork(slot);
  });
}

export const isClusterWorker = (): boolean => cluster.isWorker && process.env.BUSGATE_CLUSTER_WORKER === '1';

/**
 * A worker's identity: the daemon's instanceId plus its slot. Each worker is a member of its own
 * towards the brokers (an MQTT session, a pull holder's control destination), and a replacement
 * worker takes the slot, so the identity is as stable as the daemon's across restarts.
 */
export function workerInstanceId(instanceId: string): string {
  return `${instanceId}-w${process.env.BUSGATE_WORKER_SLOT ?? '0'}`;
}
