/**
 * The streams conformance suite: live Server-Sent Events on every broker, end to end. Messages
 * are POSTed to a pubsub route of the daemon and read back from a stream of the same source.
 * "Subscribed" is read from the busgate_subscriptions gauge, never from a timer.
 */
import { expect } from 'chai';
import { apiKeysFor, bearer, BINARY_BODY } from '../support/clients.js';
import { eventually, eventuallyAsync, startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { SseClient } from '../support/sse-client.js';
import { connected, WsClient } from '../support/ws-client.js';

export interface StreamTarget {
  readonly name: string;
  readonly plugin: string;
  options(): Record<string, unknown>;
  require?(context: Mocha.Context): Promise<void>;
  /** A fresh source name (no two tests share one). */
  destination(): string;
  cleanup?(destinations: readonly string[]): Promise<void>;
  /** A pubsub publish nobody is subscribed to is refused as unroutable (RabbitMQ's mandatory flag). */
  readonly unroutableWithoutSubscribers?: boolean;
  /** Longest a subscription may take to become live (Kafka group joins are slow). */
  readonly subscribeTimeoutMs?: number;
  /** The broker keeps history for this source: event ids are resume tokens, and resume must work. */
  readonly history?: boolean;
  /** `options:` of the route and the stream, as a YAML flow map (NATS: `{ persistent: true }`). */
  readonly sourceOptions?: string;
  /** Extra lines of the publishing route (a fixed Kafka key keeps the suite's messages in one partition, in order). */
  readonly routeExtra?: string;
  /** History targets: drops every message the broker keeps for the source (purge, delete records). */
  truncate?(source: string): Promise<void>;
  /** History targets: a well-formed token past the end of the source. */
  readonly aheadToken?: string;
  /** Creates what the source needs before the daemon starts (a JetStream stream). */
  prepare?(source: string): Promise<void>;
}

const KEYS = apiKeysFor('dashboard', 'other');
const AS_DASHBOARD = bearer('dashboard');

export function runStreamConformance(target: StreamTarget): void {
  const wait = target.subscribeTimeoutMs ?? 10_000;

  describe(`streams conformance: ${target.name}${target.history ? ' (history)' : ''}`, function () {
    this.timeout(Math.max(30_000, wait * 4));
    let daemon: TestDaemon;
    const sources: string[] = [];
    const clients: SseClient[] = [];
    const sockets: WsClient[] = [];
    let source = '';

    const subscriptions = async (): Promise<number> =>
      (await daemon.metrics.subscriptions.get()).values.filter(({ labels }) => labels.broker === target.name).reduce((sum, { value }) => sum + value, 0);
    const open = async (headers: Record<string, string> = AS_DASHBOARD, path = '/streams/live'): Promise<SseClient> => {
      const client = await SseClient.open(`${daemon.url}${path}`, headers);
      clients.push(client);
      return client;
    };
    const publish = async (body: string | Buffer, headers: Record<string, string> = {}): Promise<string> => {
      const res = await daemon.post('/pub', body, { ...AS_DASHBOARD, 'content-type': 'application/x-stream-test', 'x-tenant': 'acme', ...headers });
      expect(res.status, await res.clone().text()).to.equal(202);
      return ((await res.json()) as { id: string }).id;
    };

    before(async function () {
      if (target.require) await target.require(this);
      source = target.destination();
      sources.push(source);
      await target.prepare?.(source);
      const options = target.sourceOptions === undefined ? '' : `    options: ${target.sourceOptions}\n`;
      const routes =
        `routes:\n  - path: /pub\n    broker: ${target.name}\n    mode: pubsub\n    destination: "${source}"\n    headers: [x-tenant]\n${options}${target.routeExtra ?? ''}` +
        `streams:\n  - path: /streams/live\n    broker: ${target.name}\n    source: "${source}"\n    clients: [dashboard]\n${options}`;
      daemon = await startTestDaemon({
        brokers: { [target.name]: { plugin: target.plugin, options: target.options() } },
        routes,
        overrides: { apiKeys: KEYS },
      });
      // Some brokers create the source on first publish; this message predates every stream.
      const first = await daemon.post('/pub', 'before anyone watched', { ...AS_DASHBOARD, 'x-tenant': 'acme' });
      expect(first.status, await first.text()).to.equal(target.unroutableWithoutSubscribers ? 502 : 202);
    });

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      for (const socket of sockets.splice(0)) socket.close();
      await eventuallyAsync(async () => (await subscriptions()) === 0, wait, 'every stream subscription closed');
    });

    after(async () => {
      await daemon?.shutdown('streams conformance done');
      await target.cleanup?.(sources).catch(() => undefined);
    });

    it('delivers every message published after the client connected, live only, with id, body, type, headers and position', async () => {
      const client = await open();
      expect(client.response.status).to.equal(200);
      expect(client.response.headers.get('content-type')).to.match(/^text\/event-stream/);
      await eventuallyAsync(async () => (await subscriptions()) === 1, wait, 'the stream subscribed');
      const textId = await publish('{"order":42,"note":"crème brûlée"}', { 'x-tenant': 'acme' });
      const binaryId = await publish(BINARY_BODY);
      await eventually(() => client.messages().length >= 2, wait, 'two messages on the stream');
      const [text, binary] = client.messages();
      expect(client.messages()).to.have.length(2, 'the message from before the connection is not replayed');
      expect(text).to.include({ id: textId, encoding: 'utf8', body: '{"order":42,"note":"crème brûlée"}', contentType: 'application/x-stream-test' });
      expect((text!.headers as Record<string, string>)['x-tenant']).to.equal('acme');
      expect(text).to.have.property('position');
      expect(binary).to.include({ id: binaryId, encoding: 'base64', body: BINARY_BODY.toString('base64') });
      // The SSE id is what a client resumes from: the resume token where the broker keeps history.
      const expectedIds = target.history ? client.messages().map((message) => message.resume) : [textId, binaryId];
      expect(client.events.filter((event) => event.event === 'message').map((event) => event.id)).to.deep.equal(expectedIds);
      if (target.history) expect(expectedIds.every((id) => typeof id === 'string' && id !== '')).to.equal(true);
      else expect(text).to.include({ resume: null });
    });

    it('gives each connected client every message', async () => {
      const first = await open();
      const second = await open();
      await eventuallyAsync(async () => (await subscriptions()) === 2, wait, 'both streams subscribed');
      const id = await publish('fan-out');
      await eventually(() => first.messages().length === 1 && second.messages().length === 1, wait, 'both clients got the message');
      expect(first.messages()[0]!.id).to.equal(id);
      expect(second.messages()[0]!.id).to.equal(id);
    });

    it('closes the subscription when the client leaves', async () => {
      const before = await subscriptions();
      const client = await open();
      await eventuallyAsync(async () => (await subscriptions()) === before + 1, wait, 'the stream subscribed');
      client.close();
      await eventuallyAsync(async () => (await subscriptions()) === before, wait, 'the subscription closed');
      await eventually(() => daemon.streams.openStreams === 0, wait, 'no stream open');
    });

    it('refuses without subscribing: no key, a client not listed, no Accept, another method', async () => {
      const before = await subscriptions();
      const noKey = await open({});
      expect(noKey.response.status).to.equal(401);
      expect(((await noKey.response.json()) as { error: { code: string } }).error.code).to.equal('unauthorized');
      const other = await open(bearer('other'));
      expect(other.response.status).to.equal(403);
      expect(((await other.response.json()) as { error: { code: string } }).error.code).to.equal('forbidden');
      const plain = await fetch(`${daemon.url}/streams/live`, { headers: { ...AS_DASHBOARD, accept: 'application/json' } });
      expect(plain.status).to.equal(406);
      expect(((await plain.json()) as { error: { code: string } }).error.code).to.equal('not_acceptable');
      const post = await fetch(`${daemon.url}/streams/live`, { method: 'POST', headers: { ...AS_DASHBOARD, accept: 'text/event-stream' } });
      expect(post.status).to.equal(405);
      expect(post.headers.get('allow')).to.equal('GET');
      expect(await subscriptions()).to.equal(before);
      expect(daemon.streams.openStreams).to.equal(0);
    });

    it('serves the same events over a WebSocket on the same path, and closes the subscription when it goes', async () => {
      const socket = connected(await WsClient.open(`${daemon.url}/streams/live`, AS_DASHBOARD));
      sockets.push(socket);
      await eventually(() => socket.frames.some((frame) => frame.type === 'open'), wait, 'the open frame');
      expect(socket.frames[0]).to.include({ type: 'open', history: target.history === true });
      const textId = await publish('{"order":7}', { 'x-tenant': 'acme' });
      const binaryId = await publish(BINARY_BODY);
      await eventually(() => socket.messages().length >= 2, wait, 'two messages on the socket');
      const [text, binary] = socket.messages();
      expect(text).to.include({ id: textId, encoding: 'utf8', body: '{"order":7}', contentType: 'application/x-stream-test' });
      expect((text!.headers as Record<string, string>)['x-tenant']).to.equal('acme');
      expect(text).to.have.property('position');
      expect(binary).to.include({ id: binaryId, encoding: 'base64', body: BINARY_BODY.toString('base64') });
      expect(typeof text!.resume).to.equal(target.history ? 'string' : 'object');
      socket.close();
      await eventuallyAsync(async () => (await subscriptions()) === 0, wait, 'the subscription closed');
    });

    it('refuses a WebSocket with the JSON error before upgrading, subscribing nothing', async () => {
      const before = await subscriptions();
      const noKey = await WsClient.open(`${daemon.url}/streams/live`, {});
      expect(noKey).to.not.be.instanceOf(WsClient);
      expect(noKey).to.deep.include({ status: 401 });
      expect((noKey as { body: { error: { code: string } } }).body.error.code).to.equal('unauthorized');
      const other = await WsClient.open(`${daemon.url}/streams/live`, bearer('other'));
      expect((other as { status: number }).status).to.equal(403);
      const elsewhere = await WsClient.open(`${daemon.url}/not-a-stream`, AS_DASHBOARD);
      expect((elsewhere as { body: { error: { code: string } } }).body.error.code).to.equal('not_found');
      expect(await subscriptions()).to.equal(before);
      expect(daemon.streams.openStreams).to.equal(0);
    });

    if (target.history) {
      it('resumes after a connection killed mid-stream (Last-Event-ID, then from= over a WebSocket): nothing missing, nothing repeated', async () => {
        const first = await open();
        await eventually(() => first.events.some((event) => event.event === 'open'), wait, 'the first stream open');
        const published: string[] = [];
        // Published while the first client reads; it is killed part-way through.
        const publishing = (async () => {
          for (let i = 0; i < 12; i += 1) published.push(await publish(`resume ${i}`));
        })();
        await eventually(() => first.messages().length >= 3, wait, 'the first messages');
        first.close();
        const seenFirst = first.messages().map((message) => message.id as string);
        const lastId = first.events.filter((event) => event.event === 'message').at(-1)!.id!;
        await publishing;
        const second = await open({ ...AS_DASHBOARD, 'last-event-id': lastId });
        expect(second.response.status).to.equal(200);
        await eventually(() => second.events.some((event) => event.event === 'open'), wait, 'the second stream open');
        expect(JSON.parse(second.events.find((event) => event.event === 'open')!.data)).to.include({ history: true, resumed: true, position: lastId });
        await eventually(() => seenFirst.length + second.messages().length >= published.length, wait, 'the rest after resuming');
        second.close();
        const token = second.events.filter((event) => event.event === 'message').at(-1)!.id!;
        const seenSecond = second.messages().map((message) => message.id as string);
        const later = [await publish('after the second'), await publish('and another')];
        const socket = connected(await WsClient.open(`${daemon.url}/streams/live?from=${encodeURIComponent(token)}`, AS_DASHBOARD));
        sockets.push(socket);
        await eventually(() => socket.messages().length >= later.length, wait, 'the messages published while away');
        const seenThird = socket.messages().map((message) => message.id as string);
        expect([...seenFirst, ...seenSecond, ...seenThird]).to.deep.equal([...published, ...later]);
      });

      const gapTest = async (): Promise<void> => {
        const first = await open();
        await eventually(() => first.events.some((event) => event.event === 'open'), wait, 'the first stream open');
        await publish('kept, then dropped');
        await eventually(() => first.messages().length === 1, wait, 'the message');
        const old = first.events.find((event) => event.event === 'open')!.id!;
        first.close();
        await target.truncate!(source);
        const after = await publish('after the history was dropped');
        const resumed = await open({ ...AS_DASHBOARD, 'last-event-id': old });
        await eventually(() => resumed.messages().length === 1, wait, 'the message after the gap');
        expect(JSON.parse(resumed.events.find((event) => event.event === 'open')!.data)).to.include({ resumed: true, gap: true });
        expect(resumed.messages()[0]!.id).to.equal(after);
      };
      if (target.truncate) it('says so when the position asked for is no longer kept (gap: true), and goes on from the oldest message kept', gapTest);
      else it.skip(`gap on resume (${target.name}: the test has no way to drop the source's history)`, gapTest);

      it('closes a stream asked to resume from a position ahead of the source, saying why', async () => {
        const ahead = await open({ ...AS_DASHBOARD, 'last-event-id': target.aheadToken! });
        expect(ahead.response.status).to.equal(200);
        await eventually(() => ahead.ended, wait, 'the stream ahead closed');
        const closed = JSON.parse(ahead.events.find((event) => event.event === 'close')!.data) as { reason: string; message: string };
        expect(closed.reason).to.equal('subscribe_failed');
        expect(closed.message).to.match(/ahead of/);
      });

      it('refuses a malformed resume position with 400 bad_resume_position, subscribing nothing', async () => {
        const before = await subscriptions();
        const bad = await fetch(`${daemon.url}/streams/live?from=not-a-position`, { headers: { ...AS_DASHBOARD, accept: 'text/event-stream' } });
        expect(bad.status).to.equal(400);
        expect(((await bad.json()) as { error: { code: string } }).error.code).to.equal('bad_resume_position');
        const header = await open({ ...AS_DASHBOARD, 'last-event-id': 'nope' });
        expect(header.response.status).to.equal(400);
        expect(await subscriptions()).to.equal(before);
      });
    } else {
      it('is live only: from= is refused with 400 resume_not_supported, a Last-Event-ID is served live and told so', async () => {
        const before = await subscriptions();
        const asked = await fetch(`${daemon.url}/streams/live?from=1`, { headers: { ...AS_DASHBOARD, accept: 'text/event-stream' } });
        expect(asked.status).to.equal(400);
        expect(((await asked.json()) as { error: { code: string } }).error.code).to.equal('resume_not_supported');
        expect(await subscriptions()).to.equal(before);
        const reconnect = await open({ ...AS_DASHBOARD, 'last-event-id': 'some-id' });
        expect(reconnect.response.status).to.equal(200);
        await eventually(() => reconnect.events.some((event) => event.event === 'open'), wait, 'the open event');
        const opened = JSON.parse(reconnect.events.find((event) => event.event === 'open')!.data) as Record<string, unknown>;
        expect(opened).to.include({ history: false, resumed: false, position: null });
        expect(opened.note).to.match(/live only/);
      });
    }
  });
}
