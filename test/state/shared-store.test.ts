/**
 * Two daemons on one shared store (Redis): an Idempotency-Key publishes once whichever replica
 * gets it, a concurrent duplicate waits or gets 409 and never publishes, keys stay per client,
 * rate limits are one bucket for all replicas, and a store that is down gives the documented
 * answers (keyed requests: 503 idempotency_store_unavailable, nothing published; rate limits:
 * each instance's own bucket, counted).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { createClient } from '@redis/client';
import { Kvm } from '@nats-io/kv';
import { connect as connectNats } from '@nats-io/transport-node';
import type { DaemonConfig } from '../../core/config.js';
import type { InboundMessage, Reply } from '../../core/plugins/contract.js';
import { createLogger } from '../../core/observability/logger.js';
import { natsKvClaims } from '../../plugins/nats/claim-store.js';
import { eventually, freePort, tcpReachable } from '../support/net.js';
import { sleep, startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { brokerEndpoints, brokersRequired, redisUrl, requireBroker } from '../support/require-broker.js';

const ALICE = 'alice-secret-0123456789abcdef';
const BOB = 'bob-secret-0123456789abcdef00';

const ROUTES = `routes:
  - name: jobs
    path: /jobs
    broker: memory
    mode: point-to-point
    destination: jobs
  - name: ask
    path: /ask
    broker: memory
    mode: request-reply
    destination: ask
    timeout: 2s
  - name: limited
    path: /limited
    broker: memory
    mode: pubsub
    destination: limited
    rateLimit: { perSecond: 0.01, burst: 4 }
`;

/** Rate limits only have a Redis store: with a NATS idempotency store they stay per instance. */
function stateOverrides(store: string, prefix: string): Partial<DaemonConfig> {
  return {
    idempotency: { windowMs: 600_000, maxKeys: 100_000, maxBytes: 64 * 1024 * 1024, maxReplyBytes: 64 * 1024, store },
    rateLimitStore: store.startsWith('nats:') ? '' : store,
    stateKeyPrefix: prefix,
    apiKeys: new Map([
      ['alice', ALICE],
      ['bob', BOB],
    ]),
  };
}

const natsUrl = (): string => process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** A replica: a daemon with its own memory broker, counting what reaches its queue and responder. */
interface Replica {
  readonly daemon: TestDaemon;
  readonly queued: string[];
  readonly asked: string[];
  replyDelayMs: number;
}

async function startReplica(store: string, prefix: string): Promise<Replica> {
  const daemon = await startTestDaemon({
    routes: ROUTES,
    brokers: { memory: { plugin: 'memory', options: {} } },
    overrides: stateOverrides(store, prefix),
    connectWaitMs: 2000,
  });
  const replica: Replica = { daemon, queued: [], asked: [], replyDelayMs: 0 };
  const broker = daemon.brokers.get('memory')!;
  await broker.subscribe('jobs', { mode: 'point-to-point' }, (m: InboundMessage) => {
    replica.queued.push(Buffer.from(m.payload).toString());
    return Promise.resolve();
  });
  await broker.respond('ask', async (m: InboundMessage): Promise<Reply> => {
    replica.asked.push(Buffer.from(m.payload).toString());
    await sleep(replica.replyDelayMs);
    return { payload: Buffer.from(`answered ${Buffer.from(m.payload).toString()}`), headers: {}, contentType: 'text/plain' };
  });
  return replica;
}

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

