/**
 * Stream limits on the memory broker: concurrent streams per key and per instance, heartbeats,
 * and the slow-client cut-off. Progress is read from counters, never from timers.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { eventually, eventuallyAsync, startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { SseClient } from '../support/sse-client.js';
import { connected, WsClient } from '../support/ws-client.js';

const KEYS = new Map([
  ['a', 'secret-a'],
  ['b', 'secret-b'],
]);

describe('streams: limits, heartbeats and slow clients (memory)', function () {
  this.timeout(30_000);
  let daemon: TestDaemon;
  const clients: SseClient[] = [];
  const sockets: WsClient[] = [];
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    const found = (await daemon.metrics.registry.getSingleMetric(name)!.get()).values.filter((value) =>
      Object.entries(labels).every(([label, wanted]) => value.labels[label] === wanted),
    );
    return found.reduce((sum, { value }) => sum + value, 0);
  };
  const source = `streams.limits.${randomUUID().slice(0, 8)}`;
  const subscriptions = async (): Promise<number> => (await daemon.metrics.subscriptions.get()).values.reduce((sum, { value }) => sum + value, 0);
  const open = async (secret: string): Promise<SseClient> => {
    const client = await SseClient.open(`${daemon.url}/watch`, { 'x-api-key': secret });
    clients.push(client);
    return client;
  };

  /** Publishes large messages to the one open stream, whose client reads nothing, until it is cut off. */
  const floodUntilCutOff = async (): Promise<void> => {
    await eventuallyAsync(async () => (await subscriptions()) === 1, 5000, 'the stream subscribed');
    const body = 'x'.repeat(256 * 1024);
    // Socket buffers hold a few MB on loopback; the bound keeps a broken cut-off from looping
    // forever. The subscription closes as soon as the stream is cut off.
    for (let sent = 0; sent < 400 && (await subscriptions()) > 0; sent += 1) {
      const res = await daemon.post('/pub', body, { 'x-api-key': 'secret-b', 'content-type': 'text/plain' });
      expect(res.status).to.equal(202);
    }
    expect(await subscriptions()).to.equal(0);
  };

  before(async () => {
    daemon = await startTestDaemon({
      brokers: { memory: { plugin: 'memory', options: {} } },
      routes: `routes:\n  - path: /pub\n    broker: memory\n    mode: pubsub\n    destination: "${source}"\nstreams:\n  - path: /watch\n    broker: memory\n    source: "${source}"\n`,
      overrides: { apiKeys: KEYS, bodyLimit: '1mb' },
      streamLimits: { maxStreams: 3, maxStreamsPerClient: 2, heartbeatMs: 20, maxBufferedBytes: 4096 },
    });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const socket of sockets.splice(0)) socket.close();
    await eventually(() => daemon.streams.openStreams === 0, 5000, 'every stream closed');
    await eventuallyAsync(async () => (await subscriptions()) === 0, 5000, 'every subscription closed');
  });

  after(async () => {
    await daemon?.shutdown('streams limits done');
  });

  it('limits concurrent streams per key and per instance, answering 429 too_many_streams without subscribing', async () => {
    expect((await open('secret-a')).response.status).to.equal(200);
    expect((await open('secret-a')).response.status).to.equal(200);
    const third = await open('secret-a');
    expect(third.response.status).to.equal(429);
    expect(third.response.headers.get('retry-after')).to.not.equal(null);
    expect(((await third.response.json()) as { error: { code: string } }).error.code).to.equal('too_many_streams');
    expect((await open('secret-b')).response.status).to.equal(200);
    const overInstance = await open('secret-b');
    expect(overInstance.response.status).to.equal(429);
    expect(daemon.streams.openStreams).to.equal(3);
    await eventuallyAsync(async () => (await subscriptions()) === 3, 5000, 'three subscriptions');
    // A slot comes back when a client leaves.
    clients[0]!.close();
    await eventually(() => daemon.streams.openStreams === 2, 5000, 'one stream closed');
    expect((await open('secret-a')).response.status).to.equal(200);
  });

  it('counts WebSocket clients in the same limits, refusing the upgrade with the JSON error', async () => {
    sockets.push(connected(await WsClient.open(`${daemon.url}/watch`, { 'x-api-key': 'secret-a' })));
    expect((await open('secret-a')).response.status).to.equal(200);
    const third = await WsClient.open(`${daemon.url}/watch`, { 'x-api-key': 'secret-a' });
    expect(third).to.deep.include({ status: 429 });
    expect((third as { body: { error: { code: string } } }).body.error.code).to.equal('too_many_streams');
    await eventually(() => daemon.streams.openStreams === 2, 5000, 'two streams');
    expect(await metric('busgate_stream_clients', { stream: '/watch', transport: 'websocket' })).to.equal(1);
    expect(await metric('busgate_stream_clients', { stream: '/watch', transport: 'sse' })).to.equal(1);
  });

  it('pings an idle WebSocket', async () => {
    const socket = connected(await WsClient.open(`${daemon.url}/watch`, { 'x-api-key': 'secret-a' }));
    sockets.push(socket);
    let pings = 0;
    socket.socket.on('ping', () => (pings += 1));
    await eventually(() => pings >= 3, 5000, 'pings');
  });

  it('disconnects a WebSocket client that stops reading, with close code 4008 slow_client, and counts it', async () => {
    const before = await metric('busgate_stream_disconnects_total', { stream: '/watch', reason: 'slow_client' });
    const socket = connected(await WsClient.open(`${daemon.url}/watch`, { 'x-api-key': 'secret-a' }));
    sockets.push(socket);
    socket.socket.pause();
    await floodUntilCutOff();
    await eventually(() => daemon.streams.openStreams === 0, 5000, 'the stream closed');
    expect(await metric('busgate_stream_disconnects_total', { stream: '/watch', reason: 'slow_client' })).to.equal(before + 1);
    socket.socket.resume();
    await eventually(() => socket.closeCode !== undefined, 5000, 'the socket closed');
    // The close frame arrives only when the client read in time; when it does, it says why.
    if (socket.closeCode !== 1006) expect({ code: socket.closeCode, reason: socket.closeReason }).to.deep.equal({ code: 4008, reason: 'slow_client' });
  });

  it('sends heartbeat comments on an idle stream', async () => {
    const client = await open('secret-a');
    await eventually(() => client.comments >= 3, 5000, 'heartbeats');
    expect(client.messages()).to.deep.equal([]);
  });

  it('disconnects a client that stops reading, with a close event saying why, and closes its subscription', async () => {
    let paused: http.IncomingMessage | undefined;
    const request = http.get(`${daemon.url}/watch`, { headers: { accept: 'text/event-stream', 'x-api-key': 'secret-a' } }, (res) => {
      paused = res;
      res.pause();
    });
    request.on('error', () => undefined);
    await eventually(() => paused !== undefined && daemon.streams.openStreams === 1, 5000, 'the stream open');
    await floodUntilCutOff();
    // The response of a client that reads nothing is destroyed, so its slot is given back.
    await eventually(() => daemon.streams.openStreams === 0, 5000, 'the stream closed');
    // What the client finally reads ends with the reason.
    let text = '';
    paused!.setEncoding('utf8');
    paused!.on('data', (chunk: string) => (text = (text + chunk).slice(-4096)));
    paused!.resume();
    await new Promise<void>((resolve) => {
      paused!.once('end', resolve);
      paused!.once('close', resolve);
    });
    // The socket is destroyed a second after the close event if the client still does not read,
    // so the event is there only when the client resumed in time; when it is, it says why.
    if (text.includes('event: close')) expect(text).to.match(/event: close\ndata: \{"reason":"slow_client"/);
    expect(await metric('busgate_stream_disconnects_total', { stream: '/watch', reason: 'slow_client' })).to.be.greaterThan(0);
  });
});
