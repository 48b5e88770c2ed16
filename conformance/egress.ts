/**
 * The egress part of the conformance suite (broker -> webhook), for plugins that declare `egress`:
 * a message POSTed to a route lands in the broker, a subscription of the daemon consumes it through
 * the plugin and POSTs it to a local webhook receiver; dead letters are read back from the broker.
 * Retries, dead letters and signatures are the core's, but each one depends on the plugin holding
 * a message until its handler settles, handing it back when the handler fails, and sharing a
 * durable group across daemons; so every plugin runs them.
 *
 * A plugin that declares no egress gets these tests as pending, and skippedCapabilities() says why.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { BrokerInstance } from '../core/brokers/instance.js';
import type { InboundMessage } from '../core/plugins/contract.js';
import { eventually, startTestDaemon, type TestDaemon } from './daemon.js';
import { noteNotDeclared } from './require-broker.js';
import type { ConformanceTarget } from './suite.js';
import { WebhookReceiver, type ReceivedHook } from './webhook-receiver.js';

const SECRET = `whsec_${Buffer.from('busgate-egress-conformance-secret').toString('base64')}`;
const SECRET_ENV = 'BUSGATE_CONFORMANCE_WEBHOOK_SECRET';
/** UTF-8 JSON: the standardwebhooks library verifies over the body as a string. */
const JSON_BODY = Buffer.from('{"order":42,"note":"crème brûlée"}');
/** Not UTF-8: only byte-exact handling gets it to the dead letter unchanged. */
const BINARY_BODY = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d, 0x0a, 0xff]);

const CASES = ['basic', 'retry503', 'retryAfter', 'rejected', 'exhausted', 'keyed', 'shared'] as const;
type Case = (typeof CASES)[number];

/** Per case: what the subscription adds to the common settings (YAML lines, 4-space indent). */
const SETTINGS: Record<Case, string> = {
  basic: '',
  retry503: '    retry: { attempts: 3, initialDelay: 50ms, maxDelay: 200ms }\n',
  // The backoff alone would retry within 20 ms; the test checks that Retry-After's second wins.
  retryAfter: '    retry: { attempts: 3, initialDelay: 10ms, maxDelay: 20ms }\n',
  rejected: '',
  exhausted: '    retry: { attempts: 3, initialDelay: 10ms, maxDelay: 50ms }\n',
  keyed: '',
  shared: '',
};

/** The verifier of the Standard Webhooks reference library, when the runner has it installed. */
type Verify = (body: Buffer, headers: Readonly<Record<string, string>>) => unknown;
async function standardWebhooksVerifier(secret: string): Promise<Verify | undefined> {
  try {
    const { Webhook } = await import('standardwebhooks');
    const webhook = new Webhook(secret);
    return (body, headers) => webhook.verify(body, { ...headers });
  } catch {
    return undefined;
  }
}

