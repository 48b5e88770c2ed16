/**
 * Point-to-point on NATS = a JetStream work-queue stream (a message stays until one consumer acks
 * it) read through one shared durable pull consumer per subject (competing subscribers pull from
 * it, so each message goes to exactly one of them).
 *
 * Checks are cached per stream+subject and concurrent first calls share one promise; changes to
 * one stream are serialised, because two subjects may map to the same stream and two concurrent
 * "add my subject" updates would each overwrite the other's subject list.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Logger } from '../../core/plugins/contract.js';
import { BusgateError } from '../../core/errors.js';
import { BoundedMap } from '../../core/brokers/kit.js';
import { toBusgateError } from './errors.js';
import { durableNameFor, subjectMatches } from './names.js';

// How long the server waits for an ack before handing a message to another subscriber.
const ACK_WAIT_MS = 30_000;

/** What a work-queue stream needs before a subject's first message, as judged by judgeStream(). */
export type StreamPlan =
  /** A work-queue stream that captures the subject: ready. */
  | { readonly kind: 'ready'; readonly info: StreamInfo }
  /** Missing, and createStreams is on: the first message creates it. */
  | { readonly kind: 'create' }
  /** A work-queue stream not capturing the subject yet, createStreams on: the subject is added. */
  | { readonly kind: 'add-subject'; readonly info: StreamInfo }
  /** Cannot be used as it is, and busgate may not fix it. */
  | { readonly kind: 'refused'; readonly reason: string };

/** Decides from a stream's info alone (undefined = missing); both ensureStream and inspect use it. */
export function judgeStream(info: StreamInfo | undefined, stream: string, subject: string, createStreams: boolean): StreamPlan {
  if (info === undefined) {
    if (createStreams) return { kind: 'create' };
    return {
      kind: 'refused',
      reason: `JetStream stream "${stream}" does not exist and createStreams is off: create a work-queue stream capturing "${subject}"`,
    };
  }
  if (info.config.retention !== RetentionPolicy.Workqueue) {
    return {
      kind: 'refused',
      reason: `JetStream stream "${stream}" has retention "${info.config.retention}"; point-to-point needs a work-queue stream`,
    };
  }
  if ((info.config.subjects ?? []).some((filter) => subjectMatches(filter, subject))) return { kind: 'ready', info };
  if (createStreams) return { kind: 'add-subject', info };
  return { kind: 'refused', reason: `work-queue stream "${stream}" does not capture "${subject}" and createStreams is off` };
}

/**
 * How far createStreams may go. Each distinct subject a templated point-to-point route renders is
 * a new stream (or a new subject of a named one) on the server, kept after busgate is gone; these
 * bound what clients can make it create. Counted on the server, so the bound holds across
 * restarts and replicas.
 */
export interface CreationLimits {
  /** Streams whose names start with this are counted (busgate's streamPrefix and `_`). */
  readonly prefix: string;
  readonly maxStreams: number;
  readonly maxSubjects: number;
}

const UNLIMITED: CreationLimits = { prefix: '', maxStreams: Number.POSITIVE_INFINITY, maxSubjects: Number.POSITIVE_INFINITY };

