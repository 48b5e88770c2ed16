/** Test clean-up: delete the JetStream streams that hold any of the given subjects. */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

export function deleteStreamsHolding(url: string, subjects: readonly string[]): Promise<void> {
  return forStreamsHolding(url, subjects, (jsm, name) => jsm.streams.delete(name));
}

/** A limits-retention stream capturing `subject`, as an operator creates one for persistent pubsub. */
export async function createStream(url: string, name: string, subject: string): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name, subjects: [subject] });
  } finally {
    await nc.close();
  }
}

/** Test clean-up: delete the JetStream streams whose names start with `prefix`. */
export async function deleteStreamsNamed(url: string, prefix: string): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) if (name.startsWith(prefix)) names.push(name);
    for (const name of names) await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
}

/** Drops every message of the streams that hold any of the given subjects (the streams stay). */
export function purgeStreamsHolding(url: string, subjects: readonly string[]): Promise<void> {
  return forStreamsHolding(url, subjects, (jsm, name) => jsm.streams.purge(name));
}

async function forStreamsHolding(url: string, subjects: readonly string[], action: (jsm: JetStreamManager, name: string) => Promise<unknown>): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const stream of jsm.streams.list()) {
      if (stream.config.subjects?.some((subject) => subjects.includes(subject))) await action(jsm, stream.config.name);
    }
  } finally {
    await nc.close();
  }
}
