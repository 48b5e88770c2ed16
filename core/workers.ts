/**
 * How many processes `busgate start` runs when WORKERS is `auto` (the default): one per CPU, so
 * a default install uses every core, unless the routes file uses a broker that lives inside the
 * process (a built-in plugin whose manifest says `processLocal`, such as the embedded `memory`
 * broker). Each worker would have its own copy of such a broker: a message published through one
 * worker would never reach a tap or a subscription on another. Those files run one process.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { DaemonConfig } from './config.js';
import { builtInManifests } from './plugins/built-ins.js';
import { brokerNamesIn } from './routes/lint.js';
import { readRoutes, type RoutesReading } from './routes/quick-parse.js';
import { subscriptionBrokersIn } from './egress/lint.js';
import { streamBrokersIn } from './streams/lint.js';
import { pullBrokersIn } from './pulls/lint.js';

export interface WorkerChoice {
  readonly count: number;
  /** The routes file as `auto` read it: a single process checks this reading instead of parsing again. */
  readonly reading?: RoutesReading;
  /** Why `auto` chose fewer than one per CPU; undefined otherwise. */
  readonly reason?: string;
}

export function chooseWorkers(config: Pick<DaemonConfig, 'workers' | 'routesFile' | 'brokers'>, cpus: number = os.availableParallelism()): WorkerChoice {
  if (config.workers !== 'auto') return { count: config.workers };
  if (cpus <= 1) return { count: 1 };
  let text: string;
  try {
    text = fs.readFileSync(config.routesFile, 'utf8');
  } catch {
    // The daemon reports an unreadable file itself; one process does that best.
    return { count: 1, reason: 'the routes file cannot be read' };
  }
  const reading = readRoutes(text);
  const document = reading.document;
  const used = new Set([...brokerNamesIn(document), ...subscriptionBrokersIn(document), ...streamBrokersIn(document), ...pullBrokersIn(document)]);
  const local = new Set(
    builtInManifests()
      .filter((manifest) => manifest.processLocal === true)
      .map((manifest) => manifest.name),
  );
  const inProcess = [...used].filter((name) => local.has(config.brokers[name]?.plugin ?? ''));
  if (inProcess.length > 0) {
    return {
      count: 1,
      reading,
      reason: `the routes file uses ${inProcess.map((name) => `"${name}"`).join(', ')}, a broker inside the process (each worker would have its own)`,
    };
  }
  return { count: cpus };
}
