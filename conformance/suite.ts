/**
 * The conformance suite: the same behaviour tests for every broker plugin, end to end through the
 * HTTP ingress of a real daemon to a real consumer or responder. A plugin is done when it passes.
 *
 * Plugin authors run it from their own mocha file (mocha provides describe/it; nothing else is
 * needed, so it works after `npm install --omit=dev`):
 *   import { runConformance } from 'busgate/conformance';
 *   runConformance({ name: 'mybroker', plugin: 'busgate-plugin-mybroker', options: () => ({ url }), ... });
 *
 * Plugins that declare `egress` also run the webhook-delivery tests (conformance/egress.ts).
 *
 * Assertions use node:assert rather than chai: the suite ships in the package, and a test
 * framework's assertion library as a dependency would pin every plugin author to its version.
 */
import assert from 'node:assert/strict';
import type { BrokerInstance } from '../core/brokers/instance.js';
import type { InboundMessage, Mode } from '../core/plugins/contract.js';
import { eventually, sleep, startTestDaemon, type TestDaemon } from './daemon.js';
import { describeEgress } from './egress.js';
import type { SkippableContext } from './require-broker.js';

export interface ConformanceTarget {
  /** Broker instance name in the generated routes; also the suite's title. */
  readonly name: string;
  /** The `plugin:` value: built-in name, path or package. */
  readonly plugin: string;
  /** Instance options for a reachable broker. */
  options(): Record<string, unknown>;
  /** Instance options that point at a broker that is down (a closed port). */
  unavailableOptions(): Record<string, unknown>;
  /** Called in before(): skip or fail when the broker is not there. */
  require?(context: SkippableContext): Promise<void>;
  /** A fresh destination name for a test, valid on this broker (no two tests share one). */
  destination(mode: Mode): string;
  /** Route `options:` per mode, as YAML flow text (e.g. `{ persistent: true }`). */
  readonly routeOptions?: Partial<Record<Mode, string>>;
  /** Create what must exist before sending (an exchange, a topic...). The broker is the daemon's. */
  prepare?(mode: Mode, destination: string, broker: BrokerInstance): Promise<void>;
  /**
   * Remove what the run created (streams, queues, topics), so shared brokers do not fill up. The
   * egress tests also pass the consumer group names their subscriptions used.
   */
  cleanup?(destinations: readonly string[], broker: BrokerInstance): Promise<void>;
  /** Template values this broker must refuse, beyond the ones every broker refuses. */
  readonly unsafeTokens?: readonly string[];
  /** Can the broker tell that nobody listens (NATS, RabbitMQ) or only time out (Kafka)? */
  readonly detectsNoResponders: boolean;
  /** Longest a delivery may take to reach a consumer (Kafka group joins are slow). */
  readonly deliveryTimeoutMs?: number;
}

const BINARY = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x7f, 10, 13, 0x80]);
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const TRACE_ID = /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/;

