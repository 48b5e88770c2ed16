/** Shapes passed between the bench orchestrator (run.ts) and the processes it starts. */
import type { ClosedLoopResult, LatencySummary, OpenLoopResult } from './loadgen.js';

export const BROKERS = ['memory', 'nats', 'rabbitmq', 'kafka'] as const;
export type BrokerName = (typeof BROKERS)[number];
/** The three busgate modes, plus NATS pubsub through JetStream (route option persistent: true). */
export type CaseMode = 'pubsub' | 'point-to-point' | 'request-reply' | 'persistent-pubsub';

export interface Endpoints {
  readonly natsUrl: string;
  readonly amqpUrl: string;
  readonly kafkaBrokers: string;
}

export interface OpenLoopArgs {
  readonly host?: string;
  readonly port: number;
  readonly path: string;
  readonly body: string;
  readonly headers: Record<string, string>;
  /** Run one schedule per rate, in order, on the same connections. */
  readonly rates: readonly number[];
  readonly durationMs: number;
  readonly connections: number;
  readonly drainMs?: number;
}

export interface GeneratorUse {
  readonly cpuSeconds: number;
  readonly cpuShareOfOneCore: number;
  readonly wallMs: number;
}

export type OpenLoopOutput = OpenLoopResult & { readonly generator: GeneratorUse };

export interface Phases {
  /** wrk warm-up before the capacity run; 0 = a short in-process burst of requests instead. */
  readonly warmS: number;
  readonly capacityS: number;
  readonly openMs: number;
  readonly rssS: number;
  readonly b2WarmMs: number;
  readonly b2CapacityMs: number;
  readonly b2OpenMs: number;
  readonly clusterS: number;
  readonly profileS: number;
  /** A B1 capacity run right before each case (0 = none): a paired ratio that drift cannot skew. */
  readonly adjacentB1S: number;
}

export interface B2Args {
  readonly broker: BrokerName;
  /** Measured one after the other in this process. */
  readonly cases: ReadonlyArray<{ readonly mode: CaseMode; readonly destination: string }>;
  readonly body: string;
  readonly concurrency: number;
  readonly warmMs: number;
  readonly capacityMs: number;
  readonly openMs: number;
  readonly endpoints: Endpoints;
  /** Names that must match what the consumer process set up. */
  readonly natsStreamPrefix: string;
  readonly kafkaReplyTopic: string;
}

export interface B2Output {
  readonly mode: CaseMode;
  readonly description: string;
  readonly client: string;
  readonly server?: string;
  readonly warm: ClosedLoopResult;
  readonly capacity: ClosedLoopResult;
  readonly open50: OpenLoopResult;
  readonly open80: OpenLoopResult;
  readonly cpuSecondsPerOp: number;
  /** Of the whole B2 process (all the cases it ran). */
  readonly peakRssMb: number;
  readonly firstError?: string;
}

export interface WrkSummary {
  readonly requests: number;
  readonly durationS: number;
  readonly rate: number;
  readonly non2xx: number;
  readonly socketErrors: number;
  readonly latency: Pick<LatencySummary, 'p50Ms' | 'p90Ms' | 'p99Ms' | 'maxMs'>;
  /** wrk's own CPU seconds over the run, and as a share of one core. */
  readonly cpuSeconds: number;
  readonly cpuShareOfOneCore: number;
}
