/**
 * `busgate start` with WORKERS=2: one port, two daemons behind it (node:cluster), and what must
 * look like one daemon does: /ready speaks for every worker, /metrics sums them, SIGHUP reloads
 * all or none, request-reply answers reach the worker (and the request) that asked, on every
 * broker, idempotency keys and rate limits hold for the daemon as a whole (the primary keeps
 * them), and SIGTERM stops everything. Every request opens its own connection, so the primary's
 * round robin spreads them over both workers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { sleep, startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { brokerEndpoints, requireBroker } from '../support/require-broker.js';
import { freePort } from '../support/net.js';
import { deleteStreamsHolding } from '../support/nats-streams.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const SUFFIX = randomUUID().slice(0, 8);

const route = (name: string, broker = 'memory', mode = 'pubsub', destination = name): string =>
  `  - name: ${name}\n    path: /${name}\n    broker: ${broker}\n    mode: ${mode}\n    destination: ${destination}\n`;

/** A request on a connection of its own (no keep-alive), so consecutive requests may reach different workers. */
async function post(
  port: number,
  pathname: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(`http://127.0.0.1:${port}${pathname}`, {
    method: 'POST',
    body,
    headers: { connection: 'close', 'content-type': 'text/plain', ...headers },
  });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

interface Cluster {
  readonly child: ChildProcess;
  readonly port: number;
  readonly file: string;
  output(): string;
}

async function startCluster(routes: string, config: Record<string, unknown> = {}): Promise<Cluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-cluster-'));
  const file = path.join(dir, 'routes.yaml');
  fs.writeFileSync(file, routes);
  const port = await freePort();
  const configFile = path.join(dir, 'busgate.yaml');
  fs.writeFileSync(configFile, JSON.stringify({ port, host: '127.0.0.1', routesFile: file, logFormat: 'json', ...config }));
  const env = { ...process.env, WORKERS: '2' };
  const child = spawn(process.execPath, [path.join(root, 'dist/core/cli.js'), 'start', '--config', configFile], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the cluster exited: ${output.slice(-500)}`);
    const status = await fetch(`http://127.0.0.1:${port}/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) throw new Error(`the cluster was not ready in time: ${output.slice(-500)}`);
    await sleep(100);
  }
  return { child, port, file, output: () => output };
}

async function stopCluster(cluster: Cluster | undefined): Promise<number | null> {
  if (!cluster || cluster.child.exitCode !== null) return cluster?.child.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => cluster.child.once('exit', (code) => resolve(code)));
  cluster.child.kill('SIGTERM');
  return exited;
}

