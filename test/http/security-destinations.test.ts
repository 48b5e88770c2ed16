/**
 * A templated point-to-point destination must not let clients create broker state without end
 * (issue #16: createStreams was only documented). Each distinct value a client renders used to be
 * a new JetStream stream (createStreams, the NATS default) or a new subject of a named stream, kept
 * on the server after busgate is gone, and a new queue in the embedded broker's memory. Now NATS
 * counts what exists on the server before it creates more (maxCreatedStreams, maxStreamSubjects:
 * 403 destination_limit past them), and the embedded broker bounds all its queues in bytes and
 * forgets empty ones.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { MemoryBus } from '../../plugins/memory/bus.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

async function onJetStream<T>(work: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: NATS_URL });
  try {
    return await work(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}

async function streamsNamed(prefix: string): Promise<string[]> {
  return onJetStream(async (jsm) => {
    const names: string[] = [];
    for await (const name of jsm.streams.names()) if (name.startsWith(prefix)) names.push(name);
    return names;
  });
}

async function codeOf(response: Response): Promise<string> {
  return ((await response.json()) as { error: { code: string } }).error.code;
}

describe('templated point-to-point on NATS: createStreams creates a bounded number of streams', function () {
  this.timeout(60_000);
  const run = randomUUID().slice(0, 8);
  const prefix = `HARD${run}`;
  const named = `HARDNAMED_${run}`;
  let daemon: TestDaemon;

  before(async function () {
    await requireBroker(this, 'nats', brokerEndpoints.nats());
    // An operator's work-queue stream that the "named" route adds subjects to.
    await onJetStream((jsm) => jsm.streams.add({ name: named, subjects: [`hardnamed.${run}.first`], retention: RetentionPolicy.Workqueue }));
    daemon = await startTestDaemon({
      routes: `routes:
  - name: jobs
    path: /jobs/:kind
    broker: nats
    mode: point-to-point
    destination: "hard.${run}.{kind}"
  - name: named
    path: /named/:kind
    broker: nats
    mode: point-to-point
    destination: "hardnamed.${run}.{kind}"
    options: { stream: ${named} }
`,
      brokers: { nats: { plugin: 'nats', options: { url: NATS_URL, streamPrefix: prefix, maxCreatedStreams: 3, maxStreamSubjects: 2 } } },
    });
  });
  after(async () => {
    await daemon?.shutdown('done');
    await onJetStream(async (jsm) => {
      for (const name of [...(await streamsNamed(prefix)), named]) await jsm.streams.delete(name).catch(() => undefined);
    });
  });

  it('creates streams up to maxCreatedStreams, then refuses new destinations with 403 destination_limit', async () => {
    const statuses: number[] = [];
    for (let index = 0; index < 6; index += 1) statuses.push((await daemon.post(`/jobs/kind${index}`, 'job')).status);
    expect(statuses).to.deep.equal([202, 202, 202, 403, 403, 403]);
    expect(await codeOf(await daemon.post('/jobs/another', 'job'))).to.equal('destination_limit');
    expect((await streamsNamed(prefix)).length).to.equal(3);
    // The streams that exist keep working, and the refusals never opened the circuit.
    expect((await daemon.post('/jobs/kind0', 'job')).status).to.equal(202);
    expect((await fetch(`${daemon.url}/ready`)).status).to.equal(200);
  });

  it('adds subjects to a named stream up to maxStreamSubjects, then refuses with 403', async () => {
    expect((await daemon.post('/named/first', 'job')).status).to.equal(202);
    expect((await daemon.post('/named/second', 'job')).status).to.equal(202);
    const refused = await daemon.post('/named/third', 'job');
    expect(refused.status).to.equal(403);
    expect(await codeOf(refused)).to.equal('destination_limit');
    const subjects = await onJetStream(async (jsm) => (await jsm.streams.info(named)).config.subjects);
    expect(subjects).to.deep.equal([`hardnamed.${run}.first`, `hardnamed.${run}.second`]);
  });
});

describe('templated point-to-point on the embedded broker: queues bounded in bytes, empty ones forgotten', function () {
  this.timeout(20_000);
  let daemon: TestDaemon;

  before(async () => {
    daemon = await startTestDaemon({
      routes: `routes:\n  - name: jobs\n    path: /jobs/:kind\n    broker: memory\n    mode: point-to-point\n    destination: "jobs.{kind}"\n`,
      brokers: { memory: { plugin: 'memory', options: { maxQueuedBytes: 10_000 } } },
    });
  });
  after(() => daemon?.shutdown('done'));

  it('a client spraying new destinations gets 503 overloaded once the queues hold maxQueuedBytes', async () => {
    const body = 'x'.repeat(1000);
    const statuses: number[] = [];
    for (let index = 0; index < 20; index += 1) statuses.push((await daemon.post(`/jobs/k${index}`, body)).status);
    const accepted = statuses.filter((status) => status === 202).length;
    expect(accepted).to.be.within(5, 10);
    expect(statuses.slice(accepted)).to.deep.equal(Array<number>(20 - accepted).fill(503));
    // A consumer taking a queue's messages makes room again.
    const taken: string[] = [];
    const sub = await daemon.brokers.get('memory')!.subscribe('jobs.k0', { mode: 'point-to-point' }, (message) => {
      taken.push(message.payload.toString());
      return Promise.resolve();
    });
    while (taken.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await sub.close();
    expect((await daemon.post('/jobs/fresh', body)).status).to.equal(202);
  });

  it('forgets a queue once it holds no message and has no consumer', async () => {
    const bus = new MemoryBus(10, () => undefined);
    const stops: Array<() => void> = [];
    for (let index = 0; index < 100; index += 1) {
      bus.enqueue({ destination: `d${index}`, payload: Buffer.from('m'), headers: {} });
      stops.push(bus.consume(`d${index}`, () => Promise.resolve()));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const stop of stops) stop();
    expect(bus.usage()).to.deep.equal({ queues: 0, bytes: 0 });
  });
});
