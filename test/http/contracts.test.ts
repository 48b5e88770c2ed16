/** Body schemas, CloudEvents and batches over HTTP, on the embedded broker. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { expect } from 'chai';
import { scopedMessageId } from '../../core/dedupe-id.js';
import type { InboundMessage } from '../../core/plugins/contract.js';
import { eventually, startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { SseClient } from '../support/sse-client.js';

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;

interface OpenApiDocument {
  readonly paths: Record<string, Record<string, unknown>>;
  readonly components: { readonly schemas: Record<string, unknown> };
}

const orderSchema = fileURLToPath(new URL('../../../test/fixtures/schemas/order.json', import.meta.url));

const ROUTES = `routes:
  - name: orders
    path: /orders
    broker: memory
    mode: pubsub
    destination: contracts.orders
    schema: ${orderSchema}
  - name: small-batch
    path: /small-batch/:mode
    broker: memory
    mode: "{mode}"
    modes: [pubsub, request-reply]
    destination: contracts.batch
    batch: { maxEntries: 3 }
    cloudevents: required
`;

export const VALID_ORDER = {
  orderId: 'ord_abc123',
  customerId: 'c-1',
  email: 'ann@example.com',
  currency: 'EUR',
  total: 12.5,
  createdAt: '2026-11-30T12:00:00Z',
  items: [{ sku: 'tea', qty: 2, price: 6.25 }],
};

describe('HTTP contracts (embedded broker)', function () {
  this.timeout(10_000);
  let daemon: TestDaemon;
  const received: InboundMessage[] = [];

  before(async () => {
    daemon = await startTestDaemon({ routes: ROUTES, brokers: { memory: { plugin: 'memory', options: {} } } });
    await daemon.brokers.get('memory')!.subscribe('contracts.orders', { mode: 'pubsub' }, async (message) => {
      received.push(message);
    });
  });
  after(() => daemon.shutdown('test done'));
  beforeEach(() => {
    received.length = 0;
  });

  describe('body schema', () => {
    it('publishes a body that matches', async () => {
      const res = await daemon.post('/orders', JSON.stringify(VALID_ORDER), { 'content-type': 'application/json' });
      expect(res.status).to.equal(202);
      await eventually(() => received.length === 1);
      expect(JSON.parse(received[0]!.payload.toString())).to.deep.equal(VALID_ORDER);
    });

    it('refuses a body that does not match with 422 invalid_body, the failing pointers, and publishes nothing', async () => {
      const bad = { ...VALID_ORDER, currency: 'XXX', items: [{ sku: 'tea', qty: 0, price: 1 }], colour: 'red' };
      delete (bad as Partial<typeof VALID_ORDER>).orderId;
      const res = await daemon.post('/orders', JSON.stringify(bad), { 'content-type': 'application/json' });
      expect(res.status).to.equal(422);
      const body = (await res.json()) as { error: { code: string; message: string; details: Array<{ pointer: string; problem: string }> } };
      expect(body.error.code).to.equal('invalid_body');
      expect(body.error.details.map((d) => d.pointer)).to.have.members(['/orderId', '/colour', '/currency', '/items/0/qty']);
      // A round trip through the daemon proves nothing was queued behind the refusal.
      expect((await daemon.post('/orders', JSON.stringify(VALID_ORDER), { 'content-type': 'application/json' })).status).to.equal(202);
      await eventually(() => received.length === 1);
      expect((JSON.parse(received[0]!.payload.toString()) as { orderId: string }).orderId).to.equal('ord_abc123');
    });

    it('refuses a body that is not JSON with 422, and bounds the list of pointers', async () => {
      const notJson = await daemon.post('/orders', '{"orderId": ', { 'content-type': 'application/json' });
      expect(notJson.status).to.equal(422);
      expect(((await notJson.json()) as { error: { details: unknown[] } }).error.details).to.deep.equal([{ pointer: '', problem: 'is not valid JSON' }]);
      const manyWrong = { ...VALID_ORDER, items: Array.from({ length: 50 }, () => ({ sku: '', qty: -1, price: -1 })) };
      const res = await daemon.post('/orders', JSON.stringify(manyWrong), { 'content-type': 'application/json' });
      const body = (await res.json()) as { error: { details: unknown[] } };
      expect(res.status).to.equal(422);
      expect(body.error.details).to.have.lengthOf(5);
      expect(received).to.be.empty;
    });
  });

  describe('batches and CloudEvents over HTTP', () => {
    const event = (id: string) => ({ specversion: '1.0', id, source: '/t', type: 't' });
    const post = (mode: string, body: unknown, type: string) =>
      daemon.post(`/small-batch/${mode}`, typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': type });

    it('takes a CloudEvents batch, and refuses more than maxEntries with 413 too_many_entries', async () => {
      const ok = await post('pubsub', [event('a'), event('b')], 'application/cloudevents-batch+json');
      expect(ok.status).to.equal(202);
      expect(((await ok.json()) as { accepted: number }).accepted).to.equal(2);
      const tooMany = await post('pubsub', [event('a'), event('b'), event('c'), event('d')], 'application/cloudevents-batch+json');
      expect(tooMany.status).to.equal(413);
      expect(((await tooMany.json()) as { error: { code: string } }).error.code).to.equal('too_many_entries');
    });

    it('cloudevents: required refuses a plain body and an NDJSON batch with 400 invalid_cloudevent', async () => {
      expect((await post('pubsub', '{"a":1}', 'application/json')).status).to.equal(400);
      expect((await post('pubsub', '{"a":1}\n{"a":2}', 'application/x-ndjson')).status).to.equal(400);
    });

    it('refuses a batch sent as request-reply with 400 mode_not_allowed', async () => {
      const res = await post('request-reply', [event('a')], 'application/cloudevents-batch+json');
      expect(res.status).to.equal(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('mode_not_allowed');
    });

    it('an Idempotency-Key gives entry i the id derived from KEY.i (client- and route-scoped), and a repeat returns the first answer without publishing again', async () => {
      const seen: string[] = [];
      const subscription = await daemon.brokers.get('memory')!.subscribe('contracts.batch', { mode: 'pubsub' }, async (message) => {
        seen.push(message.headers['ce-id']!);
      });
      try {
        const send = () =>
          daemon.post('/small-batch/pubsub', JSON.stringify([event('x'), event('y')]), {
            'content-type': 'application/cloudevents-batch+json',
            'idempotency-key': 'batch-key-1',
          });
        const first = await send();
        const firstBody = await first.text();
        const again = await send();
        expect(again.headers.get('idempotent-replayed')).to.equal('true');
        expect(await again.text()).to.equal(firstBody);
        expect((JSON.parse(firstBody) as { entries: Array<{ receipt: { id: string } }> }).entries.map((e) => e.receipt.id)).to.deep.equal([
          scopedMessageId(['ingress', '', 'small-batch', 'batch-key-1.0']),
          scopedMessageId(['ingress', '', 'small-batch', 'batch-key-1.1']),
        ]);
        await eventually(() => seen.length === 2);
        expect(seen).to.deep.equal(['x', 'y']);
      } finally {
        await subscription.close();
      }
    });

    it('refuses a CloudEvents batch on a route without batch with 415 unsupported_media_type', async () => {
      const res = await daemon.post('/orders', JSON.stringify([event('a')]), { 'content-type': 'application/cloudevents-batch+json' });
      expect(res.status).to.equal(415);
    });
  });

  describe('contract documents', () => {
    it('serves /openapi.json and /asyncapi.json of the routes in service, rebuilt on reload', async () => {
      const openApi = (await (await fetch(`${daemon.url}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
      expect(openApi.openapi).to.equal('3.1.0');
      expect(Object.keys(openApi.paths)).to.deep.equal(['/orders', '/small-batch/{mode}']);
      const asyncApi = (await (await fetch(`${daemon.url}/asyncapi.json`)).json()) as {
        asyncapi: string;
        channels: Record<string, { address: string | null }>;
      };
      expect(asyncApi.asyncapi).to.equal('3.0.0');
      // null: the replies of the request-reply mode, whose address each request names.
      expect(Object.values(asyncApi.channels).map((c) => c.address)).to.deep.equal(['contracts.orders', 'contracts.batch', null]);

      fs.writeFileSync(
        daemon.routesFile,
        `${ROUTES}  - name: more\n    path: /more/:id\n    broker: memory\n    mode: point-to-point\n    destination: more.{id}\n` +
          'subscriptions:\n  - name: audit\n    broker: memory\n    source: more.audit\n    mode: point-to-point\n' +
          '    deliver: { url: "http://127.0.0.1:9/audit", cloudevents: binary }\n    deadLetter: more.dead\n',
      );
      expect((await daemon.reload('test')).outcome).to.equal('ok');
      const reloaded = (await (await fetch(`${daemon.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
      expect(Object.keys(reloaded.paths)).to.deep.equal(['/orders', '/small-batch/{mode}', '/more/{id}']);
      const reloadedAsync = (await (await fetch(`${daemon.url}/asyncapi.json`)).json()) as { channels: Record<string, { address: string | null }> };
      expect(Object.values(reloadedAsync.channels).map((c) => c.address)).to.deep.equal([
        'contracts.orders',
        'contracts.batch',
        null,
        'more.{id}',
        'more.audit',
      ]);
      // A subscription adds a receive operation on its source.
      expect((reloadedAsync as unknown as { operations: Record<string, { action: string }> }).operations['subscription.audit.receive']).to.deep.include({
        action: 'receive',
      });
      fs.writeFileSync(daemon.routesFile, ROUTES);
      expect((await daemon.reload('test')).outcome).to.equal('ok');
    });

    it('lists streams and pull paths in /openapi.json, and what they answer matches its schemas', async () => {
      fs.writeFileSync(
        daemon.routesFile,
        `${ROUTES}  - name: jobs\n    path: /jobs\n    broker: memory\n    mode: point-to-point\n    destination: contracts.jobs\n` +
          `  - name: news\n    path: /news\n    broker: memory\n    mode: pubsub\n    destination: contracts.news\n` +
          'streams:\n  - { path: /streams/news, broker: memory, source: contracts.news }\n' +
          'pulls:\n  - { path: /pull/jobs, broker: memory, source: contracts.jobs }\n',
      );
      expect((await daemon.reload('test')).outcome).to.equal('ok');
      try {
        const document = (await (await fetch(`${daemon.url}/openapi.json`)).json()) as OpenApiDocument;
        expect(Object.keys(document.paths)).to.include.members(['/streams/news', '/pull/jobs', '/pull/jobs/ack', '/pull/jobs/nack']);
        expect(Object.keys(document.paths['/streams/news']!)).to.deep.equal(['get']);
        expect(Object.keys(document.paths['/pull/jobs/nack']!)).to.deep.equal(['post']);
        const ajv = new Ajv2020({ strict: false });
        addFormats(ajv);
        for (const [name, schema] of Object.entries(document.components.schemas)) ajv.addSchema(schema as object, `#/components/schemas/${name}`);
        const check = (name: string, value: unknown): void => {
          const validate = ajv.getSchema(`#/components/schemas/${name}`)!;
          expect(validate(value), `${name}: ${JSON.stringify(validate.errors)}`).to.equal(true);
        };

        const stream = await SseClient.open(`${daemon.url}/streams/news`);
        try {
          await eventually(() => stream.events.some((event) => event.event === 'open'));
          check('StreamOpen', JSON.parse(stream.events.find((event) => event.event === 'open')!.data));
          expect((await daemon.post('/news', '{"headline":"x"}', { 'content-type': 'application/json' })).status).to.equal(202);
          await eventually(() => stream.messages().length === 1);
          check('StreamMessage', stream.messages()[0]);
        } finally {
          stream.close();
        }

        expect((await daemon.post('/jobs', '{"job":1}', { 'content-type': 'application/json' })).status).to.equal(202);
        const pulled = (await (await daemon.post('/pull/jobs?wait=2s', '')).json()) as { messages: Array<{ lease: string }> };
        check('PulledMessages', pulled);
        expect(pulled.messages).to.have.lengthOf(1);
        const acked: unknown = await (
          await daemon.post('/pull/jobs/ack', JSON.stringify({ leases: [pulled.messages[0]!.lease] }), { 'content-type': 'application/json' })
        ).json();
        check('SettleAnswer', acked);
        expect(acked).to.deep.include({ settled: 1 });
      } finally {
        fs.writeFileSync(daemon.routesFile, ROUTES);
        expect((await daemon.reload('test')).outcome).to.equal('ok');
      }
    });

    it('prints the documents from the command line', () => {
      const root = fileURLToPath(new URL('../../../', import.meta.url));
      const openApi = JSON.parse(execFileSync(process.execPath, [path.join(root, 'dist/core/cli.js'), 'openapi', daemon.routesFile], { encoding: 'utf8' })) as {
        paths: Record<string, unknown>;
      };
      expect(Object.keys(openApi.paths)).to.deep.equal(['/orders', '/small-batch/{mode}']);
      const asyncApi = JSON.parse(
        execFileSync(process.execPath, [path.join(root, 'dist/core/cli.js'), 'asyncapi', daemon.routesFile], { encoding: 'utf8' }),
      ) as { asyncapi: string };
      expect(asyncApi.asyncapi).to.equal('3.0.0');
    });
  });
});

describe('HTTP contracts: a batch to a broker that is down', function () {
  this.timeout(10_000);

  it('answers 503 with Retry-After, every entry listed as broker_unavailable', async () => {
    const daemon = await startTestDaemon({
      routes: 'routes:\n  - { name: down, path: /down, broker: down, mode: pubsub, destination: d, batch: true }\n',
      brokers: { down: { plugin: 'memory', options: { unavailable: true } } },
      connectWaitMs: 200,
    });
    try {
      const res = await daemon.post('/down', '{"a":1}\n{"a":2}\n', { 'content-type': 'application/x-ndjson' });
      expect(res.status).to.equal(503);
      expect(res.headers.get('retry-after')).to.match(/^\d+$/);
      const body = (await res.json()) as { accepted: number; failed: number; entries: Array<{ status: number; error: { code: string } }> };
      expect(body).to.include({ accepted: 0, failed: 2 });
      expect(body.entries.map((entry) => [entry.status, entry.error.code])).to.deep.equal([
        [503, 'broker_unavailable'],
        [503, 'broker_unavailable'],
      ]);
      // Not kept by the idempotency store: the same key is tried again, not replayed.
      const headers = { 'content-type': 'application/x-ndjson', 'idempotency-key': 'down-batch' };
      expect((await daemon.post('/down', '{"a":1}\n', headers)).status).to.equal(503);
      const again = await daemon.post('/down', '{"a":1}\n', headers);
      expect(again.status).to.equal(503);
      expect(again.headers.get('idempotent-replayed')).to.equal(null);
    } finally {
      await daemon.shutdown('test done');
    }
  });
});
