/** Ingress security: API keys, per-route clients, rate limits, header limits, idempotency, secrets. */
import net from 'node:net';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import winston from 'winston';
import { createLogger } from '../../core/observability/logger.js';
import { catalogOf } from '../../core/brokers/instances.js';
import { lintRoutes } from '../../core/routes/lint.js';
import { scopedMessageId } from '../../core/dedupe-id.js';
import kafka from '../../plugins/kafka/index.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { sleep } from '../support/net.js';

const BILLING = 'billing-secret-0123456789';
const WEB = 'web-secret-0123456789abcdef';

const ROUTES = `routes:
  - name: open-to-clients
    path: /any
    broker: memory
    mode: pubsub
    destination: any
  - name: billing-only
    path: /billing
    broker: memory
    mode: point-to-point
    destination: billing
    clients: [billing]
  - name: limited
    path: /limited
    broker: memory
    mode: pubsub
    destination: limited
    rateLimit: { perSecond: 2, burst: 2 }
  - name: limited-per-client
    path: /limited-per-client
    broker: memory
    mode: pubsub
    destination: limited-per-client
    rateLimit: { perSecond: 0.01, burst: 3 }
  - name: orders
    path: /orders
    broker: memory
    mode: point-to-point
    destination: orders
  - name: events
    path: /events/:topic
    broker: memory
    mode: pubsub
    destination: events.{topic}
`;

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