export function describeEgress(target: ConformanceTarget, deliveryTimeoutMs: number): void {
  // Subscriptions join groups (Kafka joins take seconds) and retries add their delays.
  const wait = Math.max(15_000, deliveryTimeoutMs * 3);

  describe('egress: webhooks', function () {
    this.timeout(Math.max(60_000, wait * 4));
    const receiver = new WebhookReceiver();
    const run = randomUUID().slice(0, 8);
    const sources = {} as Record<Case, string>;
    const deadLetters = {} as Record<Case, string>;
    const closers: { close(): Promise<void> }[] = [];
    let daemon: TestDaemon | undefined;
    let second: TestDaemon | undefined;
    let durableGroups = false;
    let declared = true;

    const routeOptions = target.routeOptions?.['point-to-point'] ? `    options: ${target.routeOptions['point-to-point']}\n` : '';
    const routes = (): string =>
      'routes:\n' +
      CASES.map(
        (name) =>
          `  - path: /egress/${name}\n    broker: ${target.name}\n    mode: point-to-point\n    destination: "${sources[name]}"\n` +
          `    key: "{header.x-key}"\n    headers: [x-tenant, x-key]\n${routeOptions}`,
      ).join('');
    const deliver = (name: Case, receiverPath: string): string =>
      name === 'keyed'
        ? `{ url: "${receiver.url(receiverPath)}", concurrency: 4, ordering: key }`
        : `{ url: "${receiver.url(receiverPath)}", timeout: 2s, concurrency: 4, headers: { x-configured: yes } }`;
    const subscription = (name: Case, receiverPath: string): string =>
      `  - name: ${name}\n    broker: ${target.name}\n    source: "${sources[name]}"\n    mode: point-to-point\n` +
      (durableGroups ? `    group: conformance-${name}-${run}\n` : '') +
      `    deliver: ${deliver(name, receiverPath)}\n    deadLetter: "${deadLetters[name]}"\n    signing: { secretEnv: ${SECRET_ENV} }\n${SETTINGS[name]}`;
    const config = (cases: readonly Case[], pathSuffix = ''): string =>
      routes() + (cases.length > 0 ? 'subscriptions:\n' + cases.map((name) => subscription(name, `/${name}${pathSuffix}`)).join('') : '');
    const startDaemon = (routesText: string): Promise<TestDaemon> =>
      startTestDaemon({ brokers: { [target.name]: { plugin: target.plugin, options: target.options() } }, routes: routesText });
    const allConsuming = (running: TestDaemon): boolean => Object.values(running.egress.statuses()).every((status) => status.up);
    const broker = (): BrokerInstance => daemon!.brokers.get(target.name)!;

    before(async function () {
      if (target.require) await target.require(this);
      for (const name of CASES) {
        sources[name] = target.destination('point-to-point');
        deadLetters[name] = target.destination('point-to-point');
      }
      // The routes alone first: what the plugin declares, and what must exist before consuming.
      daemon = await startDaemon(config([]));
      const capabilities = broker().egress;
      if (capabilities === undefined) {
        declared = false;
        noteNotDeclared(`${target.name}:egress`, `${target.name}: the egress tests did not run: the plugin declares no egress capability`);
        this.skip();
      }
      durableGroups = capabilities.durableGroups;
      process.env[SECRET_ENV] = SECRET;
      await receiver.start();
      for (const name of CASES) {
        await target.prepare?.('point-to-point', sources[name], broker());
        await target.prepare?.('point-to-point', deadLetters[name], broker());
      }
      writeFileSync(daemon.routesFile, config(CASES.filter((name) => name !== 'shared' || durableGroups)));
      const result = await daemon.reload('the conformance suite adds its subscriptions');
      assert.deepEqual(result.problems, []);
      await eventually(() => allConsuming(daemon!), wait, 'every subscription consuming');
    });

    after(async () => {
      await Promise.all(closers.splice(0).map((closer) => closer.close().catch(() => undefined)));
      await second?.shutdown('conformance done');
      if (daemon && declared && target.cleanup) {
        const groups = durableGroups ? CASES.map((name) => `conformance-${name}-${run}`) : [];
        await target.cleanup([...Object.values(sources), ...Object.values(deadLetters), ...groups], broker()).catch(() => undefined);
      }
      await daemon?.shutdown('conformance done');
      await receiver.stop();
    });

    const publish = async (name: Case, body: Buffer | string, headers: Record<string, string> = {}): Promise<string> => {
      const res = await daemon!.post(`/egress/${name}`, body, { 'content-type': 'application/x-egress-test', 'x-tenant': 'acme', 'x-key': 'any', ...headers });
      assert.equal(res.status, 202, await res.clone().text());
      return ((await res.json()) as { id: string }).id;
    };

    /** Reads `count` dead letters back through the plugin, as an operator's consumer would. */
    const deadLettersOf = async (name: Case, count: number): Promise<InboundMessage[]> => {
      const got: InboundMessage[] = [];
      closers.push(
        await broker().subscribe(deadLetters[name], { mode: 'point-to-point' }, (message) => {
          got.push(message);
          return Promise.resolve();
        }),
      );
      await eventually(() => got.length >= count, wait, `${count} dead letter(s) on ${deadLetters[name]}`);
      return got;
    };

    it('delivers the body byte for byte with its content type, forwarded and configured headers and a stable webhook-id', async () => {
      const id = await publish('basic', JSON_BODY);
      await eventually(() => receiver.on('/basic').length >= 1, wait, 'the webhook');
      const hook = receiver.on('/basic')[0]!;
      assert.equal(Buffer.compare(hook.body, JSON_BODY), 0);
      assert.deepEqual(pick(hook.headers, ['content-type', 'x-tenant', 'x-configured', 'webhook-id', 'busgate-attempt', 'busgate-subscription']), {
        'content-type': 'application/x-egress-test',
        'x-tenant': 'acme',
        'x-configured': 'yes',
        'webhook-id': id,
        'busgate-attempt': '1',
        'busgate-subscription': 'basic',
      });
      assert.ok(Math.abs(Number(hook.headers['webhook-timestamp']) - Date.now() / 1000) < 60, 'webhook-timestamp is now, in seconds');
    });

    it('signs each delivery so that the standardwebhooks library verifies it, and refuses a changed body', async function () {
      const verify = await standardWebhooksVerifier(SECRET);
      if (verify === undefined) {
        noteNotDeclared('standardwebhooks', 'egress signature test: the standardwebhooks package is not installed (npm install --save-dev standardwebhooks)');
        this.skip();
      }
      const id = await publish('basic', JSON_BODY);
      await eventually(() => receiver.on('/basic').some((hook) => hook.headers['webhook-id'] === id), wait, 'the webhook');
      const hook = receiver.on('/basic').find((received) => received.headers['webhook-id'] === id)!;
      assert.deepEqual(verify(hook.body, hook.headers), JSON.parse(JSON_BODY.toString()));
      assert.throws(() => verify(Buffer.concat([hook.body, Buffer.from(' ')]), hook.headers));
    });

    it('retries after a 503 with the same webhook-id, and stops once the endpoint answered 2xx', async () => {
      receiver.script('/retry503', (_hook, nth) => ({ status: nth === 1 ? 503 : 200 }));
      const id = await publish('retry503', 'retry me');
      await eventually(() => receiver.on('/retry503').some((hook) => hook.status === 200), wait, 'a 2xx attempt');
      const hooks = receiver.on('/retry503');
      assert.deepEqual(
        hooks.slice(0, 2).map((hook) => [hook.headers['webhook-id'], hook.headers['busgate-attempt']]),
        [
          [id, '1'],
          [id, '2'],
        ],
      );
    });

    it('honours Retry-After on a 429 instead of its own shorter backoff', async () => {
      receiver.script('/retryAfter', (_hook, nth) => (nth === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 204 }));
      await publish('retryAfter', 'slow down');
      await eventually(() => receiver.on('/retryAfter').length >= 2, wait, 'two attempts');
      const [first, again] = receiver.on('/retryAfter');
      assert.ok(again!.at - first!.at >= 900, `retried after ${again!.at - first!.at} ms, Retry-After asked for 1 s`);
    });

    it('sends a permanent 4xx straight to the dead letter, with the reason headers and the original body and headers', async () => {
      receiver.script('/rejected', () => ({ status: 422 }));
      const id = await publish('rejected', BINARY_BODY, { 'x-key': 'k1' });
      const [dead] = await deadLettersOf('rejected', 1);
      assert.equal(receiver.on('/rejected').length, 1, 'one attempt only');
      assert.equal(Buffer.compare(dead!.payload, BINARY_BODY), 0);
      assert.deepEqual(pick(dead!.headers, ['busgate-dead-letter-reason', 'busgate-attempts', 'busgate-last-status', 'busgate-subscription', 'x-tenant']), {
        'busgate-dead-letter-reason': 'rejected',
        'busgate-attempts': '1',
        'busgate-last-status': '422',
        'busgate-subscription': 'rejected',
        'x-tenant': 'acme',
      });
      assert.equal(dead!.headers['busgate-id'] ?? dead!.delivery?.messageId, id);
    });

    it('dead-letters a message after retry.attempts failures, with reason exhausted', async () => {
      receiver.script('/exhausted', () => ({ status: 500 }));
      await publish('exhausted', 'never taken');
      const [dead] = await deadLettersOf('exhausted', 1);
      assert.equal(receiver.on('/exhausted').length, 3);
      assert.deepEqual(pick(dead!.headers, ['busgate-dead-letter-reason', 'busgate-attempts', 'busgate-last-status']), {
        'busgate-dead-letter-reason': 'exhausted',
        'busgate-attempts': '3',
        'busgate-last-status': '500',
      });
    });

    it('ordering: key delivers each key in publish order with concurrency > 1', async () => {
      // Answers take a random while, so that unordered delivery would show.
      receiver.script('/keyed', () => ({ status: 200, delayMs: Math.floor(Math.random() * 15) }));
      const keys = ['a', 'b', 'c'];
      for (let i = 0; i < 12; i += 1) for (const key of keys) await publish('keyed', `${key}-${i}`, { 'x-key': key });
      await eventually(() => new Set(bodies(receiver.on('/keyed'))).size >= 36, wait * 2, 'every keyed message');
      for (const key of keys) {
        // First arrivals: a redelivery after a broker hiccup may repeat one, never reorder them.
        const got = [...new Set(bodies(receiver.on('/keyed')).filter((body) => body.startsWith(`${key}-`)))];
        assert.deepEqual(
          got,
          Array.from({ length: 12 }, (_, i) => `${key}-${i}`),
          `order of key ${key}`,
        );
      }
    });

    it('two daemons subscribed with one group share its messages: each delivered once in total', async function () {
      if (!durableGroups) {
        noteNotDeclared(`${target.name}:durableGroups`, `${target.name}: the shared-group egress test did not run: the plugin declares no durable groups`);
        this.skip();
      }
      second = await startDaemon(config(['shared'], '-b'));
      await eventually(() => allConsuming(second!), wait, 'the second daemon consuming');
      const ids: string[] = [];
      for (let i = 0; i < 20; i += 1) ids.push(await publish('shared', `shared-${i}`));
      const delivered = (): string[] => [...receiver.on('/shared'), ...receiver.on('/shared-b')].map((hook) => hook.headers['webhook-id']!);
      await eventually(() => ids.every((id) => delivered().includes(id)), wait * 2, 'every shared message');
      assert.equal(delivered().length - new Set(delivered()).size, 0, 'duplicates');
    });
  });
}

function pick(headers: Readonly<Record<string, string>>, names: readonly string[]): Record<string, string | undefined> {
  return Object.fromEntries(names.map((name) => [name, headers[name]]));
}

function bodies(hooks: readonly ReceivedHook[]): string[] {
  return hooks.map((hook) => hook.body.toString());
}
