/**
 * busgate's own egress tests on every built-in broker, end to end, beyond what the public
 * conformance suite checks for every plugin (delivery, retries, Retry-After, dead letters, key
 * order, signatures, shared groups: conformance/egress.ts): metrics and backlog, CloudEvents
 * deliveries, endpoint outages and pubsub fan-out. A message POSTed to a daemon's route lands in a
 * broker; a subscription of the daemon delivers it to a local webhook receiver.
 */
import { writeFileSync } from 'node:fs';
import { expect } from 'chai';
import { HTTP } from 'cloudevents';
import { Webhook } from 'standardwebhooks';
import type { BrokerInstance } from '../../core/brokers/instance.js';
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
  /** Whether subscriptions name a durable group (memory has none). */
  readonly sharedGroups: boolean;
  /** `options:` of a pubsub route whose messages a subscription can read (YAML flow text). */
  readonly pubsubRouteOptions?: string;
  /** Make a pubsub source durable-readable (e.g. a stream capturing the subject). */
  preparePubsub?(destination: string): Promise<void>;
}

const SECRET = `whsec_${Buffer.from('egress-conformance-secret-0123456789').toString('base64')}`;
const SECRET_ENV = 'BUSGATE_TEST_EGRESS_SECRET';
const JSON_BODY = Buffer.from('{"order":42,"note":"crème brûlée"}');

type Case = 'basic' | 'outage' | 'ceBinary' | 'ceStructured';
const CASES: readonly Case[] = ['basic', 'outage', 'ceBinary', 'ceStructured'];
const EVENT_TYPE = 'com.example.egress.order';