/** Sends raw bytes and returns the raw answer: for requests fetch() refuses to send. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    setTimeout(() => {
      socket.destroy();
      resolve(answer);
    }, 2000);
  });
}

describe('ingress security', function () {
  this.timeout(15_000);
  let daemon: TestDaemon;
  let handedOver: () => Promise<number>;

  before(async () => {
    daemon = await startTestDaemon({
      routes: ROUTES,
      brokers: { memory: { plugin: 'memory', options: {} } },
      overrides: {
        apiKeys: new Map([
          ['billing', BILLING],
          ['web', WEB],
        ]),
        tapEnabled: true,
        limits: { maxHeaders: 20, maxHeaderBytes: 4096, headersTimeoutMs: 1000, requestTimeoutMs: 2000 },
      },
    });
    handedOver = async () => (await daemon.metrics.messages.get()).values.reduce((sum, v) => sum + v.value, 0);
  });
  after(async () => daemon?.shutdown('done'));

  it('401 without a key or with a wrong one, before the body is read; nothing published', async () => {
    const before = await handedOver();
    const none = await daemon.post('/any', 'x');
    expect(none.status).to.equal(401);
    expect(none.headers.get('www-authenticate')).to.include('Bearer');
    expect(await codeOf(none)).to.equal('unauthorized');
    expect(await codeOf(await daemon.post('/any', 'x', { authorization: `Bearer ${BILLING}x` }))).to.equal('unauthorized');
    // A body far over the limit would be 413 if it were read: 401 shows it was not.
    expect((await daemon.post('/any', 'x'.repeat(5_000_000))).status).to.equal(401);
    expect(await handedOver()).to.equal(before);
  });

  it('accepts Bearer and X-Api-Key; a route with clients: refuses other clients with 403', async () => {
    expect((await daemon.post('/any', 'x', { authorization: `Bearer ${WEB}` })).status).to.equal(202);
    expect((await daemon.post('/any', 'x', { 'x-api-key': BILLING })).status).to.equal(202);
    expect((await daemon.post('/billing', 'x', { 'x-api-key': BILLING })).status).to.equal(202);
    const other = await daemon.post('/billing', 'x', { 'x-api-key': WEB });
    expect(other.status).to.equal(403);
    expect(await codeOf(other)).to.equal('forbidden');
  });

  it('keeps /health open, and the tap behind a key', async () => {
    expect((await fetch(`${daemon.url}/health`)).status).to.equal(200);
    expect((await fetch(`${daemon.url}/tap/memory/any`)).status).to.equal(401);
  });

  /** Opens a tap and closes it as soon as it streams. */
  async function tap(pathname: string, key?: string): Promise<Response> {
    const controller = new AbortController();
    const res = await fetch(`${daemon.url}${pathname}`, { headers: key ? { 'x-api-key': key } : {}, signal: controller.signal });
    if (res.status === 200) controller.abort();
    return res;
  }

  it('tap: 403 for a destination whose routes are limited to another client, 200 for that client', async () => {
    const other = await tap('/tap/memory/billing?mode=point-to-point', WEB);
    expect(other.status).to.equal(403);
    expect(await codeOf(other)).to.equal('forbidden');
    const own = await tap('/tap/memory/billing?mode=point-to-point', BILLING);
    expect(own.status).to.equal(200);
    expect(own.headers.get('content-type')).to.match(/^text\/event-stream/);
  });

  it('tap: 403 for a destination no route sends to, and the same answer for an unknown broker', async () => {
    expect((await tap('/tap/memory/events.orders', WEB)).status).to.equal(200);
    expect(await codeOf(await tap('/tap/memory/secrets', WEB))).to.equal('forbidden');
    expect(await codeOf(await tap('/tap/memory/events.a.b', WEB))).to.equal('forbidden');
    expect(await codeOf(await tap('/tap/nowhere/events.orders', WEB))).to.equal('forbidden');
  });

  it('429 with Retry-After over the route rate limit', async () => {
    const answers = [];
    for (let i = 0; i < 4; i += 1) answers.push(await daemon.post('/limited', 'x', { 'x-api-key': WEB }));
    expect(answers.map((r) => r.status)).to.deep.equal([202, 202, 429, 429]);
    expect(answers[2]!.headers.get('retry-after')).to.equal('1');
    expect(await codeOf(answers[2]!)).to.equal('rate_limited');
  });

  it('one client flooding a rate-limited route never gets another client a 429', async () => {
    const flood = Array.from({ length: 8 }, () => daemon.post('/limited-per-client', 'x', { 'x-api-key': BILLING }));
    const other = Array.from({ length: 3 }, () => daemon.post('/limited-per-client', 'x', { 'x-api-key': WEB }));
    const [flooded, others] = await Promise.all([Promise.all(flood), Promise.all(other)]);
    expect(others.map((r) => r.status)).to.deep.equal([202, 202, 202]);
    expect(flooded.filter((r) => r.status === 202)).to.have.length(3);
    const refused = flooded.filter((r) => r.status === 429);
    expect(refused).to.have.length(5);
    expect(Number(refused[0]!.headers.get('retry-after'))).to.be.greaterThan(0);
    expect(await codeOf(refused[0]!)).to.equal('rate_limited');
    // Each client has its own bucket: the other one is now spent too, and only its own.
    expect((await daemon.post('/limited-per-client', 'x', { 'x-api-key': WEB })).status).to.equal(429);
  });

  it('431 JSON for too many headers and for headers too large', async () => {
    const many: Record<string, string> = { 'x-api-key': WEB };
    for (let i = 0; i < 30; i += 1) many[`x-h${i}`] = 'v';
    const tooMany = await daemon.post('/any', 'x', many);
    expect(tooMany.status).to.equal(431);
    expect(await codeOf(tooMany)).to.equal('headers_too_large');
    const big = await rawRequest(daemon.port, `POST /any HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\nContent-Length: 0\r\n\r\n`);
    expect(big).to.match(/^HTTP\/1\.1 431/);
    expect(big).to.include('"code":"headers_too_large"');
  });

  it('400 JSON for malformed HTTP and for CR/LF smuggled into a header', async () => {
    const broken = await rawRequest(daemon.port, 'POST /any HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    expect(broken).to.match(/^HTTP\/1\.1 400/);
    expect(broken).to.include('"code":"bad_request"');
    const smuggled = await rawRequest(daemon.port, `POST /any HTTP/1.1\r\nHost: x\r\nX-Api-Key: ${WEB}\r\nX-A: a\rInjected: 1\r\nContent-Length: 0\r\n\r\n`);
    expect(smuggled).to.match(/^HTTP\/1\.1 400/);
  });

  it('408 JSON for a client that does not finish its headers in time', async () => {
    const slow = await new Promise<string>((resolve) => {
      const socket = net.connect(daemon.port, '127.0.0.1', () => socket.write('POST /any HTTP/1.1\r\nHost: x\r\n'));
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.on('close', () => resolve(answer));
      setTimeout(() => socket.destroy(), 8000);
    });
    expect(slow).to.match(/^HTTP\/1\.1 408/);
  });

  it('the same Idempotency-Key publishes once and returns the first receipt', async () => {
    const received: string[] = [];
    const sub = await daemon.brokers.get('memory')!.subscribe('orders', { mode: 'point-to-point' }, (m) => {
      received.push(m.headers['idempotency-key'] ?? '?');
      return Promise.resolve();
    });
    const headers = { 'x-api-key': WEB, 'idempotency-key': 'order-7781' };
    const first = await daemon.post('/orders', 'pay', headers);
    const second = await daemon.post('/orders', 'pay', headers);
    expect(first.status).to.equal(202);
    expect(second.status).to.equal(202);
    expect(second.headers.get('idempotent-replayed')).to.equal('true');
    const [a, b] = [await first.json(), await second.json()] as { id: string }[];
    expect(b).to.deep.equal(a);
    // The id is derived from client, route and key (never the bare key another client could send too).
    expect(a!.id).to.equal(scopedMessageId(['ingress', 'web', 'orders', 'order-7781']));
    await sleep(50);
    await sub.close();
    expect(received).to.deep.equal(['order-7781']);
    const bad = await daemon.post('/orders', 'pay', { 'x-api-key': WEB, 'idempotency-key': 'no spaces allowed' });
    expect(await codeOf(bad)).to.equal('bad_request');
  });
});