describe('WORKERS=2: one port, two workers', function () {
  this.timeout(60_000);
  let cluster: Cluster | undefined;

  afterEach(async () => {
    await stopCluster(cluster);
    cluster = undefined;
  });

  it('says ready only for every worker, and /metrics counts the requests of both', async () => {
    cluster = await startCluster('routes:\n' + route('counted'));
    const ready = (await (await fetch(`http://127.0.0.1:${cluster.port}/ready`)).json()) as { status: string; workers: Array<{ pid: number; ready: boolean }> };
    expect(ready.status).to.equal('ready');
    expect(ready.workers).to.have.lengthOf(2);
    expect(new Set(ready.workers.map((w) => w.pid)).size).to.equal(2);
    for (let i = 0; i < 10; i++) expect((await post(cluster.port, '/counted', 'x')).status).to.equal(202);
    const metrics = await (await fetch(`http://127.0.0.1:${cluster.port}/metrics`)).text();
    expect(metrics).to.include('busgate_http_requests_total{route="counted",status="202"} 10');
  });

  it('reloads every worker on SIGHUP, and none when the new file is invalid', async () => {
    cluster = await startCluster('routes:\n' + route('before'));
    fs.writeFileSync(cluster.file, 'routes:\n' + route('after'));
    cluster.child.kill('SIGHUP');
    const deadline = Date.now() + 15_000;
    while (!cluster.output().includes('routes reloaded in every worker') && Date.now() < deadline) await sleep(50);
    for (let i = 0; i < 8; i++) {
      expect((await post(cluster.port, '/after', 'x')).status, `request ${i} to the new route`).to.equal(202);
      expect((await post(cluster.port, '/before', 'x')).status, `request ${i} to the removed route`).to.equal(404);
    }
    fs.writeFileSync(cluster.file, 'routes:\n' + route('broken') + '    colour: red\n');
    cluster.child.kill('SIGHUP');
    while (!cluster.output().includes('every worker keeps its routes') && Date.now() < deadline) await sleep(50);
    expect(cluster.output()).to.include('every worker keeps its routes');
    for (let i = 0; i < 8; i++) expect((await post(cluster.port, '/after', 'x')).status, `request ${i} after the refused reload`).to.equal(202);
  });

  /** The workers' pids, from /ready. */
  async function workerPids(port: number): Promise<number[]> {
    const { workers } = (await (await fetch(`http://127.0.0.1:${port}/ready`)).json()) as { workers: Array<{ pid: number }> };
    return workers.map((w) => w.pid);
  }

  /** Enough requests, each on its own connection, that both workers answer some (round robin). */
  async function statusesOf(port: number, pathname: string): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await post(port, pathname, 'x')).status);
    return statuses;
  }

  async function waitFor(cluster: Cluster, text: string, count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (cluster.output().split(text).length - 1 < count && Date.now() < deadline) await sleep(50);
    expect(cluster.output().split(text).length - 1, `"${text}" logged ${count} time(s)`).to.equal(count);
  }

  it('keeps every worker on the old routes when one worker sees a broken file and the other a good one', async () => {
    cluster = await startCluster('routes:\n' + route('old'));
    const [late] = await workerPids(cluster.port);
    // One worker reads the file only after it was broken; the other read it while it was good.
    process.kill(late!, 'SIGSTOP');
    try {
      fs.writeFileSync(cluster.file, 'routes:\n' + route('old') + route('new'));
      cluster.child.kill('SIGHUP');
      await sleep(1500);
      fs.writeFileSync(cluster.file, 'routes:\n' + route('old') + route('new') + '    colour: red\n');
    } finally {
      process.kill(late!, 'SIGCONT');
    }
    await waitFor(cluster, 'every worker keeps its routes', 1, 15_000);
    // The refusal is the late worker's own verdict on the file, not a timeout.
    const refusal = cluster
      .output()
      .split('\n')
      .find((line) => line.includes('every worker keeps its routes'))!;
    expect(refusal).to.include(`"pid":${late}`).and.to.include('"outcome":"invalid"');
    expect(await statusesOf(cluster.port, '/old')).to.deep.equal(Array<number>(8).fill(202));
    expect(await statusesOf(cluster.port, '/new')).to.deep.equal(Array<number>(8).fill(404));
  });

  it('keeps every worker on the old routes when one worker does not answer, and the late worker never applies it', async () => {
    cluster = await startCluster('routes:\n' + route('old'));
    const [stuck] = await workerPids(cluster.port);
    process.kill(stuck!, 'SIGSTOP');
    try {
      fs.writeFileSync(cluster.file, 'routes:\n' + route('old') + route('new'));
      cluster.child.kill('SIGHUP');
      // The primary waits 5 s for each answer, then counts the silent worker as a refusal.
      await waitFor(cluster, 'every worker keeps its routes', 1, 15_000);
    } finally {
      process.kill(stuck!, 'SIGCONT');
    }
    // The stuck worker now reads the prepare and the abort the primary sent it; give it time to act on both.
    await sleep(1000);
    expect(await statusesOf(cluster.port, '/old')).to.deep.equal(Array<number>(8).fill(202));
    expect(await statusesOf(cluster.port, '/new')).to.deep.equal(Array<number>(8).fill(404));
    // The next reload is all or none again: both take it.
    cluster.child.kill('SIGHUP');
    await waitFor(cluster, 'routes reloaded in every worker', 1, 15_000);
    expect(await statusesOf(cluster.port, '/new')).to.deep.equal(Array<number>(8).fill(202));
  });

  it('replays an Idempotency-Key retried on the other worker instead of publishing it again', async () => {
    cluster = await startCluster('routes:\n' + route('keyed'));
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await post(cluster.port, '/keyed', 'x', { 'idempotency-key': `key-${SUFFIX}` }));
    expect(answers.map((a) => a.status)).to.deep.equal(Array<number>(8).fill(202));
    expect(new Set(answers.map((a) => (JSON.parse(a.text) as { id: string }).id)).size, 'one receipt id').to.equal(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).to.have.lengthOf(7);
    const metrics = await (await fetch(`http://127.0.0.1:${cluster.port}/metrics`)).text();
    expect(metrics, 'both workers answered some').to.include('busgate_http_requests_total{route="keyed",status="202"} 8');
  });

  it("holds a route's rate limit for the daemon, not once per worker", async () => {
    cluster = await startCluster('routes:\n' + route('limited') + '    rateLimit: { perSecond: 0.01, burst: 3 }\n');
    const statuses = await statusesOf(cluster.port, '/limited');
    expect(
      statuses.filter((status) => status === 202),
      `statuses ${statuses.join(' ')}`,
    ).to.have.lengthOf(3);
    expect(statuses.filter((status) => status === 429)).to.have.lengthOf(5);
  });

  it('stops every worker on SIGTERM and exits 0', async () => {
    cluster = await startCluster('routes:\n' + route('stopping'));
    const { workers } = (await (await fetch(`http://127.0.0.1:${cluster.port}/ready`)).json()) as { workers: Array<{ pid: number }> };
    const code = await stopCluster(cluster);
    expect(code).to.equal(0);
    for (const { pid } of workers) expect(() => process.kill(pid, 0), `worker ${pid} is gone`).to.throw();
  });
});

