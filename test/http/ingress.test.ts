/** Every status the ingress can answer, on the embedded broker. */
import { expect } from 'chai';
import { ERROR_CODES } from '../../core/errors.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { sleep } from '../support/net.js';

const ROUTES = `routes:
  - name: events
    path: /events/:topic
    broker: memory
    mode: pubsub
    destination: events.{topic}
  - name: keyed
    path: /keyed
    broker: memory
    mode: point-to-point
    destination: keyed
    key: "{header.x-customer}"
  - name: slow
    path: /slow
    broker: memory
    mode: request-reply
    destination: slow
    timeout: 300ms
  - name: choose
    path: /send/:broker/:mode/:destination
    broker: "{broker}"
    brokers: [memory]
    mode: "{mode}"
    modes: [pubsub, request-reply]
    destination: "{destination}"
  - name: by-header
    path: /by-header
    broker: memory
    mode: "{header.x-busgate-mode}"
    modes: [pubsub, point-to-point]
    destination: by-header
  - name: other-method
    path: /events/:topic
    method: PUT
    broker: memory
    mode: pubsub
    destination: events.{topic}
`;

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  expect(res.headers.get('content-type')).to.match(/^application\/json/);
  const body = (await res.json()) as { error: { code: keyof typeof ERROR_CODES; message: string } };
  expect(body.error.code).to.be.oneOf(Object.keys(ERROR_CODES));
  expect(ERROR_CODES[body.error.code].status).to.equal(res.status);
  expect(body.error.message).to.be.a('string').and.not.empty;
  return { status: res.status, code: body.error.code, message: body.error.message };
}