const STORES = [
  {
    label: 'Redis',
    broker: 'redis' as const,
    url: redisUrl,
    async cleanup(prefix: string) {
      const redis = createClient({ url: redisUrl() });
      await redis.connect();
      for await (const keys of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (keys.length > 0) await redis.del(keys);
      await redis.close();
    },
  },
  {
    label: 'JetStream KV',
    broker: 'nats' as const,
    url: natsUrl,
    async cleanup(prefix: string) {
      const connection = await connectNats({ servers: natsUrl() });
      await (await new Kvm(connection).open(`${prefix.replace(/[^A-Za-z0-9_-]/g, '_')}idempotency`)).destroy().catch(() => undefined);
      await connection.close();
    },
  },
];

for (const store of STORES)
  describe(`shared state store (${store.label}): two replicas`, function () {
    this.timeout(30_000);
    const prefix = `busgate-test-${randomUUID().slice(0, 8)}:`;
    let a: Replica;
    let b: Replica;

    before(async function () {
      await requireBroker(this, store.broker, brokerEndpoints[store.broker]());
      a = await startReplica(store.url(), prefix);
      b = await startReplica(store.url(), prefix);
    });

    after(async () => {
      await Promise.all([a?.daemon.shutdown('test done'), b?.daemon.shutdown('test done')]);
      await store.cleanup(prefix).catch(() => undefined);
    });

    it('the same key sent to both publishes once; the second gets the first answer, replayed', async () => {
      const headers = { 'x-api-key': ALICE, 'idempotency-key': 'order-1' };
      const first = await a.daemon.post('/jobs', 'first', headers);
      const second = await b.daemon.post('/jobs', 'second', headers);
      expect(first.status).to.equal(202);
      expect(second.status).to.equal(202);
      expect(second.headers.get('idempotent-replayed')).to.equal('true');
      expect(await second.json()).to.deep.equal(await first.json());
      await sleep(50);
      expect([...a.queued, ...b.queued]).to.deep.equal(['first']);
    });

    it('a concurrent duplicate on the other replica waits for the first and never publishes', async () => {
      a.replyDelayMs = 300;
      b.replyDelayMs = 300;
      const headers = { 'x-api-key': ALICE, 'idempotency-key': 'ask-1' };
      const answers = await Promise.all([a.daemon.post('/ask', 'one', headers), sleep(30).then(() => b.daemon.post('/ask', 'two', headers))]);
      expect(answers.map((res) => res.status)).to.deep.equal([200, 200]);
      expect(await answers[0].text()).to.equal('answered one');
      expect(await answers[1].text()).to.equal('answered one');
      expect(answers[1].headers.get('idempotent-replayed')).to.equal('true');
      expect([...a.asked, ...b.asked]).to.deep.equal(['one']);
    });

    it('a duplicate whose first attempt fails gets 409 and publishes nothing; the retry then runs', async () => {
      a.replyDelayMs = 3000; // past the route timeout (2s): the first attempt fails with 504
      a.asked.length = 0;
      b.asked.length = 0;
      const headers = { 'x-api-key': ALICE, 'idempotency-key': 'ask-2' };
      const [first, duplicate] = await Promise.all([a.daemon.post('/ask', 'slow', headers), sleep(30).then(() => b.daemon.post('/ask', 'dup', headers))]);
      expect(first.status).to.equal(504);
      expect(duplicate.status).to.equal(409);
      expect(duplicate.headers.get('retry-after')).to.equal('1');
      expect(await codeOf(duplicate)).to.equal('idempotency_in_progress');
      expect([...a.asked, ...b.asked]).to.deep.equal(['slow']);
      b.replyDelayMs = 0;
      const retry = await b.daemon.post('/ask', 'retry', headers);
      expect(retry.status).to.equal(200);
      expect(retry.headers.get('idempotent-replayed')).to.equal(null);
    });

    it("keys are per client: b sending a's key gets its own answer", async () => {
      b.replyDelayMs = 0;
      a.replyDelayMs = 0;
      await a.daemon.post('/ask', 'alice-secret-question', { 'x-api-key': ALICE, 'idempotency-key': 'ask-3' });
      const bob = await b.daemon.post('/ask', 'bob-question', { 'x-api-key': BOB, 'idempotency-key': 'ask-3' });
      expect(bob.headers.get('idempotent-replayed')).to.equal(null);
      expect(await bob.text()).to.equal('answered bob-question');
    });

    // Only Redis holds rate limits (RATE_LIMIT_STORE); with JetStream KV they stay per instance.
    if (store.broker === 'redis')
      it('a route rate limit is one bucket for both replicas', async () => {
        const statuses: number[] = [];
        for (let i = 0; i < 8; i += 1) {
          const replica = i % 2 === 0 ? a : b;
          statuses.push((await replica.daemon.post('/limited', 'x', { 'x-api-key': ALICE })).status);
        }
        expect(statuses.filter((status) => status === 202)).to.have.length(4);
        expect(statuses.slice(4)).to.deep.equal([429, 429, 429, 429]);
      });

    if (store.broker === 'redis')
      it("the shared bucket is per client: alice's flood never gets bob a 429", async () => {
        const send = (i: number, key: string): Promise<Response> => (i % 2 === 0 ? a : b).daemon.post('/limited', 'x', { 'x-api-key': key });
        const [alice, bob] = await Promise.all([
          Promise.all(Array.from({ length: 6 }, (_, i) => send(i, ALICE))),
          Promise.all(Array.from({ length: 4 }, (_, i) => send(i, BOB))),
        ]);
        expect(bob.map((r) => r.status)).to.deep.equal([202, 202, 202, 202]);
        // Alice's bucket holds 4 (fewer if the test above spent it): at least 2 of her 6 are refused.
        const refused = alice.filter((r) => r.status === 429);
        expect(refused.length).to.be.at.least(2);
        expect(Number(refused[0]!.headers.get('retry-after'))).to.be.greaterThan(0);
        // Bob's own bucket is spent now, on both replicas.
        expect((await a.daemon.post('/limited', 'x', { 'x-api-key': BOB })).status).to.equal(429);
        expect((await b.daemon.post('/limited', 'x', { 'x-api-key': BOB })).status).to.equal(429);
      });
  });

describe('shared state store down', function () {
  this.timeout(20_000);
  let replica: Replica;

  before(async () => {
    // Nothing listens on this port: the store is down from the start.
    replica = await startReplica(`redis://127.0.0.1:${await freePort()}`, 'busgate-down:');
  });
  after(() => replica?.daemon.shutdown('test done'));

  it('a request with an Idempotency-Key gets 503 idempotency_store_unavailable and publishes nothing', async () => {
    const res = await replica.daemon.post('/jobs', 'keyed', { 'x-api-key': ALICE, 'idempotency-key': 'k-1' });
    expect(res.status).to.equal(503);
    expect(res.headers.get('retry-after')).to.equal('1');
    expect(await codeOf(res)).to.equal('idempotency_store_unavailable');
    await sleep(50);
    expect(replica.queued).to.deep.equal([]);
  });

  it('a request without a key is served as usual', async () => {
    const res = await replica.daemon.post('/jobs', 'unkeyed', { 'x-api-key': ALICE });
    expect(res.status).to.equal(202);
  });

  it("rate limits fall back to the instance's own bucket, and the failures are counted", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await replica.daemon.post('/limited', 'x', { 'x-api-key': ALICE })).status);
    expect(statuses).to.deep.equal([202, 202, 202, 202, 429, 429]);
    const metrics = await (await fetch(`${replica.daemon.url}/metrics`)).text();
    expect(metrics).to.match(/^busgate_state_store_errors_total\{store="rate_limit",operation="take"\} 6$/m);
    expect(metrics).to.match(/^busgate_state_store_errors_total\{store="idempotency",operation="claim"\} [1-9]/m);
  });
});

