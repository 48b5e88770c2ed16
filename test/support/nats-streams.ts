/** Test clean-up: delete the JetStream streams that hold any of the given subjects. */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

export async function deleteStreamsHolding(url: string, subjects: readonly string[]): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const stream of jsm.streams.list()) {
      if (stream.config.subjects?.some((subject) => subjects.includes(subject))) await jsm.streams.delete(stream.config.name);
    }
  } finally {
    await nc.close();
  }
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
