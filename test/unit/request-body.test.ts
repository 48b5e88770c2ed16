/** How a request body becomes one or many messages: CloudEvents modes, NDJSON batches, schemas. */
import { expect } from 'chai';
import { compileBodySchema, type BodySchema } from '../../core/contracts/body-schema.js';
import { HTTP_BINDING, cloudEventHeaders } from '../../core/contracts/cloudevents.js';
import { interpretBody } from '../../core/contracts/request-body.js';
import { NO_CONTRACT, type RouteContract } from '../../core/contracts/route-contract.js';
import { BusgateError } from '../../core/errors.js';
import { checkEntryKeys, deliverBatch } from '../../core/http/batch.js';
import type { OutboundMessage } from '../../core/plugins/contract.js';

const schema = compileBodySchema('inline', { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } }) as BodySchema;
const contract = (over: Partial<RouteContract>): RouteContract => ({ ...NO_CONTRACT, ...over });
const body = (value: unknown): Buffer => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
const EVENT = { specversion: '1.0', id: 'e-1', source: '/orders', type: 'order.created' };

function refusal(fn: () => unknown): BusgateError {
  try {
    fn();
  } catch (error) {
    if (error instanceof BusgateError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('request body interpretation', () => {
  it('passes any bytes through on a plain route', () => {
    const result = interpretBody(NO_CONTRACT, { 'content-type': 'text/plain' }, body('hello'));
    expect(result).to.deep.equal({ kind: 'single', entry: { payload: body('hello'), contentType: 'text/plain', cloudEvent: undefined } });
  });

  it('reads a binary-mode event from ce-* headers (percent-decoded); the body is its data', () => {
    const result = interpretBody(
      NO_CONTRACT,
      {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': 'e-1',
        'ce-source': '/orders',
        'ce-type': 'order.created',
        'ce-subject': 'caf%C3%A9',
        'ce-tenant': 'acme',
      },
      body({ n: 1 }),
    );
    expect(result.kind).to.equal('single');
    const entry = (result as { entry: { cloudEvent: Record<string, string>; contentType: string } }).entry;
    expect(entry.cloudEvent).to.deep.equal({ specversion: '1.0', id: 'e-1', source: '/orders', type: 'order.created', subject: 'café', tenant: 'acme' });
    expect(entry.contentType).to.equal('application/json');
  });

  it('reads a structured-mode event: JSON data, data_base64, integer and boolean extensions', () => {
    const json = interpretBody(
      NO_CONTRACT,
      { 'content-type': 'application/cloudevents+json; charset=utf-8' },
      body({ ...EVENT, data: { n: 1 }, retries: 3, urgent: true }),
    );
    expect(json).to.deep.equal({
      kind: 'single',
      entry: { payload: body({ n: 1 }), contentType: 'application/json', cloudEvent: { ...EVENT, retries: '3', urgent: 'true' } },
    });
    const binary = interpretBody(
      NO_CONTRACT,
      { 'content-type': 'application/cloudevents+json' },
      body({ ...EVENT, datacontenttype: 'application/octet-stream', data_base64: Buffer.from([1, 2, 255]).toString('base64') }),
    );
    expect((binary as { entry: { payload: Buffer } }).entry.payload).to.deep.equal(Buffer.from([1, 2, 255]));
  });

  it('refuses an invalid event with 400 invalid_cloudevent and the reason', () => {
    for (const [missing, reason] of [
      ['id', 'no id'],
      ['source', 'no source'],
      ['type', 'no type'],
      ['specversion', 'no specversion'],
    ] as const) {
      const event: Record<string, string> = { ...EVENT };
      delete event[missing];
      const error = refusal(() => interpretBody(NO_CONTRACT, { 'content-type': 'application/cloudevents+json' }, body(event)));
      expect(error.code).to.equal('invalid_cloudevent');
      expect(error.status).to.equal(400);
      expect(error.message).to.include(reason);
    }
    expect(
      refusal(() => interpretBody(NO_CONTRACT, { 'content-type': 'application/cloudevents+json' }, body({ ...EVENT, specversion: '0.3' }))).message,
    ).to.include('is not 1.0');
    expect(refusal(() => interpretBody(NO_CONTRACT, { 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-source': 's' }, body(''))).message).to.include('no type');
    expect(
      refusal(() => interpretBody(NO_CONTRACT, { 'content-type': 'application/cloudevents+json' }, body({ ...EVENT, time: 'yesterday' }))).message,
    ).to.include('RFC 3339');
  });

  it('cloudevents: required refuses a plain body; off passes an event through as bytes', () => {
    expect(refusal(() => interpretBody(contract({ cloudEvents: 'required' }), { 'content-type': 'application/json' }, body({}))).code).to.equal(
      'invalid_cloudevent',
    );
    const off = interpretBody(contract({ cloudEvents: 'off' }), { 'content-type': 'application/cloudevents+json', 'ce-specversion': '1.0' }, body(EVENT));
    expect((off as { entry: { cloudEvent: unknown; contentType: string } }).entry).to.deep.include({
      cloudEvent: undefined,
      contentType: 'application/cloudevents+json',
    });
  });

  it('applies the schema to the event data', () => {
    const error = refusal(() =>
      interpretBody(contract({ bodySchema: schema }), { 'content-type': 'application/cloudevents+json' }, body({ ...EVENT, data: { n: 'x' } })),
    );
    expect(error.code).to.equal('invalid_body');
    expect(error.details).to.deep.equal([{ pointer: '/n', problem: 'must be integer' }]);
  });

  it('splits NDJSON on a batch route, bounded by maxEntries, and refuses the whole batch when one line is bad', () => {
    const batch = contract({ batch: { maxEntries: 3 }, bodySchema: schema });
    const result = interpretBody(batch, { 'content-type': 'application/x-ndjson' }, body('{"n":1}\r\n{"n":2}\n\n{"n":3}\n'));
    expect(result.kind).to.equal('batch');
    expect((result as { entries: ReadonlyArray<{ payload: Buffer }> }).entries.map((e) => e.payload.toString())).to.deep.equal([
      '{"n":1}',
      '{"n":2}',
      '{"n":3}',
    ]);
    expect(refusal(() => interpretBody(batch, { 'content-type': 'application/x-ndjson' }, body('{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}'))).code).to.equal(
      'too_many_entries',
    );
    const bad = refusal(() => interpretBody(batch, { 'content-type': 'application/x-ndjson' }, body('{"n":1}\n{"n":"two"}\nnot json')));
    expect(bad.code).to.equal('invalid_body');
    expect(bad.message).to.include('2 of 3 entries');
    expect(bad.details).to.deep.equal([
      { pointer: '/1/n', problem: 'must be integer' },
      { pointer: '/2', problem: 'is not valid JSON' },
    ]);
    // NDJSON on a route without batch is one message, as sent.
    expect(interpretBody(NO_CONTRACT, { 'content-type': 'application/x-ndjson' }, body('{"n":1}\n{"n":2}')).kind).to.equal('single');
  });

  it('reads the envelope form: body or bodyBase64, content type, key, forwarded headers only', () => {
    const batch = contract({ batch: { maxEntries: 5 } });
    const type = { 'content-type': 'application/vnd.busgate.batch+json' };
    const result = interpretBody(
      batch,
      type,
      body([
        { body: { n: 1 }, key: 'k', headers: { 'X-Tenant': 'acme' } },
        { bodyBase64: 'AQI=', contentType: 'application/x-bin' },
      ]),
      ['x-tenant'],
    );
    expect(result).to.deep.equal({
      kind: 'batch',
      entries: [
        { payload: body({ n: 1 }), contentType: 'application/json', cloudEvent: undefined, key: 'k', headers: { 'x-tenant': 'acme' } },
        { payload: Buffer.from([1, 2]), contentType: 'application/x-bin', cloudEvent: undefined },
      ],
    });
    expect(refusal(() => interpretBody(batch, type, body([{ body: 1, headers: { 'nats-msg-id': 'x' } }]), ['x-tenant'])).details).to.deep.equal([
      { pointer: '/0/headers', problem: '"nats-msg-id" is not a header this route forwards (x-tenant)' },
    ]);
    expect(refusal(() => interpretBody(batch, type, body([{ body: 1, bodyBase64: 'AA==' }]))).code).to.equal('invalid_body');
    expect(refusal(() => interpretBody(batch, type, body([{ body: 1, colour: 'red' }]))).details).to.deep.equal([
      { pointer: '/0/colour', problem: 'is not allowed (body, bodyBase64, contentType, key, headers)' },
    ]);
    expect(
      refusal(() => interpretBody(contract({ batch: { maxEntries: 5 }, bodySchema: schema }), type, body([{ body: { n: 1 } }, { body: { n: 'x' } }]))).details,
    ).to.deep.equal([{ pointer: '/1/body/n', problem: 'must be integer' }]);
  });

  it('reads a CloudEvents batch only on a batch route', () => {
    const events = body([
      { ...EVENT, id: 'a' },
      { ...EVENT, id: 'b', data: 'text', datacontenttype: 'text/plain' },
    ]);
    const result = interpretBody(contract({ batch: { maxEntries: 10 } }), { 'content-type': 'application/cloudevents-batch+json' }, events);
    expect(
      (result as unknown as { entries: Array<{ payload: Buffer; cloudEvent: { id: string } }> }).entries.map((e) => [e.cloudEvent.id, e.payload.toString()]),
    ).to.deep.equal([
      ['a', ''],
      ['b', 'text'],
    ]);
    expect(refusal(() => interpretBody(NO_CONTRACT, { 'content-type': 'application/cloudevents-batch+json' }, events)).code).to.equal('unsupported_media_type');
    expect(
      refusal(() =>
        interpretBody(contract({ batch: { maxEntries: 10 } }), { 'content-type': 'application/cloudevents-batch+json' }, body([EVENT, { ...EVENT, id: '' }])),
      ).details,
    ).to.deep.equal([{ pointer: '/1/id', problem: 'the event has no id' }]);
  });

  it('refuses a compressed body where the body must be read', () => {
    expect(refusal(() => interpretBody(contract({ bodySchema: schema }), { 'content-encoding': 'gzip' }, body('x'))).code).to.equal('unsupported_media_type');
    expect(interpretBody(NO_CONTRACT, { 'content-encoding': 'gzip' }, body('x')).kind).to.equal('single');
  });

  it('writes attributes in a binding form, percent-encoding where the binding says so', () => {
    expect(cloudEventHeaders({ id: 'a b', subject: 'café' }, HTTP_BINDING)).to.deep.equal({ 'ce-id': 'a%20b', 'ce-subject': 'caf%C3%A9' });
    expect(cloudEventHeaders({ id: 'a b' }, { attributePrefix: 'ce_' })).to.deep.equal({ ce_id: 'a b' });
  });
});

describe('batch entry keys', () => {
  it('refuses the whole batch when one entry key breaks the broker rule', () => {
    const rule = (value: string) => !value.includes('#');
    expect(() => checkEntryKeys([{ key: 'a' }, {}], rule)).to.not.throw();
    expect(refusal(() => checkEntryKeys([{ key: 'a' }, { key: 'b#' }], rule))).to.include({ code: 'invalid_token', status: 400 });
  });
});

describe('batch answers', () => {
  const messages = ['a', 'b', 'c'].map((id): OutboundMessage => ({ id, payload: Buffer.alloc(0), headers: {} }));
  const answer = async (fail: readonly string[]) => {
    const stored = await deliverBatch(
      messages,
      async (m) => {
        if (fail.includes(m.id)) throw new BusgateError('broker_unavailable', 'down', { retryAfterSeconds: 2 });
        return { id: m.id };
      },
      'tp',
    );
    return {
      status: stored.status,
      retryAfter: stored.retryAfterSeconds,
      body: JSON.parse(stored.body.toString()) as { accepted: number; failed: number; entries: Array<{ status: number }> },
    };
  };

  it('202 when every entry was accepted, 207 when some, the failure status when none; entries in order', async () => {
    expect((await answer([])).status).to.equal(202);
    const some = await answer(['b']);
    expect(some.status).to.equal(207);
    expect(some.body).to.deep.equal({
      accepted: 2,
      failed: 1,
      entries: [
        { status: 202, receipt: { id: 'a' } },
        { status: 503, id: 'b', error: { code: 'broker_unavailable', message: 'down' } },
        { status: 202, receipt: { id: 'c' } },
      ],
    });
    expect(some.retryAfter, 'Retry-After only when nothing was accepted').to.equal(undefined);
    expect(await answer(['a', 'b', 'c'])).to.deep.include({ status: 503, retryAfter: 2 });
  });
});
