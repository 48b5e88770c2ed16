/**
 * The egress conformance suite: the same webhook-delivery behaviour on every broker, end to end.
 * A message POSTed to a daemon's route lands in a broker; a subscription of a daemon delivers it
 * to a local webhook receiver; dead letters are read back from the broker.
 */
import { writeFileSync } from 'node:fs';
import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import type { BrokerInstance } from '../../core/brokers/instance.js';
import type { InboundMessage } from '../../core/plugins/contract.js';
import { eventually, eventuallyAsync, startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

export interface EgressTarget {
  readonly name: string;
  readonly plugin: string;
  options(): Record<string, unknown>;
  require?(context: Mocha.Context): Promise<void>;
  /** A fresh destination name (no two tests share one). */
  destination(): string;
  /** Make a point-to-point source or dead letter usable before the subscription starts. */
  prepare?(destination: string, broker: BrokerInstance): Promise<void>;
  cleanup?(destinations: readonly string[]): Promise<void>;
  /** Longest a delivery may take (Kafka group joins are slow). */
  readonly deliveryTimeoutMs?: number;
  /** Whether two daemons can share one durable group (memory lives in one process). */
  readonly sharedGroups: boolean;
  /** `options:` of a pubsub route whose messages a subscription can read (YAML flow text). */
  readonly pubsubRouteOptions?: string;
  /** Make a pubsub source durable-readable (e.g. a stream capturing the subject). */
  preparePubsub?(destination: string): Promise<void>;
}

const SECRET = `whsec_${Buffer.from('egress-conformance-secret-0123456789').toString('base64')}`;
const SECRET_ENV = 'BUSGATE_TEST_EGRESS_SECRET';
const JSON_BODY = Buffer.from('{"order":42,"note":"crème brûlée"}');
/** Not UTF-8: only byte-exact handling gets it through unchanged. */
const BODY = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d, 0x0a, 0xff]);

type Case = 'basic' | 'retry503' | 'retryAfter' | 'rejected' | 'exhausted' | 'keyed' | 'shared' | 'outage';
const CASES: readonly Case[] = ['basic', 'retry503', 'retryAfter', 'rejected', 'exhausted', 'keyed', 'shared', 'outage'];

