/**
 * Fuzz of the ingress: random methods, paths (broken percent-encoding, unicode, traversal, long),
 * headers and bodies. Every answer must be a documented status with a JSON error body, nothing
 * may hang or crash, and the broker must receive exactly one message per 2xx answer.
 * FUZZ_ITERATIONS (default 1500) and FUZZ_SEED replay or lengthen a run.
 */
import http from 'node:http';
import { expect } from 'chai';
import { ERROR_CODES } from '../../core/errors.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { Random, seedFromEnv } from '../support/random.js';

const ROUTES = `routes:
  - name: events
    path: /events/:topic
    broker: memory
    mode: pubsub
    destination: events.{topic}
    headers: [x-tenant]
  - name: jobs
    path: /jobs/:queue
    broker: memory
    mode: point-to-point
    destination: jobs.{queue}
    key: "{header.x-key}"
  - name: echo
    path: /echo
    broker: memory
    mode: request-reply
    destination: demo.echo
    timeout: 500ms
  - name: send
    path: /send/:broker/:mode/:destination
    broker: "{broker}"
    brokers: [memory]
    mode: "{header.x-mode}"
    destination: "{destination}"
    timeout: 500ms
`;

const SEGMENTS = [
  'events',
  'jobs',
  'echo',
  'send',
  'memory',
  'pubsub',
  'point-to-point',
  'request-reply',
  'a',
  'a.b',
  '*',
  '>',
  '$SYS',
  '%zz',
  '%E0%A4%A',
  '%00',
  '..',
  '.',
  'é',
  '😀',
  '%2F',
  'x'.repeat(300),
  'demo.echo',
  ' ',
  'health',
  'ready',
  'metrics',
  'tap',
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'POST', 'POST', 'POST'];
const HEADER_VALUES = ['', 'a', 'a.b', 'pubsub', 'point-to-point', 'request-reply', 'x'.repeat(400), '\u00e9t\u00e9', 'multi, value'];

function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; contentType: string; body: string; messageId: boolean; replayed: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks).toString(),
          messageId: res.headers['x-busgate-id'] !== undefined,
          replayed: res.headers['idempotent-replayed'] === 'true',
        }),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`hung: ${method} ${path}`)));
    req.on('error', reject);
    req.end(method === 'GET' || method === 'HEAD' ? undefined : body);
  });
}

describe('fuzz: ingress', function () {
  this.timeout(120_000);
  let daemon: TestDaemon;
  const seed = seedFromEnv();
  const iterations = Number(process.env.FUZZ_ITERATIONS ?? 1500);

  before(async () => {
    daemon = await startTestDaemon({
      routes: ROUTES,
      brokers: { memory: { plugin: 'memory', options: { echoResponders: ['demo.echo'], queueLimit: 100_000 } } },
      overrides: { bodyLimit: '2kb' },
    });
  });
  after(async () => daemon?.shutdown('done'));

  it(`answers every random request with a documented status and JSON error (seed ${seed})`, async () => {
    const random = new Random(seed);
    const statuses = new Set<number>(Object.values(ERROR_CODES).map((e) => e.status));
    let replays = 0;
    let accepted = 0;
    const seen = new Map<number, number>();
    for (let i = 0; i < iterations; i += 1) {
      const depth = 1 + random.int(4);
      const path = '/' + Array.from({ length: depth }, () => random.pick(SEGMENTS)).join('/') + (random.chance(0.1) ? '?q=%zz&x=1' : '');
      const method = random.pick(METHODS);
      const headers: Record<string, string> = {};
      if (random.chance(0.5)) headers['x-mode'] = random.pick(HEADER_VALUES);
      if (random.chance(0.5)) headers['x-key'] = random.pick(HEADER_VALUES);
      if (random.chance(0.3)) headers['x-tenant'] = random.pick(HEADER_VALUES);
      if (random.chance(0.3))
        headers['content-type'] = random.pick([
          'application/json',
          'text/plain; charset=utf-16',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          '',
          'garbage/',
        ]);
      if (random.chance(0.2)) headers['idempotency-key'] = random.pick(['k1', 'k2', 'bad key', 'x'.repeat(250)]);
      if (random.chance(0.1)) headers['content-encoding'] = random.pick(['gzip', 'br', 'identity', 'bogus']);
      const body = random.bytes(random.chance(0.1) ? 3000 : random.int(200));
      const encodedPath = [...Buffer.from(path, 'utf8')]
        .map((byte) => (byte > 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`))
        .join('');
      const answer = await send(daemon.port, method, encodedPath, headers, body);
      seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
      const context = `seed ${seed} #${i}: ${method} ${encodedPath} ${JSON.stringify(headers)} -> ${answer.status} ${answer.body.slice(0, 200)}`;
      if (answer.status >= 200 && answer.status < 300) {
        if (answer.messageId) accepted += 1;
        if (answer.replayed) replays += 1;
        continue;
      }
      expect(statuses.has(answer.status), context).to.equal(true);
      if (method === 'HEAD') continue;
      expect(answer.contentType, context).to.match(/^application\/json/);
      const parsed = JSON.parse(answer.body) as { error: { code: keyof typeof ERROR_CODES; message: string } };
      expect(ERROR_CODES[parsed.error.code]?.status, context).to.equal(answer.status);
    }
    // One broker message per 2xx (idempotent replays are 2xx without a new message).
    const handed = (await daemon.metrics.messages.get()).values.filter((v) => v.labels.outcome === 'ok').reduce((sum, v) => sum + v.value, 0);
    expect(handed, `seed ${seed}`).to.equal(accepted - replays);
    expect(seen.size, JSON.stringify([...seen])).to.be.at.least(4);
    const health = await fetch(`${daemon.url}/health`);
    expect(health.status).to.equal(200);
  });
});