describe('HTTP ingress (embedded broker)', function () {
  this.timeout(10_000);
  let daemon: TestDaemon;

  before(async () => {
    daemon = await startTestDaemon({
      routes: ROUTES,
      brokers: { memory: { plugin: 'memory', options: {} } },
      overrides: { bodyLimit: '1kb', maxInFlightPerBroker: 2 },
    });
  });
  after(async () => daemon?.shutdown('done'));

  it('answers 202 with a receipt that names the message', async () => {
    const res = await daemon.post('/events/orders', '{}', { 'content-type': 'application/json' });
    expect(res.status).to.equal(202);
    const receipt = (await res.json()) as Record<string, unknown>;
    expect(receipt).to.include({ broker: 'memory', mode: 'pubsub', destination: 'events.orders' });
    expect(receipt.id).to.equal(res.headers.get('x-busgate-id'));
  });

  it('404 for an unknown path, 405 with Allow for a known path and another method', async () => {
    expect(await errorOf(await daemon.post('/nowhere'))).to.include({ status: 404, code: 'not_found' });
    const res = await fetch(`${daemon.url}/events/orders`, { method: 'DELETE' });
    expect(res.headers.get('allow')).to.equal('POST, PUT');
    expect(await errorOf(res)).to.include({ status: 405, code: 'method_not_allowed' });
    expect((await fetch(`${daemon.url}/events/orders`, { method: 'PUT', body: 'x' })).status).to.equal(202);
  });

  it('413 for a body over the limit', async () => {
    expect(await errorOf(await daemon.post('/events/orders', 'x'.repeat(2048)))).to.include({ status: 413, code: 'payload_too_large' });
  });

  it('400 when a templated header is missing, or a chosen broker or mode is not allowed', async () => {
    expect(await errorOf(await daemon.post('/keyed', 'x'))).to.include({ status: 400, code: 'missing_value' });
    expect((await daemon.post('/keyed', 'x', { 'x-customer': 'c.7 / ok' })).status).to.equal(202);
    expect(await errorOf(await daemon.post('/keyed', 'x', { 'x-customer': 'x'.repeat(300) }))).to.include({ code: 'invalid_token' });
    expect(await errorOf(await daemon.post('/send/kafka/pubsub/x'))).to.include({ status: 400, code: 'broker_not_allowed' });
    expect(await errorOf(await daemon.post('/send/memory/point-to-point/x'))).to.include({ status: 400, code: 'mode_not_allowed' });
    expect(await errorOf(await daemon.post('/by-header', 'x'))).to.include({ status: 400, code: 'missing_value' });
    expect(await errorOf(await daemon.post('/by-header', 'x', { 'x-busgate-mode': 'request-reply' }))).to.include({ code: 'mode_not_allowed' });
    const chosen = await daemon.post('/by-header', 'x', { 'x-busgate-mode': 'point-to-point' });
    expect(chosen.status).to.equal(202);
    expect(((await chosen.json()) as { mode: string }).mode).to.equal('point-to-point');
  });

  it('503 no_responders and 504 reply_timeout for request-reply', async () => {
    expect(await errorOf(await daemon.post('/send/memory/request-reply/nobody'))).to.include({ status: 503, code: 'no_responders' });
    const stop = await daemon.brokers.get('memory')!.respond('slow', () => sleep(1000).then(() => ({ payload: Buffer.from('late'), headers: {} })));
    try {
      expect(await errorOf(await daemon.post('/slow', 'x'))).to.include({ status: 504, code: 'reply_timeout' });
    } finally {
      await stop.close();
    }
  });

  it('503 overloaded with Retry-After beyond the in-flight bound, nothing queued', async () => {
    const stop = await daemon.brokers.get('memory')!.respond('slow', () => sleep(200).then(() => ({ payload: Buffer.from('ok'), headers: {} })));
    try {
      const answers = await Promise.all([1, 2, 3, 4].map(() => daemon.post('/slow', 'x')));
      const statuses = answers.map((r) => r.status).sort();
      expect(statuses).to.deep.equal([200, 200, 503, 503]);
      const refused = answers.find((r) => r.status === 503)!;
      expect(refused.headers.get('retry-after')).to.equal('1');
      expect(await errorOf(refused)).to.include({ code: 'overloaded' });
    } finally {
      await stop.close();
    }
  });

  it('passes binary bodies through byte for byte', async () => {
    const received: Buffer[] = [];
    const sub = await daemon.brokers.get('memory')!.subscribe('events.bin', { mode: 'pubsub' }, (m) => {
      received.push(m.payload);
      return Promise.resolve();
    });
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await daemon.post('/events/bin', bytes, { 'content-type': 'application/octet-stream' });
    await sleep(50);
    await sub.close();
    expect(Buffer.compare(received[0]!, bytes)).to.equal(0);
  });

  it('serves /health, /ready and valid Prometheus /metrics with bounded labels', async () => {
    expect((await fetch(`${daemon.url}/health`)).status).to.equal(200);
    const ready = await fetch(`${daemon.url}/ready`);
    expect(ready.status).to.equal(200);
    expect(await ready.json()).to.deep.equal({
      status: 'ready',
      brokers: { memory: { up: true, detail: 'embedded', limits: { maxDestinationBytes: 1024, maxKeyBytes: 1024, maxMessageBytes: 16 * 1024 * 1024 } } },
    });
    const metrics = await fetch(`${daemon.url}/metrics`);
    expect(metrics.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      expect(line).to.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? -?[0-9.e+-]+|NaN|[+-]Inf$/);
    }
    expect(text).to.include('busgate_http_requests_total{route="events",status="202"}');
    expect(text).to.include('busgate_messages_total{broker="memory",mode="pubsub",outcome="ok"}');
    expect(text).to.include('busgate_broker_connected{broker="memory"} 1');
    expect(text).to.include('busgate_in_flight_requests{broker="memory"} 0');
    expect(text).to.not.include('events.orders');
  });
});

describe('HTTP ingress: shutdown', function () {
  this.timeout(10_000);

  it('fails readiness, refuses new requests, lets in-flight ones finish, then closes', async () => {
    const daemon = await startTestDaemon({ routes: ROUTES, brokers: { memory: { plugin: 'memory', options: {} } } });
    await daemon.brokers.get('memory')!.respond('slow', () => sleep(200).then(() => ({ payload: Buffer.from('done'), headers: {} })));
    const inFlight = daemon.post('/slow', 'x');
    await sleep(50);
    const stopping = daemon.shutdown('test');
    expect((await fetch(`${daemon.url}/ready`).catch(() => undefined))?.status ?? 503).to.equal(503);
    const answer = await inFlight;
    expect(answer.status).to.equal(200);
    expect(await answer.text()).to.equal('done');
    await stopping;
    expect(daemon.server.listening).to.equal(false);
  });

  it('with a drain delay, /ready says 503 first while requests are still served', async () => {
    const daemon = await startTestDaemon({ routes: ROUTES, brokers: { memory: { plugin: 'memory', options: {} } }, overrides: { shutdownDelayMs: 400 } });
    const stopping = daemon.shutdown('test');
    await sleep(50);
    const ready = await fetch(`${daemon.url}/ready`);
    expect(ready.status).to.equal(503);
    expect(((await ready.json()) as { status: string }).status).to.equal('stopping');
    expect((await daemon.post('/events/still', 'x')).status).to.equal(202);
    await stopping;
    expect(daemon.server.listening).to.equal(false);
  });
});