export class WorkQueues {
  // Bounded: a templated route lets clients name any number of subjects; a forgotten one is checked again.
  private readonly streamsReady = new BoundedMap<string, Promise<void>>();
  private readonly consumersReady = new BoundedMap<string, Promise<string>>();
  private readonly streamLocks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly manager: JetStreamManager,
    private readonly createStreams: boolean,
    private readonly logger: Logger,
    /** Replicas of the streams this creates; existing streams keep theirs. */
    private readonly streamReplicas = 1,
    private readonly limits: CreationLimits = UNLIMITED,
  ) {}

  /** Resolves once `stream` is a work-queue stream that captures `subject`. */
  ensureStream(stream: string, subject: string): Promise<void> {
    return this.cached(this.streamsReady, `${stream}\u0000${subject}`, () => this.serialised(stream, () => this.checkStream(stream, subject)));
  }

  /** The durable consumer's name, created when missing. */
  ensureConsumer(stream: string, subject: string): Promise<string> {
    return this.cached(this.consumersReady, `${stream}\u0000${subject}`, async () => {
      await this.ensureStream(stream, subject);
      return this.checkConsumer(stream, subject);
    });
  }

  /** The stream vanished under a publish: check (and maybe recreate) it next time. */
  forget(stream: string, subject: string): void {
    this.streamsReady.delete(`${stream}\u0000${subject}`);
    this.consumersReady.delete(`${stream}\u0000${subject}`);
  }

  /**
   * What ensureStream would find (and do) for `stream` and `subject` right now, without doing it:
   * read-only, for `busgate check --live`.
   */
  async inspect(stream: string, subject: string): Promise<StreamPlan> {
    return judgeStream(await this.streamInfo(stream, subject), stream, subject, this.createStreams);
  }

  /** The stream's configuration and state, or undefined when it does not exist. Read-only. */
  async streamInfo(stream: string, subject: string): Promise<StreamInfo | undefined> {
    try {
      return await this.manager.streams.info(stream);
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return undefined;
      throw toBusgateError(error, 'jetstream-api', subject);
    }
  }

  private async checkStream(stream: string, subject: string): Promise<void> {
    let plan = judgeStream(await this.streamInfo(stream, subject), stream, subject, this.createStreams);
    if (plan.kind === 'create') {
      await this.refuseOverStreamLimit(stream, subject);
      try {
        await this.manager.streams.add({
          name: stream,
          subjects: [subject],
          retention: RetentionPolicy.Workqueue,
          storage: StorageType.File,
          num_replicas: this.streamReplicas,
        });
        this.logger.info('created JetStream work-queue stream', { stream, subject, replicas: this.streamReplicas });
        return;
      } catch (error) {
        // Another busgate instance may have created it a moment ago; judge what exists now.
        const info = await this.streamInfo(stream, subject);
        if (info === undefined) throw explain(error, stream, subject);
        plan = judgeStream(info, stream, subject, this.createStreams);
      }
    }
    switch (plan.kind) {
      case 'refused':
        throw new BusgateError('broker_rejected', plan.reason);
      case 'ready':
      case 'create': // not after the race above: the stream exists by then
        return;
      case 'add-subject':
        if ((plan.info.config.subjects ?? []).length >= this.limits.maxSubjects) {
          throw new BusgateError(
            'destination_limit',
            `work-queue stream "${stream}" does not capture "${subject}" and already has ${this.limits.maxSubjects} subjects (maxStreamSubjects); nothing was sent`,
          );
        }
        try {
          await this.manager.streams.update(stream, { subjects: [...(plan.info.config.subjects ?? []), subject] });
          this.logger.info('added a subject to JetStream work-queue stream', { stream, subject });
        } catch (error) {
          throw explain(error, stream, subject);
        }
    }
  }

  /** Counts the streams on the server (only on the way to creating one: rare, and cached after). */
  private async refuseOverStreamLimit(stream: string, subject: string): Promise<void> {
    if (this.limits.maxStreams === Number.POSITIVE_INFINITY) return;
    let count = 0;
    try {
      for await (const name of this.manager.streams.names()) if (name.startsWith(this.limits.prefix)) count += 1;
    } catch (error) {
      throw toBusgateError(error, 'jetstream-api', subject);
    }
    if (count >= this.limits.maxStreams) {
      throw new BusgateError(
        'destination_limit',
        `no work-queue stream captures "${subject}", and busgate may not create "${stream}": ${count} streams named ${this.limits.prefix}* exist (maxCreatedStreams ${this.limits.maxStreams}); nothing was sent`,
      );
    }
  }

  private async checkConsumer(stream: string, subject: string): Promise<string> {
    const durable = durableNameFor(subject);
    if (await this.consumerExists(stream, durable, subject)) return durable;
    try {
      await this.manager.consumers.add(stream, {
        durable_name: durable,
        filter_subject: subject,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(ACK_WAIT_MS),
      });
      this.logger.info('created JetStream durable consumer', { stream, consumer: durable, subject });
    } catch (error) {
      // A competing subscriber (here or in another instance) may have created it first.
      if (!(await this.consumerExists(stream, durable, subject))) throw explain(error, stream, subject);
    }
    return durable;
  }

  private async consumerExists(stream: string, durable: string, subject: string): Promise<boolean> {
    try {
      await this.manager.consumers.info(stream, durable);
      return true;
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound) return false;
      throw toBusgateError(error, 'jetstream-api', subject);
    }
  }

  private cached<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
    const existing = cache.get(key);
    if (existing !== undefined) return existing;
    const made = make();
    cache.set(key, made);
    // A failed check must not stick: the next message tries again.
    made.catch(() => {
      if (cache.get(key) === made) cache.delete(key);
    });
    return made;
  }

  private serialised<T>(stream: string, work: () => Promise<T>): Promise<T> {
    const previous = this.streamLocks.get(stream) ?? Promise.resolve();
    const result = previous.catch(() => undefined).then(work);
    const tail = result.catch(() => undefined);
    this.streamLocks.set(stream, tail);
    void tail.then(() => {
      if (this.streamLocks.get(stream) === tail) this.streamLocks.delete(stream);
    });
    return result;
  }
}

function explain(error: unknown, stream: string, subject: string): BusgateError {
  if (error instanceof JetStreamApiError) {
    return new BusgateError('broker_rejected', `cannot set up work-queue stream "${stream}" for "${subject}": ${error.message}`, { cause: error });
  }
  return toBusgateError(error, 'jetstream-api', subject);
}