describe('ingress security: protocol edges, logs, paths and reserved destinations', function () {
  this.timeout(15_000);
  let daemon: TestDaemon;
  const logged: string[] = [];

  before(async () => {
    const capture = new Writable({
      write(chunk: Buffer, _encoding, next) {
        logged.push(chunk.toString());
        next();
      },
    });
    const base = createLogger({ level: 'debug', format: 'json', silent: true });
    const logger = winston.createLogger({ level: 'debug', format: base.format, transports: [new winston.transports.Stream({ stream: capture })] });
    daemon = await startTestDaemon({
      routes: `routes:
  - name: any
    path: /any
    broker: memory
    mode: pubsub
    destination: any
  - name: cafe
    path: /café/:id
    broker: memory
    mode: pubsub
    destination: cafe.{id}
`,
      brokers: { memory: { plugin: 'memory', options: {} } },
      overrides: { bodyLimit: '1kb' },
      logger,
    });
  });
  after(async () => daemon?.shutdown('done'));

  it('Expect: 100-continue with a declared length over the limit: 413 at once, no 100 Continue', async () => {
    const answer = await rawRequest(daemon.port, 'POST /any HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\n\r\n');
    expect(answer).to.not.include('100 Continue');
    expect(answer).to.match(/^HTTP\/1\.1 413/);
    expect(answer).to.include('"code":"payload_too_large"');
  });

  it('Expect: 100-continue within the limit: invited, then accepted', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(daemon.port, '127.0.0.1', () =>
        socket.write('POST /any HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
        if (text.startsWith('HTTP/1.1 100') && !text.includes('hello-sent')) {
          text += 'hello-sent';
          socket.write('hello');
        }
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).to.match(/^HTTP\/1\.1 100 Continue/);
    expect(answer).to.include('HTTP/1.1 202');
  });

  it('Expect: 200-ok gets a JSON 417', async () => {
    const answer = await rawRequest(daemon.port, 'POST /any HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx');
    expect(answer).to.match(/^HTTP\/1\.1 417/);
    expect(answer).to.include('"code":"expectation_failed"');
  });

  it('CONNECT gets a JSON 405 instead of a closed socket', async () => {
    const answer = await rawRequest(daemon.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expect(answer).to.match(/^HTTP\/1\.1 405/);
    expect(answer).to.include('"code":"method_not_allowed"');
  });

  it('a request in absolute form (POST http://host/path) reaches its route', async () => {
    const answer = await rawRequest(
      daemon.port,
      'POST http://busgate.example/any HTTP/1.1\r\nHost: busgate.example\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx',
    );
    expect(answer).to.match(/^HTTP\/1\.1 202/);
  });

  it('a route path with non-ASCII text matches its percent-encoded form', async () => {
    expect((await daemon.post('/caf%C3%A9/1', 'x')).status).to.equal(202);
    expect((await daemon.post('/caf%c3%a9/2', 'x')).status).to.equal(202);
    expect((await daemon.post('/cafe/3', 'x')).status).to.equal(404);
  });

  it('debug logs leave out the query string (a secret in ?api_key= stays out of the log)', async () => {
    await (await daemon.post('/any?api_key=query-secret-4f1e9a', 'x')).arrayBuffer();
    await (await fetch(`${daemon.url}/nothing?token=query-secret-4f1e9a`)).arrayBuffer();
    await sleep(50);
    expect(logged.join('\n')).to.include('"path":"/any"');
    expect(logged.join('\n')).to.not.include('query-secret-4f1e9a');
  });

  it("refuses a route whose destination could render a plugin's reserved destination (Kafka's reply topic)", () => {
    const catalog = (replyTopic: string) =>
      catalogOf(new Map([['kafka', { name: 'kafka', factory: kafka, options: { brokers: ['127.0.0.1:9092'], replyTopic, batch: {} } }]]));
    const route = (destination: string) => `routes:\n  - path: /send/:topic\n    broker: kafka\n    mode: pubsub\n    destination: "${destination}"\n`;
    const codes = (destination: string, replyTopic: string) => lintRoutes(route(destination), catalog(replyTopic)).problems.map((p) => p.code);
    expect(codes('busgate.{topic}', 'busgate.replies')).to.deep.equal(['reserved_destination']);
    expect(codes('busgate.replies', 'busgate.replies')).to.deep.equal(['reserved_destination']);
    expect(codes('{topic}', 'replies')).to.deep.equal(['reserved_destination']);
    // A value cannot carry a "." on Kafka, so "{topic}" never reaches "busgate.replies".
    expect(codes('{topic}', 'busgate.replies')).to.deep.equal([]);
    expect(codes('orders.{topic}', 'busgate.replies')).to.deep.equal([]);
  });
});
