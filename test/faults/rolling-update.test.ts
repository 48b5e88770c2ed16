/**
 * A rolling update, simulated (issue "Beyond one machine", item 5): two daemon processes behind
 * a round-robin proxy that follows /ready, a shared idempotency store (Redis), clients sending
 * with Idempotency-Keys and repeating some keys (one after the other, and two at once), while
 * each process is replaced the way a Deployment with maxUnavailable 0 does it: start the new
 * one, wait until it is ready, then SIGTERM the old one (its /ready fails at once, it serves on
 * for SHUTDOWN_DELAY while the proxy notices, then drains and exits).
 *
 * Judged on the broker side with a consumer (as test/faults does): every acknowledged key is in
 * the queue (lost = 0) and none is there twice (duplicates = 0; RabbitMQ does not dedupe, so this
 * is the shared store's doing); every answer is 2xx or a documented, retryable refusal with
 * Retry-After (503 shutting_down, 409 idempotency_in_progress), after which the client's retry
 * of the same key succeeds. After the update, repeating the acknowledged keys (answered first by
 * processes that are gone now) replays the first receipts.
 */
import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { expect } from 'chai';
import { Kvm } from '@nats-io/kv';
import { connect as connectNats } from '@nats-io/transport-node';
import { brokerEndpoints, redisUrl, requireBroker } from '../support/require-broker.js';
import { Collector } from './ledger.js';
import { eventually, sleep } from '../support/net.js';
import { startProcessDaemon, type ProcessDaemon } from './support/process-daemon.js';
import { RoundRobinProxy } from './support/round-robin-proxy.js';

const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

interface Answer {
  readonly key: string;
  readonly status: number;
  readonly code: string | undefined;
  readonly retryAfter: string | null;
  readonly replayed: boolean;
  readonly body: string;
}

/** What a documented refusal looks like: nothing published, retry the same key later. */
function isRetryableRefusal(answer: Answer): boolean {
  return (
    answer.retryAfter !== null &&
    ((answer.status === 503 && answer.code === 'shutting_down') || (answer.status === 409 && answer.code === 'idempotency_in_progress'))
  );
}

const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** The shared idempotency stores the update is run with. */
const STORES = [
  {
    label: 'Redis',
    broker: 'redis' as const,
    url: redisUrl,
    prefix: (run: string) => `busgate-rolling-${run}:`,
    cleanup: (): Promise<void> => Promise.resolve(),
  },
  {
    label: 'JetStream KV',
    broker: 'nats' as const,
    url: () => natsUrl,
    prefix: (run: string) => `busgate_rolling_${run}_`,
    async cleanup(run: string) {
      const connection = await connectNats({ servers: natsUrl });
      await (await new Kvm(connection).open(`busgate_rolling_${run}_idempotency`)).destroy().catch(() => undefined);
      await connection.close();
    },
  },
];