/** A redis-server of this test's own on a free port, so it can be killed without hurting others. */
async function privateRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await eventually(() => tcpReachable('127.0.0.1', port, 1000), 10_000, 'the private redis-server', 50);
  return child;
}

describe('shared state store lost and back', function () {
  this.timeout(30_000);
  let replica: Replica;
  let redis: ChildProcess | undefined;
  let port: number;

  before(async function () {
    if (spawnSync('redis-server', ['--version']).status !== 0) {
      if (brokersRequired()) throw new Error('redis-server is not installed; CI requires it (scripts/test-tools.sh installs it)');
      this.skip();
    }
    port = await freePort();
    redis = await privateRedis(port);
    replica = await startReplica(`redis://127.0.0.1:${port}`, 'busgate-lost:');
  });
  after(async () => {
    await replica?.daemon.shutdown('test done');
    redis?.kill('SIGKILL');
  });

  it('answers 503 at once while Redis is gone (never a hang), and serves keys again once it is back', async () => {
    const keyed = (key: string) => replica.daemon.post('/jobs', key, { 'x-api-key': ALICE, 'idempotency-key': key });
    expect((await keyed('before')).status).to.equal(202);

    redis!.kill('SIGKILL');
    await new Promise((resolve) => redis!.once('exit', resolve));
    const started = Date.now();
    const during = await Promise.all(['gone-1', 'gone-2', 'gone-3'].map(keyed));
    const tookMs = Date.now() - started;
    expect(during.map((res) => res.status)).to.deep.equal([503, 503, 503]);
    expect(await codeOf(during[0]!)).to.equal('idempotency_store_unavailable');
    // A refusal, not a wait: the answers come before the route's deadline (5 s) could pass.
    expect(tookMs, 'answered before the route deadline').to.be.below(5000);
    expect((await replica.daemon.post('/jobs', 'unkeyed', { 'x-api-key': ALICE })).status).to.equal(202);

    redis = await privateRedis(port);
    let status = 0;
    await eventually(
      async () => {
        status = (await keyed(`back-${randomUUID().slice(0, 6)}`)).status;
        return status === 202;
      },
      15_000,
      'keyed requests to succeed again',
      200,
    );
    const first = await keyed('after');
    const repeat = await keyed('after');
    expect([first.status, repeat.status]).to.deep.equal([202, 202]);
    expect(repeat.headers.get('idempotent-replayed')).to.equal('true');
    await sleep(50);
    expect(replica.queued.filter((body) => body.startsWith('gone-'))).to.deep.equal([]);
  });
});

