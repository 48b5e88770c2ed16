/**
 * The pull API conformance suite, on every broker, end to end: messages are enqueued through a
 * point-to-point route and leased, settled and redelivered through the pull paths of two daemons
 * (two instances, each its own instance id, sharing the broker as replicas behind a balancer do).
 * "Subscribed" is read from the busgate_subscriptions gauge, never from a timer.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { controlDestination } from '../../core/pulls/control.js';
import { apiKeysFor, bearer, BINARY_BODY } from '../support/clients.js';
import { eventuallyAsync, startTestDaemon, type TestDaemon } from '../support/daemon.js';

export interface PullTarget {
  readonly name: string;
  readonly plugin: string;
  options(): Record<string, unknown>;
  require?(context: Mocha.Context): Promise<void>;
  /** A fresh destination name (no two runs share one). */
  destination(): string;
  cleanup?(destinations: readonly string[]): Promise<void>;
  /** Durable consumer groups: the pull paths name one (every instance shares it). */
  readonly groups: boolean;
  /** The broker is shared by separate daemons (the memory broker lives inside one daemon). */
  readonly shared: boolean;
  /**
   * A pubsub source read through the group (`mode: pubsub`): the route options a pubsub route
   * needs to reach it, and what to create first (NATS: a stream capturing the subject).
   */
  readonly pubsub?: { readonly routeOptions?: string; prepare?(destination: string): Promise<void> };
  /** Longest a consumer may take to start or a redelivery to come (Kafka group joins are slow). */
  readonly slowMs?: number;
}

interface PulledMessage {
  id: string;
  lease: string;
  body: string;
  encoding: string;
  contentType: string | null;
  headers: Record<string, string>;
  position: Record<string, string> | null;
}

interface Settled {
  settled: number;
  results: { lease: string; outcome: string }[];
}

const KEYS = apiKeysFor('worker', 'other');
const AS_WORKER = bearer('worker');

