/**
 * Which JetStream stream captures a subject, for persistent pubsub routes. Asking first turns "no
 * stream" into a fast, clear rejection even when a core subscriber listens on the subject (the
 * publish would otherwise reach that subscriber, get no PubAck and wait for the deadline).
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import { BoundedMap } from '../../core/brokers/kit.js';

// A flood of requests to a subject without a stream should not become a flood of API calls.
const REMEMBER_MISSING_MS = 1000;

export class StreamDirectory {
  /** Bounded: a templated persistent route lets clients name any number of subjects. */
  private readonly lookups = new BoundedMap<string, Promise<string | undefined>>();

  constructor(private readonly manager: JetStreamManager) {}

  /** The stream's name, or undefined when no stream captures the subject. */
  streamFor(subject: string): Promise<string | undefined> {
    const cached = this.lookups.get(subject);
    if (cached !== undefined) return cached;
    const lookup = this.lookup(subject);
    this.lookups.set(subject, lookup);
    const drop = (): void => {
      if (this.lookups.get(subject) === lookup) this.lookups.delete(subject);
    };
    lookup.then((name) => {
      if (name === undefined) setTimeout(drop, REMEMBER_MISSING_MS).unref();
    }, drop);
    return lookup;
  }

  /** Called when a publish found the stream gone: look again next time. */
  forget(subject: string): void {
    this.lookups.delete(subject);
  }

  private async lookup(subject: string): Promise<string | undefined> {
    try {
      return await this.manager.streams.find(subject);
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return undefined;
      throw error;
    }
  }
}
