/** The egress pieces that need no broker: the subscriptions linter, the retry policy, the signer. */
import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import { lintSubscriptions, type EgressCatalog } from '../../core/egress/lint.js';
import { judge, parseRetryAfter, retryDelay } from '../../core/egress/retry-policy.js';
import { WebhookSigner } from '../../core/egress/signer.js';
import { KeyOrder } from '../../core/egress/key-order.js';
import { lintRoutes, type BrokerCatalog } from '../../core/routes/lint.js';
import { formatProblem } from '../../core/routes/model.js';

const SECRET = `whsec_${Buffer.from('unit-test-secret-of-32-bytes-long!').toString('base64')}`;
const catalog: EgressCatalog = new Map([
  [
    'kafka',
    {
      egress: { durableGroups: true, concurrentHandlers: true, orderingKey: 'the record key' },
      checkDestination: (d: string) => (/^[a-zA-Z0-9._-]+$/.test(d) ? undefined : 'not a topic name'),
    },
  ],
  ['memory', { egress: { durableGroups: false, concurrentHandlers: true, orderingKey: 'key' } }],
  ['noegress', { egress: undefined }],
]);
const env = { ORDERS_WEBHOOK_SECRET: SECRET, SHORT_SECRET: 'whsec_c2hvcnQ=' };

const ISSUE_EXAMPLE = `subscriptions:
  - name: notify-orders
    broker: kafka
    source: orders
    mode: point-to-point
    group: notifier
    deliver:
      url: http://127.0.0.1:9000/hooks/orders
      timeout: 5s
      concurrency: 8
      ordering: none
      headers: { x-tenant: acme }
    retry: { attempts: 5, initialDelay: 200ms, maxDelay: 30s }
    deadLetter: orders-dlq
    signing: { secretEnv: ORDERS_WEBHOOK_SECRET }
`;

describe('subscriptions linter', () => {
  it("accepts the issue's exact configuration and applies defaults", () => {
    const { subscriptions, problems } = lintSubscriptions(ISSUE_EXAMPLE, catalog, { env });
    expect(problems).to.deep.equal([]);
    expect(subscriptions).to.have.length(1);
    expect(subscriptions[0]).to.deep.include({
      name: 'notify-orders',
      broker: 'kafka',
      source: 'orders',
      mode: 'point-to-point',
      group: 'notifier',
      deadLetter: 'orders-dlq',
      signingSecretEnv: 'ORDERS_WEBHOOK_SECRET',
      deliver: { url: 'http://127.0.0.1:9000/hooks/orders', timeoutMs: 5000, concurrency: 8, ordering: 'none', headers: { 'x-tenant': 'acme' } },
      retry: { attempts: 5, initialDelayMs: 200, maxDelayMs: 30_000, maxRetryAfterMs: 60_000 },
    });
  });

  it('group defaults to the name', () => {
    const { subscriptions } = lintSubscriptions(ISSUE_EXAMPLE.replace('    group: notifier\n', ''), catalog, { env });
    expect(subscriptions[0]!.group).to.equal('notify-orders');
  });

  it('reports every problem with its line and column, as FILE:LINE:COL code message', () => {
    const text = `subscriptions:
  - name: a
    broker: kafka
    source: "bad topic"
    mode: sometimes
    colour: red
    deliver:
      url: ftp://example.com/x
      timeout: soon
      concurrency: 0
      ordering: random
      headers: { webhook-id: fake, "bad name": x }
    retry: { attempts: 0, initialDelay: 1s, maxDelay: 10ms }
    deadLetter: a-dlq
    signing: { secretEnv: MISSING_SECRET }
  - name: a
    broker: nowhere
    source: x
    mode: pubsub
    deadLetter: y
  - name: c
    broker: noegress
    source: x
    mode: pubsub
    deliver: { url: "http://x/" }
    deadLetter: y
  - name: d
    broker: memory
    group: g
    source: "{param}"
    mode: pubsub
    deliver: { url: "http://x/" }
    deadLetter: y
    signing: { secretEnv: SHORT_SECRET }
`;
    const { subscriptions, problems } = lintSubscriptions(text, catalog, { env, declared: ['kafka', 'memory', 'noegress'] });
    expect(subscriptions).to.deep.equal([]);
    expect(problems.map((p) => `${p.line}:${p.col} ${p.code}`)).to.deep.equal([
      '4:13 bad_destination',
      '5:11 unknown_mode',
      '6:5 unknown_key',
      '8:12 bad_url',
      '9:16 bad_duration',
      '10:20 bad_number',
      '11:17 bad_ordering',
      '12:18 reserved_header',
      '12:36 bad_header_name',
      '13:24 bad_number',
      '13:55 bad_duration',
      '15:27 missing_secret',
      '16:5 missing_key',
      '16:11 duplicate_subscription',
      '17:13 unknown_broker',
      '22:13 egress_not_supported',
      '29:12 bad_option',
      '30:13 bad_destination',
      '34:27 bad_secret',
    ]);
    expect(formatProblem('routes.yaml', problems[0]!)).to.equal('routes.yaml:4:13 bad_destination source "bad topic": not a topic name');
    // The secret's value never appears in a message.
    expect(problems.map((p) => p.message).join('\n')).to.not.include('c2hvcnQ');
  });

  it('lets the routes linter accept a file that only subscribes', () => {
    const routesCatalog: BrokerCatalog = new Map([['kafka', { modes: ['pubsub'] as const }]]);
    expect(lintRoutes(ISSUE_EXAMPLE, routesCatalog).problems).to.deep.equal([]);
    expect(lintRoutes('routes: []\nsubscriptions: []\nother: 1\n', routesCatalog).problems.map((p) => p.code)).to.deep.equal(['unknown_key']);
  });
});