describe('JetStream KV claims', function () {
  this.timeout(20_000);
  const bucket = `busgate_test_${randomUUID().slice(0, 8)}_idempotency`;
  const logger = createLogger({ level: 'error', format: 'json', silent: true });

  before(async function () {
    await requireBroker(this, 'nats', brokerEndpoints.nats());
  });
  after(async () => {
    const connection = await connectNats({ servers: natsUrl() });
    await (await new Kvm(connection).open(bucket)).destroy().catch(() => undefined);
    await connection.close();
  });

  it('a claim whose owner died is taken over once its lease has ended, never before', async () => {
    const claims = await natsKvClaims(natsUrl(), bucket, 60_000, logger);
    try {
      const key = 'route\u0000alice\u0000k-1';
      expect(await claims.claim(key, `P:owner:${Date.now() + 60_000}`, 60_000)).to.equal(true);
      expect(await claims.claim(key, `P:other:${Date.now() + 60_000}`, 60_000), 'a live claim holds').to.equal(false);
      const expired = 'route\u0000alice\u0000k-2';
      expect(await claims.claim(expired, `P:dead:${Date.now() - 1}`, 0)).to.equal(true);
      expect(await claims.claim(expired, `P:next:${Date.now() + 60_000}`, 60_000), 'an expired claim is taken over').to.equal(true);
      await claims.settle(expired, `P:dead:0`, 'not ours', 60_000);
      expect(await claims.read(expired), 'settle only replaces its own claim').to.match(/^P:next:/);
    } finally {
      await claims.close();
    }
  });

  it('NATS unreachable: keyed requests get 503 idempotency_store_unavailable, others are served', async () => {
    const replica = await startReplica(`nats://127.0.0.1:${await freePort()}`, 'busgate-down:');
    try {
      const keyed = await replica.daemon.post('/jobs', 'keyed', { 'x-api-key': ALICE, 'idempotency-key': 'k-1' });
      expect(keyed.status).to.equal(503);
      expect(await codeOf(keyed)).to.equal('idempotency_store_unavailable');
      expect((await replica.daemon.post('/jobs', 'unkeyed', { 'x-api-key': ALICE })).status).to.equal(202);
      await sleep(50);
      expect(replica.queued).to.deep.equal(['unkeyed']);
    } finally {
      await replica.daemon.shutdown('test done');
    }
  });
});