for (const store of STORES)
  describe(`rolling update of two replicas behind a load balancer, shared idempotency store (${store.label})`, function () {
    this.timeout(120_000);
    const run = randomUUID().slice(0, 8);
    const queue = `rolling-${run}`;
    const answers: Answer[] = [];
    const processes: ProcessDaemon[] = [];
    const proxy = new RoundRobinProxy(100);

    after(async () => {
      await proxy.stop();
      await Promise.all(processes.map((p) => p.dispose()));
      const connection = await amqplib.connect(amqpUrl).catch(() => undefined);
      if (connection) {
        const channel = await connection.createChannel();
        channel.on('error', () => undefined);
        await channel.deleteQueue(queue).catch(() => undefined);
        await connection.close().catch(() => undefined);
      }
      await store.cleanup(run).catch(() => undefined);
    });

    it('drops no request, publishes no key twice and loses no acknowledged message', async function () {
      await requireBroker(this, 'rabbitmq', brokerEndpoints.rabbitmq());
      await requireBroker(this, store.broker, brokerEndpoints[store.broker]());
      const config = [
        'logLevel: warn',
        'shutdownDelay: 1s',
        'shutdownTimeout: 5s',
        'idempotency:',
        `  store: "${store.url()}"`,
        `stateKeyPrefix: "${store.prefix(run)}"`,
        'brokers:',
        '  rabbitmq:',
        '    plugin: rabbitmq',
        `    options: { url: "${amqpUrl}", declare: true }`,
        '',
      ].join('\n');
      const routes = `routes:\n  - name: jobs\n    path: /jobs\n    broker: rabbitmq\n    mode: point-to-point\n    destination: "${queue}"\n    timeout: 2s\n`;
      const startReplica = async (): Promise<ProcessDaemon> => {
        const replica = await startProcessDaemon({ config, routes });
        processes.push(replica);
        proxy.add(replica.url);
        await eventually(() => proxy.isReady(replica.url), 20_000, `the load balancer to see ${replica.url} ready`, 50);
        return replica;
      };

      const base = await proxy.start();
      const post = async (key: string): Promise<Answer> => {
        for (;;) {
          const res = await fetch(`${base}/jobs`, {
            method: 'POST',
            body: JSON.stringify({ key, pad: 'x'.repeat(64) }),
            headers: { 'content-type': 'application/json', 'idempotency-key': key },
            signal: AbortSignal.timeout(15_000),
          }).catch((error: unknown) => error as Error);
          let answer: Answer;
          if (res instanceof Error) {
            answer = { key, status: 0, code: 'connection_error', retryAfter: null, replayed: false, body: String(res) };
          } else {
            const body = await res.text();
            const code = res.status >= 300 ? (JSON.parse(body) as { error?: { code?: string } }).error?.code : undefined;
            answer = {
              key,
              status: res.status,
              code,
              retryAfter: res.headers.get('retry-after'),
              replayed: res.headers.get('idempotent-replayed') === 'true',
              body,
            };
          }
          answers.push(answer);
          // A client that follows the documented contract: a retryable refusal is retried with the same key.
          if (!isRetryableRefusal(answer)) return answer;
          await sleep(100);
        }
      };

      const first = await startReplica();
      const second = await startReplica();

      // Every third key is sent twice at once, every third twice one after the other.
      let running = true;
      let seq = 0;
      const keys: string[] = [];
      const client = async (): Promise<void> => {
        while (running) {
          const key = `rolling-${run}-${seq}`;
          const shape = seq % 3;
          seq += 1;
          keys.push(key);
          if (shape === 0) await Promise.all([post(key), post(key)]);
          else if (shape === 1) {
            await post(key);
            await post(key);
          } else await post(key);
          await sleep(5);
        }
      };
      const clients = Array.from({ length: 8 }, client);

      await sleep(1000);
      const restarts: { old: string; fresh: string; exitCode: number | null; exitMs: number }[] = [];
      for (const old of [first, second]) {
        const fresh = await startReplica();
        const sigtermAt = Date.now();
        old.child.kill('SIGTERM');
        const exit = await old.exited;
        proxy.remove(old.url);
        restarts.push({ old: old.url, fresh: fresh.url, exitCode: exit.code, exitMs: exit.at - sigtermAt });
        await sleep(500);
      }
      await sleep(1000);
      running = false;
      await Promise.all(clients);

      // Repeat the acknowledged keys: the processes that answered them first are gone.
      const acknowledged = [...new Set(answers.filter((a) => a.status === 202).map((a) => a.key))];
      const repeats = await Promise.all(acknowledged.slice(0, 300).map((key) => post(key)));

      const collector = new Collector();
      const connection = await amqplib.connect(amqpUrl);
      const channel = await connection.createChannel();
      await channel.consume(queue, (message) => {
        if (!message) return;
        collector.add(message.content);
        channel.ack(message);
      });
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && !acknowledged.every((key) => collector.count(key) > 0)) await sleep(50);
      await sleep(1000); // anything published twice would be here by now
      await connection.close();

      const byKey = new Map<string, Answer[]>();
      for (const answer of answers) byKey.set(answer.key, [...(byKey.get(answer.key) ?? []), answer]);
      const failures = answers.filter((a) => a.status !== 202 && !isRetryableRefusal(a));
      const lost = acknowledged.filter((key) => collector.count(key) === 0);
      const duplicates = [...collector.counts].filter(([, times]) => times > 1).map(([key]) => key);
      const neverAcknowledged = keys.filter((key) => !byKey.get(key)?.some((a) => a.status === 202));
      const counts: Record<string, number> = {};
      for (const a of answers) {
        const label = a.status === 202 ? (a.replayed ? '202 replayed' : '202') : `${a.status} ${a.code ?? ''}`;
        counts[label] = (counts[label] ?? 0) + 1;
      }
      console.log(
        `      keys ${keys.length}, requests ${answers.length}: ${JSON.stringify(counts)}; in the queue ${collector.total} (${collector.counts.size} keys); ` +
          `lost ${lost.length}, duplicates ${duplicates.length}; per process ${JSON.stringify(Object.fromEntries(proxy.sent))}; restarts ${JSON.stringify(restarts.map((r) => ({ exitCode: r.exitCode, exitMs: r.exitMs })))}`,
      );

      expect(
        restarts.map((r) => r.exitCode),
        'each old process exits 0',
      ).to.deep.equal([0, 0]);
      expect(failures.map((f) => `${f.status} ${f.code}: ${f.body.slice(0, 160)}`).slice(0, 5), 'failed requests').to.deep.equal([]);
      expect(neverAcknowledged.slice(0, 5), 'every key is acknowledged in the end').to.deep.equal([]);
      expect(lost.slice(0, 5), 'acknowledged but not in the queue').to.deep.equal([]);
      expect(duplicates.slice(0, 5), 'keys in the queue more than once').to.deep.equal([]);
      expect(
        repeats
          .filter((r) => !(r.status === 202 && r.replayed))
          .map((r) => `${r.status} ${r.code}`)
          .slice(0, 5),
        'repeats after the update are replayed',
      ).to.deep.equal([]);
      for (const replica of processes) expect(proxy.sent.get(new URL(replica.url).origin) ?? 0, `${replica.url} served traffic`).to.be.above(0);
    });
  });
