/** Ingress security: API keys, per-route clients, rate limits, header limits, idempotency, secrets. */
import net from 'node:net';
import { expect } from 'chai';
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
  - name: orders
    path: /orders
    broker: memory
    mode: point-to-point
    destination: orders
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
      overrides: { apiKeys: new Map([['billing', BILLING], ['web', WEB]]), tapEnabled: true, limits: { maxHeaders: 20, maxHeaderBytes: 4096, headersTimeoutMs: 1000, requestTimeoutMs: 2000 } },
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

  it('429 with Retry-After over the route rate limit', async () => {
    const answers = [];
    for (let i = 0; i < 4; i += 1) answers.push(await daemon.post('/limited', 'x', { 'x-api-key': WEB }));
    expect(answers.map((r) => r.status)).to.deep.equal([202, 202, 429, 429]);
    expect(answers[2]!.headers.get('retry-after')).to.equal('1');
    expect(await codeOf(answers[2]!)).to.equal('rate_limited');
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
    expect(a!.id).to.equal('order-7781');
    await sleep(50);
    await sub.close();
    expect(received).to.deep.equal(['order-7781']);
    const bad = await daemon.post('/orders', 'pay', { 'x-api-key': WEB, 'idempotency-key': 'no spaces allowed' });
    expect(await codeOf(bad)).to.equal('bad_request');
  });
});