describe('WORKERS=2: each worker is a member of its own', function () {
  this.timeout(90_000);
  let cluster: Cluster | undefined;
  const url = () => `nats://${brokerEndpoints.nats().host}:${brokerEndpoints.nats().port}`;
  const subject = `cluster-pulls.${SUFFIX}`;

  before(async function () {
    await requireBroker(this, 'nats', brokerEndpoints.nats());
  });

  after(async () => {
    await stopCluster(cluster);
    await deleteStreamsHolding(url(), [subject]);
  });

  it('settles a pull lease acked on the other worker (forwarded to the worker holding it)', async () => {
    const routes =
      'routes:\n' +
      route('in', 'nats', 'point-to-point', subject) +
      `pulls:\n  - { path: /pull/jobs, broker: nats, source: ${subject}, group: cluster-workers, maxHeld: 100 }\n`;
    cluster = await startCluster(routes, { brokers: { nats: { plugin: 'nats', options: { url: url() } } } });
    for (let i = 0; i < 6; i++) expect((await post(cluster.port, '/in', `job-${i}`)).status).to.equal(202);
    const leases: string[] = [];
    const deadline = Date.now() + 30_000;
    while (leases.length < 6 && Date.now() < deadline) {
      const pulled = JSON.parse((await post(cluster.port, '/pull/jobs?max=10&wait=1s', '')).text) as { messages: Array<{ lease: string }> };
      leases.push(...pulled.messages.map((message) => message.lease));
    }
    expect(leases).to.have.lengthOf(6);
    const holders = new Set(leases.map((lease) => lease.split('.')[0]));
    const outcomes: string[] = [];
    // Each ack on a connection of its own: round robin sends about half to the worker not holding the lease.
    for (const lease of leases) {
      const answer = await post(cluster.port, '/pull/jobs/ack', JSON.stringify({ leases: [lease] }), { 'content-type': 'application/json' });
      outcomes.push(...(JSON.parse(answer.text) as { results: Array<{ outcome: string }> }).results.map((result) => result.outcome));
    }
    expect(outcomes, `holders: ${[...holders].join(', ')}`).to.deep.equal(Array<string>(6).fill('settled'));
  });
});

describe('WORKERS=2: request-reply answers reach the worker that asked', function () {
  this.timeout(90_000);
  const brokers = {
    nats: () => ({ plugin: 'nats', options: { url: `nats://${brokerEndpoints.nats().host}:${brokerEndpoints.nats().port}` } }),
    rabbitmq: () => ({ plugin: 'rabbitmq', options: { url: `amqp://guest:guest@${brokerEndpoints.rabbitmq().host}:${brokerEndpoints.rabbitmq().port}` } }),
    kafka: () => ({
      plugin: 'kafka',
      options: {
        brokers: [`${brokerEndpoints.kafka().host}:${brokerEndpoints.kafka().port}`],
        createTopics: true,
        replyTopic: `busgate.cluster-test.replies.${SUFFIX}`,
      },
    }),
  } as const;

  for (const broker of ['nats', 'rabbitmq', 'kafka'] as const) {
    describe(broker, () => {
      let responder: TestDaemon | undefined;
      let cluster: Cluster | undefined;
      const destination = `cluster-test.rr.${SUFFIX}`;

      before(async function () {
        await requireBroker(this, broker, brokerEndpoints[broker]());
        // The responder is an in-process daemon's broker instance echoing each request's payload.
        responder = await startTestDaemon({
          brokers: { [broker]: brokers[broker]() },
          routes: 'routes:\n' + route('unused', broker, 'pubsub', `cluster-test.unused.${SUFFIX}`),
        });
        await responder.brokers.get(broker)!.respond(destination, async (message) => ({ payload: message.payload, headers: {} }));
        cluster = await startCluster('routes:\n' + route('ask', broker, 'request-reply', destination), { brokers: { [broker]: brokers[broker]() } });
      });

      after(async () => {
        await stopCluster(cluster);
        await responder?.shutdown('done');
      });

      it('answers every request with its own reply, whichever worker took it', async () => {
        const bodies = Array.from({ length: 12 }, (_, i) => `question-${i}-${randomUUID()}`);
        const answers = await Promise.all(bodies.map((body) => post(cluster!.port, '/ask', body)));
        answers.forEach((answer, i) => {
          expect(answer.status, answer.text).to.equal(200);
          expect(answer.text).to.equal(bodies[i]);
        });
      });
    });
  }
});