describe('retry policy', () => {
  const policy = { attempts: 5, initialDelayMs: 200, maxDelayMs: 30_000, maxRetryAfterMs: 60_000 };

  it('judges answers: 2xx delivered; 408, 429, 5xx, timeouts and connection errors retried; other 4xx permanent', () => {
    expect([200, 201, 204, 299].map((status) => judge({ kind: 'answered', status }))).to.deep.equal(['delivered', 'delivered', 'delivered', 'delivered']);
    expect([408, 429, 500, 502, 503, 504].map((status) => judge({ kind: 'answered', status }))).to.deep.equal(Array(6).fill('retry'));
    expect([301, 400, 401, 403, 404, 410, 413, 422].map((status) => judge({ kind: 'answered', status }))).to.deep.equal(Array(8).fill('permanent'));
    expect(judge({ kind: 'timeout' })).to.equal('retry');
    expect(judge({ kind: 'connection-error', detail: 'ECONNREFUSED' })).to.equal('retry');
  });

  it('backs off exponentially with full jitter, capped at maxDelay', () => {
    const failed = { kind: 'answered', status: 500 } as const;
    expect([1, 2, 3, 4].map((retry) => retryDelay(policy, retry, failed, () => 0.999999))).to.deep.equal([200, 400, 800, 1600]);
    expect(retryDelay(policy, 20, failed, () => 0.999999)).to.equal(30_000);
    expect(retryDelay(policy, 3, failed, () => 0)).to.equal(0);
  });

  it('takes Retry-After from a 429 or 503 (seconds or a date), capped at maxRetryAfter', () => {
    expect(retryDelay(policy, 1, { kind: 'answered', status: 429, retryAfterMs: 7000 })).to.equal(7000);
    expect(retryDelay(policy, 1, { kind: 'answered', status: 503, retryAfterMs: 3_600_000 })).to.equal(60_000);
    expect(parseRetryAfter('3')).to.equal(3000);
    expect(parseRetryAfter(new Date(10_000 + 5000).toUTCString(), 10_000)).to.be.closeTo(5000, 1000);
    expect(parseRetryAfter('soon')).to.equal(undefined);
  });
});

describe('webhook signer', () => {
  it('signs so that the standardwebhooks package verifies, and nothing else does', () => {
    const body = Buffer.from('{"order":1,"text":"héllo"}');
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(timestamp),
      'webhook-signature': new WebhookSigner(SECRET).sign('msg_1', timestamp, body),
    };
    expect(new Webhook(SECRET).verify(body, headers)).to.deep.equal({ order: 1, text: 'héllo' });
    expect(() => new Webhook(SECRET).verify(body, { ...headers, 'webhook-id': 'msg_2' })).to.throw();
    const other = `whsec_${Buffer.from('another-secret-another-secret-12').toString('base64')}`;
    expect(() => new Webhook(other).verify(body, headers)).to.throw();
  });
});

describe('key order', () => {
  it('runs one key at a time in arrival order, other keys alongside', async () => {
    const order = new KeyOrder();
    const log: string[] = [];
    const step = (name: string, ms: number) => () => new Promise<void>((resolve) => setTimeout(() => (log.push(name), resolve()), ms));
    await Promise.all([
      order.run('a', step('a1', 30)),
      order.run('a', step('a2', 1)),
      order.run('b', step('b1', 10)),
      order.run('a', () => Promise.reject(new Error('x'))).catch(() => log.push('a3 failed')),
      order.run('a', step('a4', 1)),
    ]);
    expect(log.filter((entry) => entry.startsWith('a'))).to.deep.equal(['a1', 'a2', 'a3 failed', 'a4']);
    expect(log.indexOf('b1')).to.be.lessThan(log.indexOf('a1'));
    expect(order.size).to.equal(0);
  });
});