export function runEgressConformance(target: EgressTarget): void {
  const wait = target.deliveryTimeoutMs ?? 10_000;

  describe(`egress conformance: ${target.name}`, function () {
    this.timeout(Math.max(60_000, wait * 6));
    const receiver = new WebhookReceiver();
    const sources = {} as Record<Case, string>;
    const deadLetters = {} as Record<Case, string>;
    let daemon: TestDaemon;
    let second: TestDaemon | undefined;
    const closers: { close(): Promise<void> }[] = [];

    const deliver = (name: Case, daemonTag: string): string =>
      name === 'keyed'
        ? `{ url: "${receiver.url('/keyed')}", concurrency: 4, ordering: key }`
        : `{ url: "${receiver.url(`/${name}${daemonTag}`)}", timeout: 2s, concurrency: 4, headers: { x-configured: yes } }`;
    const extra: Record<Case, string> = {
      basic: '',
      retry503: '    retry: { attempts: 3, initialDelay: 50ms, maxDelay: 200ms }\n',
      retryAfter: '    retry: { attempts: 3, initialDelay: 10ms, maxDelay: 20ms }\n',
      rejected: '',
      exhausted: '    retry: { attempts: 3, initialDelay: 10ms, maxDelay: 50ms }\n',
      keyed: '',
      shared: '',
      outage: '    retry: { attempts: 2, initialDelay: 10ms, maxDelay: 50ms }\n    circuit: { failures: 2, pause: 200ms, maxPause: 400ms }\n',
    };
    const subscription = (name: Case, daemonTag: string): string =>
      `  - name: ${name}\n    broker: ${target.name}\n    source: "${sources[name]}"\n    mode: point-to-point\n${target.sharedGroups ? `    group: egress-${name}-${sources[name]}\n` : ''}` +
      `    deliver: ${deliver(name, daemonTag)}\n    deadLetter: "${deadLetters[name]}"\n    signing: { secretEnv: ${SECRET_ENV} }\n${extra[name]}`;
    const routes = (): string =>
      'routes:\n' +
      CASES.map(
        (name) =>
          `  - path: /pub/${name}\n    broker: ${target.name}\n    mode: point-to-point\n    destination: "${sources[name]}"\n    key: "{header.x-key}"\n    headers: [x-tenant, x-key]\n`,
      ).join('');
    // Two pubsub subscriptions (two groups) on one source: each gets every message.
    let fanSource = '';
    const fan = (): string =>
      ['fanA', 'fanB']
        .map(
          (name) =>
            `  - name: ${name}\n    broker: ${target.name}\n    source: "${fanSource}"\n    mode: pubsub\n${target.sharedGroups ? `    group: egress-${name}-${fanSource}\n` : ''}` +
            `    deliver: { url: "${receiver.url(`/${name}`)}" }\n    deadLetter: "${deadLetters.basic}"\n`,
        )
        .join('');
    const fanRoute = (): string =>
      `  - path: /pub/fan\n    broker: ${target.name}\n    mode: pubsub\n    destination: "${fanSource}"\n${target.pubsubRouteOptions ? `    options: ${target.pubsubRouteOptions}\n` : ''}`;
    const config = (cases: readonly Case[], daemonTag = ''): string =>
      routes() +
      fanRoute() +
      (cases.length > 0 ? 'subscriptions:\n' + cases.map((name) => subscription(name, daemonTag)).join('') + (daemonTag === '' ? fan() : '') : '');

    before(async function () {
      if (target.require) await target.require(this);
      process.env[SECRET_ENV] = SECRET;
      await receiver.start();
      fanSource = target.destination();
      await target.preparePubsub?.(fanSource);
      for (const name of CASES) {
        sources[name] = target.destination();
        deadLetters[name] = target.destination();
      }
      daemon = await startTestDaemon({ brokers: { [target.name]: { plugin: target.plugin, options: target.options() } }, routes: config([]) });
      const plugin = daemon.brokers.get(target.name)!;
      for (const name of CASES) {
        await target.prepare?.(sources[name], plugin);
        await target.prepare?.(deadLetters[name], plugin);
      }
      writeFileSync(daemon.routesFile, config(CASES));
      const result = await daemon.reload('the test adds the subscriptions');
      expect(result.problems).to.deep.equal([]);
      await eventually(() => Object.values(daemon.egress.statuses()).every((status) => status.up), wait, 'every subscription consuming');
    });

    after(async () => {
      await Promise.all(closers.splice(0).map((c) => c.close().catch(() => undefined)));
      await second?.shutdown('egress conformance done');
      await daemon?.shutdown('egress conformance done');
      await receiver.stop();
      if (target.cleanup)
        await target
          .cleanup([
            ...Object.values(sources),
            ...Object.values(deadLetters),
            fanSource,
            ...(target.sharedGroups ? ['fanA', 'fanB'].map((name) => `egress-${name}-${fanSource}`) : []),
          ])
          .catch(() => undefined);
    });

    const publish = async (name: Case, body: Buffer | string, headers: Record<string, string> = {}): Promise<string> => {
      const res = await daemon.post(`/pub/${name}`, body, { 'content-type': 'application/x-egress-test', 'x-tenant': 'acme', 'x-key': 'any', ...headers });
      expect(res.status, await res.clone().text()).to.equal(202);
      return ((await res.json()) as { id: string }).id;
    };

    const deadLettersOf = async (name: Case, count: number): Promise<InboundMessage[]> => {
      const got: InboundMessage[] = [];
      const subscription = await daemon.brokers.get(target.name)!.subscribe(deadLetters[name], { mode: 'point-to-point' }, (message: InboundMessage) => {
        got.push(message);
        return Promise.resolve();
      });
      closers.push(subscription);
      await eventually(() => got.length >= count, wait, `${count} dead letter(s) on ${deadLetters[name]}`);
      return got;
    };

    it('delivers the body with its content type, forwarded and configured headers, a stable id and a Standard Webhooks signature', async () => {
      const id = await publish('basic', JSON_BODY);
      await eventually(() => receiver.on('/basic').length >= 1, wait, 'the webhook');
      const [hook] = receiver.on('/basic');
      expect(Buffer.compare(hook!.body, JSON_BODY)).to.equal(0);
      expect(hook!.headers).to.include({
        'content-type': 'application/x-egress-test',
        'x-tenant': 'acme',
        'x-configured': 'yes',
        'webhook-id': id,
        'busgate-attempt': '1',
        'busgate-subscription': 'basic',
      });
      expect(Number(hook!.headers['webhook-timestamp'])).to.be.closeTo(Date.now() / 1000, 60);
      // The receiver's side: the official library accepts the signature over the exact bytes.
      // (It verifies over the body as a UTF-8 string, so the test body is UTF-8 JSON.)
      expect(new Webhook(SECRET).verify(hook!.body, hook!.headers)).to.deep.equal(JSON.parse(JSON_BODY.toString()));
      expect(() => new Webhook(SECRET).verify(Buffer.concat([hook!.body, Buffer.from('x')]), hook!.headers)).to.throw();
      // Acknowledged: nothing waits in the broker for the subscription any more (lag gauge).
      await eventuallyAsync(async () => (await metricValue(daemon, 'busgate_egress_backlog_messages', 'basic')) === 0, wait, 'backlog 0');
    });

    it('retries after a 503 with the same webhook-id, and acknowledges after the 2xx', async () => {
      receiver.script('/retry503', (_hook, nth) => ({ status: nth === 1 ? 503 : 200 }));
      const id = await publish('retry503', 'retry me');
      await eventually(() => receiver.on('/retry503').length >= 2, wait, 'two attempts');
      const hooks = receiver.on('/retry503');
      expect(hooks.map((hook) => hook.headers['webhook-id'])).to.deep.equal([id, id]);
      expect(hooks.map((hook) => hook.headers['busgate-attempt'])).to.deep.equal(['1', '2']);
      await eventuallyAsync(async () => (await metricValue(daemon, 'busgate_egress_messages_total', 'retry503', 'delivered')) === 1, wait, 'delivered metric');
    });

    it('honours Retry-After on a 429 instead of its own backoff', async () => {
      receiver.script('/retryAfter', (_hook, nth) => (nth === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 204 }));
      await publish('retryAfter', 'slow down');
      await eventually(() => receiver.on('/retryAfter').length >= 2, wait, 'two attempts');
      const [first, again] = receiver.on('/retryAfter');
      // The backoff alone would retry within 20 ms; Retry-After asked for a second.
      expect(again!.at - first!.at).to.be.at.least(900);
    });

    it('sends a permanent 4xx straight to the dead letter with the reason headers and the original headers', async () => {
      receiver.script('/rejected', () => ({ status: 422 }));
      const id = await publish('rejected', BODY, { 'x-key': 'k1' });
      const [dead] = await deadLettersOf('rejected', 1);
      expect(receiver.on('/rejected')).to.have.length(1);
      expect(Buffer.compare(dead!.payload, BODY)).to.equal(0);
      expect(dead!.headers).to.include({
        'busgate-dead-letter-reason': 'rejected',
        'busgate-attempts': '1',
        'busgate-last-status': '422',
        'busgate-subscription': 'rejected',
        'x-tenant': 'acme',
      });
      expect(dead!.headers['busgate-id'] ?? dead!.delivery?.messageId).to.equal(id);
    });

    it('dead-letters a message after retry.attempts failures, with reason exhausted', async () => {
      receiver.script('/exhausted', () => ({ status: 500 }));
      await publish('exhausted', 'never taken');
      const [dead] = await deadLettersOf('exhausted', 1);
      expect(receiver.on('/exhausted')).to.have.length(3);
      expect(dead!.headers).to.include({ 'busgate-dead-letter-reason': 'exhausted', 'busgate-attempts': '3', 'busgate-last-status': '500' });
    });

    it('ordering: key delivers each key in publish order with concurrency > 1', async () => {
      // Answers take a random while, so that unordered delivery would show.
      receiver.script('/keyed', () => ({ status: 200, delayMs: Math.floor(Math.random() * 15) }));
      const keys = ['a', 'b', 'c'];
      const sent = new Map(keys.map((key) => [key, [] as string[]]));
      for (let i = 0; i < 12; i += 1) {
        for (const key of keys) {
          await publish('keyed', `${key}-${i}`, { 'x-key': key });
          sent.get(key)!.push(`${key}-${i}`);
        }
      }
      await eventually(() => receiver.on('/keyed').length >= 36, wait * 2, 'every keyed message');
      for (const key of keys) {
        const got = receiver
          .on('/keyed')
          .map((hook) => hook.body.toString())
          .filter((body) => body.startsWith(`${key}-`));
        expect(dedupe(got), `order of key ${key}`).to.deep.equal(sent.get(key));
      }
    });

    it('pauses on an endpoint outage without spending attempts, and resumes after a probe succeeds', async () => {
      let down = true;
      receiver.script('/outage', () => ({ status: down ? 503 : 200 }));
      const ids = await Promise.all([0, 1, 2, 3, 4].map((i) => publish('outage', `outage-${i}`)));
      await eventuallyAsync(async () => (await metricValue(daemon, 'busgate_egress_endpoint_circuit', 'outage')) === 2, wait, 'the circuit to open');
      // Far more failures than attempts: 2 would have dead-lettered everything without the pause.
      await eventually(() => receiver.on('/outage').length >= 8, wait, 'probes during the outage');
      down = false;
      await eventually(
        () => ids.every((id) => receiver.on('/outage').some((hook) => hook.headers['webhook-id'] === id && hook.at > 0)),
        wait,
        'all delivered after the outage',
      );
      await eventuallyAsync(async () => (await metricValue(daemon, 'busgate_egress_messages_total', 'outage', 'delivered')) === 5, wait, 'five delivered');
      expect(await metricValue(daemon, 'busgate_egress_dead_letters_total', 'outage')).to.equal(0);
    });

    it('pubsub: two subscriptions with their own groups each get every message', async () => {
      const sent: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        const res = await daemon.post('/pub/fan', `fan-${i}`, { 'content-type': 'text/plain' });
        expect(res.status, await res.clone().text()).to.equal(202);
        sent.push(((await res.json()) as { id: string }).id);
      }
      await eventually(() => receiver.on('/fanA').length >= 5 && receiver.on('/fanB').length >= 5, wait, 'both subscriptions');
      for (const name of ['/fanA', '/fanB']) expect(new Set(receiver.on(name).map((hook) => hook.headers['webhook-id']))).to.deep.equal(new Set(sent));
    });

    it('two daemons subscribed with the same group share the messages: each delivered once in total', async function () {
      if (!target.sharedGroups) this.skip();
      second = await startTestDaemon({ brokers: { [target.name]: { plugin: target.plugin, options: target.options() } }, routes: config(['shared'], '-b') });
      await eventually(() => Object.values(second!.egress.statuses()).every((status) => status.up), wait, 'second daemon consuming');
      const ids: string[] = [];
      for (let i = 0; i < 20; i += 1) ids.push(await publish('shared', `shared-${i}`));
      const delivered = (): ReceivedIds => new ReceivedIds([...receiver.on('/shared'), ...receiver.on('/shared-b')].map((hook) => hook.headers['webhook-id']!));
      await eventually(() => ids.every((id) => delivered().has(id)), wait * 2, 'every shared message');
      expect(delivered().duplicates).to.equal(0);
    });
  });
}

class ReceivedIds {
  private readonly counts = new Map<string, number>();
  constructor(ids: readonly string[]) {
    for (const id of ids) this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
  }
  has(id: string): boolean {
    return this.counts.has(id);
  }
  get duplicates(): number {
    return [...this.counts.values()].reduce((sum, n) => sum + n - 1, 0);
  }
}

/** The order of first arrivals (a redelivery after a broker hiccup may repeat one). */
function dedupe(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** The sum of a metric's series for one subscription (and outcome, when given). */
export async function metricValue(daemon: TestDaemon, name: string, subscription: string, outcome?: string): Promise<number> {
  const metric = daemon.metrics.registry.getSingleMetric(name);
  if (!metric) return Number.NaN;
  const { values } = await metric.get();
  let sum = 0;
  for (const entry of values) {
    if (entry.labels.subscription !== subscription) continue;
    if (outcome !== undefined && entry.labels.outcome !== outcome) continue;
    sum += entry.value;
  }
  return sum;
}