export function runPullConformance(target: PullTarget): void {
  const slow = target.slowMs ?? 10_000;

  describe(`pull API conformance: ${target.name}`, function () {
    this.timeout(Math.max(40_000, slow * 5));
    const daemons: TestDaemon[] = [];
    const destinations: string[] = [];
    let source = '';
    let dead = '';
    let events = '';

    const subscriptions = async (daemon: TestDaemon): Promise<number> =>
      (await daemon.metrics.subscriptions.get()).values.filter(({ labels }) => labels.broker === target.name).reduce((sum, { value }) => sum + value, 0);
    const enqueue = async (body: string | Buffer, headers: Record<string, string> = {}): Promise<string> => {
      const res = await daemons[0]!.post('/jobs', body, { ...AS_WORKER, 'content-type': 'application/x-pull-test', ...headers });
      expect(res.status, await res.clone().text()).to.equal(202);
      return ((await res.json()) as { id: string }).id;
    };
    const pull = async (daemon: TestDaemon, query = 'max=10&wait=1s', path = '/pull/jobs'): Promise<PulledMessage[]> => {
      const res = await daemon.post(`${path}?${query}`, '', AS_WORKER);
      expect(res.status, await res.clone().text()).to.equal(200);
      return ((await res.json()) as { messages: PulledMessage[] }).messages;
    };
    /** Pulls from the daemons in turn (a balancer's round robin) until `count` messages came or time is up. */
    const pullUntil = async (
      count: number,
      from: readonly TestDaemon[] = daemons,
      path = '/pull/jobs',
    ): Promise<{ message: PulledMessage; at: TestDaemon }[]> => {
      const got: { message: PulledMessage; at: TestDaemon }[] = [];
      const deadline = Date.now() + slow * 2;
      for (let turn = 0; got.length < count && Date.now() < deadline; turn += 1) {
        const at = from[turn % from.length]!;
        for (const message of await pull(at, `max=${count - got.length}&wait=1s`, path)) got.push({ message, at });
      }
      expect(got, `${count} message(s) pulled`).to.have.length(count);
      return got;
    };
    const settle = async (daemon: TestDaemon, action: 'ack' | 'nack', body: Record<string, unknown>, path = '/pull/jobs'): Promise<Settled> => {
      const res = await daemon.post(`${path}/${action}`, JSON.stringify(body), { ...AS_WORKER, 'content-type': 'application/json' });
      expect(res.status, await res.clone().text()).to.equal(200);
      return (await res.json()) as Settled;
    };
    const nothingLeft = async (): Promise<void> => {
      for (const daemon of daemons) expect(await pull(daemon, 'max=10&wait=1s')).to.deep.equal([]);
    };

    before(async function () {
      if (target.require) await target.require(this);
      source = target.destination();
      dead = target.destination();
      events = target.destination();
      destinations.push(source, dead, events);
      await target.pubsub?.prepare?.(events);
      const groupId = randomUUID().slice(0, 8);
      const group = target.groups ? `    group: pulls-${groupId}\n` : '';
      // Group queues (RabbitMQ pubsub) are cleaned up with the destinations.
      if (target.groups) destinations.push(...['pulls', 'dead', 'untouched', 'events'].map((name) => `${name}-${groupId}`));
      const pubsub = target.pubsub;
      const routes =
        `routes:\n` +
        `  - { path: /jobs, broker: ${target.name}, mode: point-to-point, destination: "${source}" }\n` +
        `  - { path: /dead, broker: ${target.name}, mode: point-to-point, destination: "${dead}" }\n` +
        (pubsub
          ? `  - { path: /events, broker: ${target.name}, mode: pubsub, destination: "${events}"${pubsub.routeOptions ? `, options: ${pubsub.routeOptions}` : ''} }\n`
          : '') +
        `pulls:\n` +
        `  - path: /pull/jobs\n    broker: ${target.name}\n    source: "${source}"\n${group}    lease: 3s\n    maxHeld: 8\n    deadLetter: "${dead}"\n    clients: [worker]\n` +
        `  - path: /pull/dead\n    broker: ${target.name}\n    source: "${dead}"\n${group.replace('pulls-', 'dead-')}    clients: [worker]\n` +
        `  - path: /pull/untouched\n    broker: ${target.name}\n    source: "${dead}"\n${group.replace('pulls-', 'untouched-')}    clients: [worker]\n` +
        (pubsub ? `  - path: /pull/events\n    broker: ${target.name}\n    source: "${events}"\n    mode: pubsub\n${group.replace('pulls-', 'events-')}` : '');
      const count = target.shared ? 2 : 1;
      for (let i = 0; i < count; i += 1) {
        const instanceId = `pulls-${i}-${randomUUID().slice(0, 8)}`;
        // Each instance's control destination (a queue or topic on some brokers) goes too.
        destinations.push(controlDestination(instanceId));
        daemons.push(
          await startTestDaemon({
            brokers: { [target.name]: { plugin: target.plugin, options: target.options() } },
            routes,
            overrides: { apiKeys: KEYS, instanceId },
            // No consumer closes for idleness during the suite: on Kafka that is a rebalance,
            // which delivers leased messages again (at-least-once, see the README).
            pullLimits: { idleCloseMs: 600_000 },
          }),
        );
      }
      // Every instance's consumers start now, so the group is complete before the first message.
      // (A pubsub group hears only what is published after it was created.)
      for (const path of ['/pull/jobs', '/pull/dead', ...(target.pubsub ? ['/pull/events'] : [])]) {
        for (const daemon of daemons) await pull(daemon, 'wait=0s', path);
      }
    });

    after(async () => {
      await Promise.all(daemons.map((daemon) => daemon.shutdown('pull conformance done')));
      await target.cleanup?.(destinations).catch(() => undefined);
    });

    // Each message is settled before the next is awaited: on Kafka the plugin fetches a partition's
    // next batch only once every message of the current one is settled (see the README).
    it('leases messages with id, body (text or base64), type, headers and position; ack removes them', async () => {
      const textId = await enqueue('{"job":1,"note":"crème brûlée"}', {});
      const binaryId = await enqueue(BINARY_BODY);
      const got: PulledMessage[] = [];
      for (let i = 0; i < 2; i += 1) {
        const [{ message, at }] = (await pullUntil(1)) as [{ message: PulledMessage; at: TestDaemon }];
        expect(message.lease)
          .to.be.a('string')
          .and.match(/^[\w-]+\.[\w-]+\.[\w-]+$/);
        expect(message).to.have.property('position');
        expect((await settle(at, 'ack', { leases: [message.lease] })).settled).to.equal(1);
        got.push(message);
      }
      const byId = new Map(got.map((message) => [message.id, message]));
      expect(byId.get(textId)).to.include({ encoding: 'utf8', body: '{"job":1,"note":"crème brûlée"}', contentType: 'application/x-pull-test' });
      expect(byId.get(binaryId)).to.include({ encoding: 'base64', body: BINARY_BODY.toString('base64') });
      // A settled lease cannot be settled again.
      expect((await settle(daemons[0]!, 'ack', { leases: [got[0]!.lease] })).results[0]!.outcome).to.equal('unknown');
      await nothingLeft();
    });

    it('a nacked message comes back (with a delay when asked), and is gone once acked', async () => {
      const id = await enqueue('nack me');
      const [first] = await pullUntil(1);
      expect(first!.message.id).to.equal(id);
      expect((await settle(first!.at, 'nack', { leases: [first!.message.lease], delay: '200ms' })).settled).to.equal(1);
      const [again] = await pullUntil(1);
      expect(again!.message.id).to.equal(id);
      expect(again!.message.lease).to.not.equal(first!.message.lease);
      expect((await settle(again!.at, 'ack', { leases: [again!.message.lease] })).settled).to.equal(1);
      await nothingLeft();
    });

    it('an unsettled lease runs out and the message is delivered again; the old lease is then unknown', async () => {
      const id = await enqueue('forget me');
      const [first] = await pullUntil(1);
      expect(first!.message.id).to.equal(id);
      const [again] = await pullUntil(1);
      expect(again!.message.id).to.equal(id);
      expect((await settle(first!.at, 'ack', { leases: [first!.message.lease] })).results[0]!.outcome).to.equal('unknown');
      expect((await settle(again!.at, 'ack', { leases: [again!.message.lease] })).settled).to.equal(1);
      await nothingLeft();
    });

    it('nack with "requeue": false stores the message in the dead letter and removes it from the source', async () => {
      const id = await enqueue('poison');
      const [first] = await pullUntil(1);
      expect((await settle(first!.at, 'nack', { leases: [first!.message.lease], requeue: false })).settled).to.equal(1);
      const [deadLetter] = await pullUntil(1, daemons, '/pull/dead');
      expect(deadLetter!.message.body).to.equal('poison');
      expect(deadLetter!.message.headers['busgate-dead-letter-reason']).to.equal('rejected');
      expect(deadLetter!.message.id).to.equal(id);
      expect((await settle(deadLetter!.at, 'ack', { leases: [deadLetter!.message.lease] }, '/pull/dead')).settled).to.equal(1);
      await nothingLeft();
    });

    if (target.pubsub) {
      it('mode: pubsub leases what is published to the source through the shared group, once', async () => {
        const res = await daemons[0]!.post('/events', 'published', { ...AS_WORKER, 'content-type': 'text/plain' });
        expect(res.status, await res.clone().text()).to.equal(202);
        const id = ((await res.json()) as { id: string }).id;
        const [got] = await pullUntil(1, daemons, '/pull/events');
        expect(got!.message).to.include({ id, body: 'published', encoding: 'utf8' });
        expect((await settle(got!.at, 'ack', { leases: [got!.message.lease] }, '/pull/events')).settled).to.equal(1);
        for (const daemon of daemons) expect(await pull(daemon, 'max=10&wait=1s', '/pull/events')).to.deep.equal([]);
      });
    }

    if (target.shared) {
      it('pulled on one instance, acked on the other: the message is gone; nacked on the other: it comes back', async () => {
        const elsewhere = (at: TestDaemon): TestDaemon => (at === daemons[0] ? daemons[1]! : daemons[0]!);
        const ackedId = await enqueue('one');
        const [toAck] = await pullUntil(1);
        expect(toAck!.message.id).to.equal(ackedId);
        const acked = await settle(elsewhere(toAck!.at), 'ack', { leases: [toAck!.message.lease] });
        expect(acked.results[0]!.outcome).to.equal('settled');
        const nackedId = await enqueue('two');
        const [toNack] = await pullUntil(1);
        expect(toNack!.message.id).to.equal(nackedId);
        const nacked = await settle(elsewhere(toNack!.at), 'nack', { leases: [toNack!.message.lease] });
        expect(nacked.results[0]!.outcome).to.equal('settled');
        const [back] = await pullUntil(1);
        expect(back!.message.id).to.equal(toNack!.message.id);
        expect((await settle(elsewhere(back!.at), 'ack', { leases: [back!.message.lease] })).settled).to.equal(1);
        await nothingLeft();
        for (const daemon of daemons) await eventuallyAsync(() => Promise.resolve(daemon.pulls.held('/pull/jobs') === 0), slow, 'nothing held');
        let forwarded = 0;
        for (const daemon of daemons) {
          const text = await daemon.metrics.registry.metrics();
          const match = /^busgate_pull_settlements_total\{pull="\/pull\/jobs",via="forwarded",outcome="settled"\} (\d+)$/m.exec(text);
          forwarded += Number(match?.[1] ?? 0);
        }
        expect(forwarded, 'settlements forwarded to the holder').to.equal(3);
      });

      it('a forged or tampered lease is unknown on every instance', async () => {
        await enqueue('keep me');
        const [got] = await pullUntil(1);
        const [holder, lease] = got!.message.lease.split('.');
        const forged = `${holder}.${lease}.AAAAAAAAAAAAAAAAAAAAAA`;
        for (const daemon of daemons) {
          const answer = await settle(daemon, 'ack', { leases: [forged, 'not-a-token'] });
          expect(answer.results.map(({ outcome }) => outcome)).to.deep.equal(['unknown', 'unknown']);
        }
        expect((await settle(got!.at, 'ack', { leases: [got!.message.lease] })).settled).to.equal(1);
      });
    }

    it('refuses without subscribing anything: no key, a client not listed, another method, a bad query or body', async () => {
      const daemon = daemons[daemons.length - 1]!;
      const before = await subscriptions(daemon);
      const expectError = async (res: Response, status: number, code: string): Promise<void> => {
        expect(res.status, await res.clone().text()).to.equal(status);
        expect(((await res.json()) as { error: { code: string } }).error.code).to.equal(code);
      };
      await expectError(await daemon.post('/pull/untouched'), 401, 'unauthorized');
      await expectError(await daemon.post('/pull/untouched', '', bearer('other')), 403, 'forbidden');
      await expectError(await daemon.post('/pull/untouched/ack', '{"leases":["x"]}', bearer('other')), 403, 'forbidden');
      const get = await fetch(`${daemon.url}/pull/untouched`, { headers: AS_WORKER });
      expect(get.headers.get('allow')).to.equal('POST');
      await expectError(get, 405, 'method_not_allowed');
      await expectError(await daemon.post('/pull/untouched?max=0', '', AS_WORKER), 400, 'bad_request');
      await expectError(await daemon.post('/pull/untouched?wait=10m', '', AS_WORKER), 400, 'bad_request');
      await expectError(await daemon.post('/pull/untouched/ack', '{"leases":[]}', AS_WORKER), 400, 'bad_request');
      await expectError(await daemon.post('/pull/untouched/nack', '{"leases":["x"],"requeue":false}', AS_WORKER), 400, 'bad_request');
      await expectError(await daemon.post('/pull/untouched/nack', '{"leases":["x"],"delay":"soon"}', AS_WORKER), 400, 'bad_request');
      expect(await subscriptions(daemon)).to.equal(before);
      expect(daemon.pulls.held('/pull/untouched')).to.equal(0);
    });
    if (target.shared) {
      // Last: it stops one of the two instances.
      it('a lease whose instance stopped is unreachable from the other, and its message comes back there', async () => {
        const id = await enqueue('holder goes away');
        const [got] = await pullUntil(1);
        const survivor = got!.at === daemons[0] ? daemons[1]! : daemons[0]!;
        await got!.at.shutdown('the holder stops');
        const answer = await settle(survivor, 'ack', { leases: [got!.message.lease] });
        expect(answer.results[0]!.outcome).to.equal('unreachable');
        const [again] = await pullUntil(1, [survivor]);
        expect(again!.message.id).to.equal(id);
        expect((await settle(survivor, 'ack', { leases: [again!.message.lease] })).settled).to.equal(1);
      });
    }
  });
}