export function runEgressConformance(target: EgressTarget): void {
  const wait = target.deliveryTimeoutMs ?? 10_000;

  describe(`egress: ${target.name}`, function () {
    this.timeout(Math.max(60_000, wait * 6));
    const receiver = new WebhookReceiver();
    const sources = {} as Record<Case, string>;
    const deadLetters = {} as Record<Case, string>;
    let daemon: TestDaemon;

    const deliver = (name: Case): string =>
      name === 'ceBinary' || name === 'ceStructured'
        ? `{ url: "${receiver.url(`/${name}`)}", cloudevents: ${name === 'ceBinary' ? 'binary' : 'structured'}, eventType: ${EVENT_TYPE} }`
        : `{ url: "${receiver.url(`/${name}`)}", timeout: 2s, concurrency: 4 }`;
    const extra: Record<Case, string> = {
      basic: '',
      outage: '    retry: { attempts: 2, initialDelay: 10ms, maxDelay: 50ms }\n    circuit: { failures: 2, pause: 200ms, maxPause: 400ms }\n',
      ceBinary: '',
      ceStructured: '',
    };
    const subscription = (name: Case): string =>
      `  - name: ${name}\n    broker: ${target.name}\n    source: "${sources[name]}"\n    mode: point-to-point\n${target.sharedGroups ? `    group: ${groupOf(name, sources[name])}\n` : ''}` +
      `    deliver: ${deliver(name)}\n    deadLetter: "${deadLetters[name]}"\n    signing: { secretEnv: ${SECRET_ENV} }\n${extra[name]}`;
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
            `  - name: ${name}\n    broker: ${target.name}\n    source: "${fanSource}"\n    mode: pubsub\n${target.sharedGroups ? `    group: ${groupOf(name, fanSource)}\n` : ''}` +
            `    deliver: { url: "${receiver.url(`/${name}`)}" }\n    deadLetter: "${deadLetters.basic}"\n`,
        )
        .join('');
    const fanRoute = (): string =>
      `  - path: /pub/fan\n    broker: ${target.name}\n    mode: pubsub\n    destination: "${fanSource}"\n${target.pubsubRouteOptions ? `    options: ${target.pubsubRouteOptions}\n` : ''}`;
    const config = (cases: readonly Case[]): string =>
      routes() + fanRoute() + (cases.length > 0 ? 'subscriptions:\n' + cases.map((name) => subscription(name)).join('') + fan() : '');

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
      await daemon?.shutdown('egress tests done');
      await receiver.stop();
      if (target.cleanup)
        await target
          .cleanup([
            ...Object.values(sources),
            ...Object.values(deadLetters),
            fanSource,
            ...(target.sharedGroups ? ['fanA', 'fanB'].map((name) => groupOf(name, fanSource)) : []),
          ])
          .catch(() => undefined);
    });

    const publish = async (name: Case, body: Buffer | string, headers: Record<string, string> = {}): Promise<string> => {
      const res = await daemon.post(`/pub/${name}`, body, { 'content-type': 'application/x-egress-test', 'x-tenant': 'acme', 'x-key': 'any', ...headers });
      expect(res.status, await res.clone().text()).to.equal(202);
      return ((await res.json()) as { id: string }).id;
    };

    it('counts a delivery in the metrics, and acknowledges it: nothing is left in the broker for the subscription', async () => {
      await publish('basic', JSON_BODY);
      await eventually(() => receiver.on('/basic').length >= 1, wait, 'the webhook');
      await eventuallyAsync(async () => (await metricValue(daemon, 'busgate_egress_messages_total', 'basic', 'delivered')) === 1, wait, 'delivered metric');
      // The lag gauge reads the broker's count of what waits for the subscription.
      await eventuallyAsync(async () => (await metricValue(daemon, 'busgate_egress_backlog_messages', 'basic')) === 0, wait, 'backlog 0');
    });

    // CloudEvents deliveries: a consumer's CloudEvents SDK reads the webhook request. An event
    // POSTed to the ingress (stored under the broker's binding) comes back as that same event; a
    // plain message becomes one busgate builds. The Standard Webhooks signature covers the bytes sent.
    const cloudEventsCase = (name: 'ceBinary' | 'ceStructured'): void => {
      it(`${name}: delivers events as CloudEvents a CloudEvents SDK reads, signed`, async () => {
        const eventId = `evt-${name}-${Date.now()}`;
        await publish(name, '{"order":7,"note":"naïve café"}', {
          'content-type': 'application/json',
          'ce-specversion': '1.0',
          'ce-id': eventId,
          'ce-source': '/shop/checkout',
          'ce-type': 'com.example.order.placed',
          'ce-subject': 'order 7',
          'ce-tenantid': 'acme',
        });
        const plainId = await publish(name, JSON_BODY, { 'content-type': 'application/json' });
        await eventually(() => receiver.on(`/${name}`).length >= 2, wait, 'two deliveries');
        const hooks = receiver.on(`/${name}`);
        const mapped = hooks.find((hook) => hook.headers['webhook-id'] !== plainId)!;
        const built = hooks.find((hook) => hook.headers['webhook-id'] === plainId)!;
        for (const hook of hooks) {
          expect(hook.headers['content-type']).to.match(name === 'ceBinary' ? /^application\/json/ : /^application\/cloudevents\+json/);
          expect(() => new Webhook(SECRET).verify(hook.body, hook.headers)).to.not.throw();
          // The attributes travel as the event only: no broker-binding copies forwarded.
          expect(Object.keys(hook.headers).filter((header) => /^(ce_|cloudevents:)/i.test(header))).to.deep.equal([]);
        }
        const event = HTTP.toEvent({ headers: mapped.headers, body: mapped.body.toString('utf8') });
        expect(Array.isArray(event)).to.equal(false);
        const single = event as Exclude<typeof event, unknown[]>;
        expect(single).to.deep.include({ id: eventId, source: '/shop/checkout', type: 'com.example.order.placed', specversion: '1.0' });
        // Binary mode percent-encodes the space as the HTTP binding requires; the JS SDK hands header values over undecoded.
        expect(name === 'ceBinary' ? decodeURIComponent(String(single.subject)) : single.subject).to.equal('order 7');
        expect(single.tenantid).to.equal('acme');
        expect(single.data).to.deep.equal({ order: 7, note: 'naïve café' });
        const fresh = HTTP.toEvent({ headers: built.headers, body: built.body.toString('utf8') }) as Exclude<typeof event, unknown[]>;
        expect(fresh).to.deep.include({ id: plainId, source: `/busgate/subscriptions/${name}`, type: EVENT_TYPE, subject: sources[name] });
        expect(fresh.data).to.deep.equal(JSON.parse(JSON_BODY.toString()));
      });
    };
    cloudEventsCase('ceBinary');
    cloudEventsCase('ceStructured');

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
  });
}

/** A group name per subscription and source, in characters every broker takes in one (MQTT: no `/`). */
function groupOf(name: string, source: string): string {
  return `egress-${name}-${source}`.replace(/[^A-Za-z0-9_.-]/g, '-');
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