export function runConformance(target: ConformanceTarget): void {
  const wait = target.deliveryTimeoutMs ?? 5000;

  describe(`conformance: ${target.name}`, function () {
    this.timeout(Math.max(30_000, wait * 4));
    let daemon: TestDaemon;
    const destinations = {} as Record<Mode | 'slow' | 'silent' | 'kept', string>;
    const subscriptions: { close(): Promise<void> }[] = [];

    before(async function () {
      if (target.require) await target.require(this);
      destinations.pubsub = target.destination('pubsub');
      destinations['point-to-point'] = target.destination('point-to-point');
      destinations.kept = target.destination('point-to-point');
      destinations['request-reply'] = target.destination('request-reply');
      destinations.slow = target.destination('request-reply');
      destinations.silent = target.destination('request-reply');
      const options = (mode: Mode): string => (target.routeOptions?.[mode] ? `\n    options: ${target.routeOptions[mode]}` : '');
      const route = (name: string, mode: Mode, destination: string, extra = ''): string =>
        `  - name: ${name}\n    path: /${name}\n    broker: ${target.name}\n    mode: ${mode}\n    destination: "${destination}"\n    headers: [x-tenant]${options(mode)}${extra}\n`;
      daemon = await startTestDaemon({
        brokers: { [target.name]: { plugin: target.plugin, options: target.options() } },
        routes:
          'routes:\n' +
          route('pubsub', 'pubsub', destinations.pubsub) +
          route('p2p', 'point-to-point', destinations['point-to-point']) +
          route('kept', 'point-to-point', destinations.kept) +
          route('rpc', 'request-reply', destinations['request-reply']) +
          route('slow', 'request-reply', destinations.slow, '\n    timeout: 700ms') +
          route('silent', 'request-reply', destinations.silent, '\n    timeout: 1500ms') +
          `  - name: templated\n    path: /templated/:part\n    broker: ${target.name}\n    mode: pubsub\n    destination: "${destinations.pubsub}{part}"${options('pubsub')}\n`,
      });
      const plugin = daemon.brokers.get(target.name)!;
      for (const mode of ['pubsub', 'point-to-point', 'request-reply'] as const) {
        await target.prepare?.(mode, destinations[mode], plugin);
      }
      await target.prepare?.('point-to-point', destinations.kept, plugin);
      await target.prepare?.('request-reply', destinations.slow, plugin);
      await target.prepare?.('request-reply', destinations.silent, plugin);
    });

    afterEach(async () => {
      await Promise.all(subscriptions.splice(0).map((s) => s.close().catch(() => undefined)));
    });

    after(async () => {
      if (daemon && target.cleanup) await target.cleanup(Object.values(destinations), plugin()).catch(() => undefined);
      await daemon?.shutdown('conformance done');
    });

    const plugin = (): BrokerInstance => daemon.brokers.get(target.name)!;

    it('is ready once connected', async () => {
      const res = await fetch(`${daemon.url}/ready`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { brokers: Record<string, { up: boolean }> };
      assert.equal(body.brokers[target.name]?.up, true);
    });

    it('pubsub: every subscriber gets the body byte for byte, with forwarded headers and content type', async () => {
      const received: InboundMessage[][] = [[], []];
      for (const inbox of received) {
        subscriptions.push(
          await plugin().subscribe(destinations.pubsub, { mode: 'pubsub' }, (m) => {
            inbox.push(m);
            return Promise.resolve();
          }),
        );
      }
      const res = await daemon.post('/pubsub', BINARY, {
        'content-type': 'application/x-test',
        'x-tenant': 'acme',
        'x-not-forwarded': 'no',
        traceparent: TRACEPARENT,
      });
      assert.equal(res.status, 202);
      const receipt = (await res.json()) as { id: string; broker: string; mode: string; destination: string };
      assert.ok(typeof receipt.id === 'string' && receipt.id.length > 0, 'the receipt has an id');
      assert.deepEqual(
        { broker: receipt.broker, mode: receipt.mode, destination: receipt.destination },
        { broker: target.name, mode: 'pubsub', destination: destinations.pubsub },
      );
      await eventually(() => received.every((inbox) => inbox.length >= 1), wait, 'both subscribers');
      for (const [message] of received) {
        assert.equal(Buffer.compare(message!.payload, BINARY), 0);
        assert.equal(message!.contentType, 'application/x-test');
        assert.equal(message!.headers['x-tenant'], 'acme');
        assert.ok(!('x-not-forwarded' in message!.headers), 'an unlisted header is not forwarded');
        assert.match(message!.headers.traceparent ?? '', TRACE_ID, 'the trace continues into the message');
      }
    });

    it('point-to-point: each message reaches exactly one of the competing consumers', async () => {
      const seen: string[][] = [[], []];
      for (const inbox of seen) {
        subscriptions.push(
          await plugin().subscribe(destinations['point-to-point'], { mode: 'point-to-point' }, (m) => {
            inbox.push(m.payload.toString());
            return Promise.resolve();
          }),
        );
      }
      const sent = Array.from({ length: 20 }, (_, i) => `job-${i}`);
      const answers = await Promise.all(sent.map((body) => daemon.post('/p2p', body)));
      assert.deepEqual(
        answers.map((r) => r.status),
        sent.map(() => 202),
      );
      await eventually(() => seen[0]!.length + seen[1]!.length >= sent.length, wait, 'all jobs consumed');
      await sleep(300);
      const all = [...seen[0]!, ...seen[1]!];
      assert.equal(all.length, sent.length);
      assert.deepEqual([...all].sort(), [...sent].sort());
    });

    it('point-to-point: a message sent while no consumer exists is kept until one comes', async () => {
      const res = await daemon.post('/kept', 'waiting');
      assert.equal(res.status, 202);
      const inbox: string[] = [];
      subscriptions.push(
        await plugin().subscribe(destinations.kept, { mode: 'point-to-point' }, (m) => {
          inbox.push(m.payload.toString());
          return Promise.resolve();
        }),
      );
      await eventually(() => inbox.length === 1, wait, 'the kept message');
      assert.deepEqual(inbox, ['waiting']);
    });

    it('request-reply: the reply body and content type come back with 200', async () => {
      let requestTrace = '';
      subscriptions.push(
        await plugin().respond(destinations['request-reply'], (m) => {
          requestTrace = m.headers.traceparent ?? '';
          return Promise.resolve({
            payload: Buffer.concat([Buffer.from('re:'), m.payload]),
            headers: { 'x-tenant-seen': m.headers['x-tenant'] ?? '' },
            contentType: 'text/x-reply',
          });
        }),
      );
      const res = await daemon.post('/rpc', 'ping', { 'x-tenant': 'acme', 'content-type': 'text/plain', traceparent: TRACEPARENT });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('traceparent') ?? '', TRACE_ID, 'the trace comes back on the reply');
      assert.match(requestTrace, TRACE_ID, 'the responder sees the trace');
      assert.match(res.headers.get('content-type') ?? '', /^text\/x-reply/);
      assert.equal(await res.text(), 're:ping');
    });

    it('request-reply: no reply within the route timeout gives 504 reply_timeout', async () => {
      subscriptions.push(await plugin().respond(destinations.slow, () => sleep(2500).then(() => ({ payload: Buffer.from('late'), headers: {} }))));
      const started = Date.now();
      const res = await daemon.post('/slow', 'x');
      assert.equal(res.status, 504);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'reply_timeout');
      assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
    });

    it(
      target.detectsNoResponders
        ? 'request-reply: nobody listening gives 503 no_responders'
        : 'request-reply: nobody listening gives 504 (the broker cannot tell)',
      async () => {
        const res = await daemon.post('/silent', 'anyone?');
        const body = (await res.json()) as { error: { code: string } };
        if (target.detectsNoResponders) {
          assert.equal(res.status, 503);
          assert.equal(body.error.code, 'no_responders');
        } else {
          assert.equal(res.status, 504);
          assert.equal(body.error.code, 'reply_timeout');
        }
      },
    );

    it('refuses a templated value that is not one safe token with 400, and hands nothing to the broker', async () => {
      const handedOver = async (): Promise<number> => {
        const metric = await daemon.metrics.messages.get();
        return metric.values.filter((v) => v.labels.broker === target.name).reduce((sum, v) => sum + v.value, 0);
      };
      const before = await handedOver();
      for (const unsafe of ['a.b', 'a*', 'a b', 'a\tb', ...(target.unsafeTokens ?? [])]) {
        const res = await fetch(`${daemon.url}/templated/${encodeURIComponent(unsafe)}`, { method: 'POST', body: 'nope' });
        assert.equal(res.status, 400, unsafe);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_token');
      }
      assert.equal(await handedOver(), before);
    });

    describe('when the broker is down', () => {
      let down: TestDaemon;
      before(async () => {
        down = await startTestDaemon({
          brokers: { [target.name]: { plugin: target.plugin, options: target.unavailableOptions() } },
          routes: `routes:\n  - path: /down\n    broker: ${target.name}\n    mode: pubsub\n    destination: "${destinations.pubsub}"${target.routeOptions?.pubsub ? `\n    options: ${target.routeOptions.pubsub}` : ''}\n`,
          connectWaitMs: 2000,
        });
      });
      after(async () => {
        await down?.shutdown('conformance done');
      });

      it('answers 503 broker_unavailable at once, with Retry-After, and /ready names it', async () => {
        const started = Date.now();
        const res = await down.post('/down', 'x');
        assert.equal(res.status, 503);
        assert.match(res.headers.get('retry-after') ?? '', /^\d+$/);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'broker_unavailable');
        assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
        const ready = await fetch(`${down.url}/ready`);
        assert.equal(ready.status, 503);
        const body = (await ready.json()) as { brokers: Record<string, { up: boolean }> };
        assert.equal(body.brokers[target.name]?.up, false);
      });
    });

    it('closes cleanly, and close() is idempotent', async () => {
      const extra = await startTestDaemon({
        brokers: { [target.name]: { plugin: target.plugin, options: target.options() } },
        routes: `routes:\n  - path: /x\n    broker: ${target.name}\n    mode: request-reply\n    destination: "${destinations['request-reply']}"\n`,
      });
      const started = Date.now();
      await extra.shutdown('test');
      await extra.shutdown('again');
      await extra.brokers.get(target.name)!.close();
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    });

    describeEgress(target, wait);
  });
}
