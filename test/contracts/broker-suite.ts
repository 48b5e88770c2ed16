/**
 * CloudEvents and batches end to end on a real broker: events go in over HTTP (binary, structured
 * and batch mode) and a consumer using the broker's own client reads them back with the
 * `cloudevents` SDK, which must see the same event. NDJSON batches must arrive whole.
 */
import { expect } from 'chai';
import { HTTP, type CloudEvent } from 'cloudevents';
import { scopedMessageId } from '../../core/dedupe-id.js';
import type { Mode } from '../../core/plugins/contract.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';

/** A message as the broker's own client delivered it. */
export interface RawRecord {
  readonly payload: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly contentType?: string | undefined;
  readonly key?: string | undefined;
}

export interface RawReader {
  /** The next `count` records (waiting up to timeoutMs). */
  take(count: number, timeoutMs: number): Promise<RawRecord[]>;
  close(): Promise<void>;
}

export interface ContractTarget {
  readonly name: string;
  readonly plugin: string;
  options(): Record<string, unknown>;
  require?(context: Mocha.Context): Promise<void>;
  /** The mode the routes use (one whose messages a consumer can read afterwards). */
  readonly mode: Mode;
  destination(): string;
  readonly routeOptions?: string;
  /** Starts reading a destination with the broker's own client (before anything is sent). */
  open(destination: string, daemon: TestDaemon): Promise<RawReader>;
  /** The broker's CloudEvents binding, through the SDK where it has one. */
  toEvent(record: RawRecord): CloudEvent<unknown>;
  cleanup?(destinations: readonly string[]): Promise<void>;
  readonly readTimeoutMs?: number;
  /** The broker's own client hands over a message key (Kafka), so per-entry keys can be checked. */
  readonly carriesKey?: boolean;
}

/** A queue of what a subscription delivered, for RawReader.take. */
export class Inbox {
  private readonly records: RawRecord[] = [];
  push(record: RawRecord): void {
    this.records.push(record);
  }
  async take(count: number, timeoutMs: number): Promise<RawRecord[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.records.length < count) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms with ${this.records.length} of ${count} records`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.records.splice(0, count);
  }
}

/** Bindings whose binary mode is HTTP's (`ce-` headers, content-type): read with the SDK's HTTP binding. */
export function httpStyleEvent(record: RawRecord): CloudEvent<unknown> {
  const event = HTTP.toEvent({ headers: { ...record.headers, 'content-type': record.contentType ?? '' }, body: record.payload.toString('utf8') });
  if (Array.isArray(event)) throw new Error('expected one event');
  return event as CloudEvent<unknown>;
}

const EVENT = {
  specversion: '1.0',
  source: '/busgate/tests',
  type: 'com.example.order.created',
  subject: 'order-42',
  time: '2026-11-30T12:34:56.789Z',
  tenant: 'acme',
};

export function runContractConformance(target: ContractTarget): void {
  const timeout = target.readTimeoutMs ?? 10_000;

  describe(`contracts on ${target.name}: CloudEvents and batches`, function () {
    this.timeout(Math.max(30_000, timeout * 3));
    let daemon: TestDaemon;
    const single = target.destination();
    const batch = target.destination();
    let singleReader: RawReader;
    let batchReader: RawReader;

    before(async function () {
      if (target.require) await target.require(this);
      const options = target.routeOptions ? `\n    options: ${target.routeOptions}` : '';
      daemon = await startTestDaemon({
        brokers: { [target.name]: { plugin: target.plugin, options: target.options() } },
        routes:
          'routes:\n' +
          `  - name: events\n    path: /events\n    broker: ${target.name}\n    mode: ${target.mode}\n    destination: "${single}"${options}\n` +
          `  - name: batch\n    path: /batch\n    broker: ${target.name}\n    mode: ${target.mode}\n    destination: "${batch}"\n    batch: { maxEntries: 100 }\n    headers: [x-tenant]${options}\n`,
      });
      singleReader = await target.open(single, daemon);
      batchReader = await target.open(batch, daemon);
    });

    after(async () => {
      await singleReader?.close();
      await batchReader?.close();
      await daemon?.shutdown('test done');
      await target.cleanup?.([single, batch]);
    });

    const expectSameEvent = (event: CloudEvent<unknown>, id: string, data: unknown): void => {
      expect(event.validate()).to.equal(true);
      expect({
        specversion: event.specversion,
        id: event.id,
        source: event.source,
        type: event.type,
        subject: event.subject,
        time: event.time,
        tenant: event.tenant,
      }).to.deep.equal({ ...EVENT, id });
      expect(event.datacontenttype).to.equal('application/json');
      expect(typeof event.data === 'string' || Buffer.isBuffer(event.data) ? JSON.parse(String(event.data)) : event.data).to.deep.equal(data);
    };

    it('binary mode: ce-* headers in, the broker binding out, the same event for the SDK; an invalid event publishes nothing', async () => {
      const invalid = await daemon.post('/events', '{"n":0}', {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-source': '/x',
        'ce-type': 't',
      });
      expect(invalid.status).to.equal(400);
      expect(((await invalid.json()) as { error: { code: string; message: string } }).error).to.deep.include({
        code: 'invalid_cloudevent',
        message: 'the event has no id',
      });
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      for (const [name, value] of Object.entries({ ...EVENT, id: 'binary-1' })) headers[`ce-${name}`] = value;
      const res = await daemon.post('/events', JSON.stringify({ n: 1 }), headers);
      expect(res.status, await res.clone().text()).to.equal(202);
      const [record] = await singleReader.take(1, timeout);
      expectSameEvent(target.toEvent(record!), 'binary-1', { n: 1 });
    });

    it('structured mode: application/cloudevents+json in, binary mode on the broker, the same event for the SDK', async () => {
      const res = await daemon.post('/events', JSON.stringify({ ...EVENT, id: 'structured-1', datacontenttype: 'application/json', data: { n: 2 } }), {
        'content-type': 'application/cloudevents+json',
      });
      expect(res.status).to.equal(202);
      const [record] = await singleReader.take(1, timeout);
      expectSameEvent(target.toEvent(record!), 'structured-1', { n: 2 });
    });

    it('batch mode: a CloudEvents batch becomes one message per event, with a receipt each', async () => {
      const events = [1, 2, 3].map((n) => ({ ...EVENT, id: `batched-${n}`, data: { n } }));
      const res = await daemon.post('/batch', JSON.stringify(events), { 'content-type': 'application/cloudevents-batch+json' });
      expect(res.status).to.equal(202);
      const answer = (await res.json()) as { accepted: number; entries: Array<{ status: number; receipt: { broker: string } }> };
      expect(answer.accepted).to.equal(3);
      expect(answer.entries.map((e) => [e.status, e.receipt.broker])).to.deep.equal([
        [202, target.name],
        [202, target.name],
        [202, target.name],
      ]);
      const read = (await batchReader.take(3, timeout)).map((record) => target.toEvent(record));
      expect(read.map((event) => event.id)).to.have.members(['batched-1', 'batched-2', 'batched-3']);
      for (const event of read) expectSameEvent(event, event.id, { n: Number(event.id.slice(-1)) });
    });

    it('envelope batch: each entry its own body, content type, forwarded header and key', async () => {
      const entries = [
        { body: { n: 1 }, key: 'k-1', headers: { 'x-tenant': 'acme' } },
        { bodyBase64: Buffer.from('raw bytes').toString('base64'), contentType: 'text/plain', key: 'k-2', headers: { 'x-tenant': 'globex' } },
      ];
      const refused = await daemon.post('/batch', JSON.stringify([{ body: 1, headers: { 'nats-msg-id': 'x' } }]), {
        'content-type': 'application/vnd.busgate.batch+json',
      });
      expect(refused.status).to.equal(422);
      const res = await daemon.post('/batch', JSON.stringify(entries), { 'content-type': 'application/vnd.busgate.batch+json' });
      expect(res.status, await res.clone().text()).to.equal(202);
      const read = await batchReader.take(2, timeout);
      const byTenant = new Map(read.map((record) => [record.headers['x-tenant'], record]));
      expect(byTenant.get('acme')).to.deep.include({ contentType: 'application/json' });
      expect(byTenant.get('acme')!.payload.toString()).to.equal('{"n":1}');
      expect(byTenant.get('globex')).to.deep.include({ contentType: 'text/plain' });
      expect(byTenant.get('globex')!.payload.toString()).to.equal('raw bytes');
      if (target.carriesKey) expect([byTenant.get('acme')!.key, byTenant.get('globex')!.key]).to.deep.equal(['k-1', 'k-2']);
    });

    it('NDJSON batch: every line is one message, and the answer lists the receipts in request order', async () => {
      const lines = Array.from({ length: 25 }, (_, n) => JSON.stringify({ line: n }));
      const key = `nd-${Date.now()}`;
      const res = await daemon.post('/batch', `${lines.join('\n')}\n`, { 'content-type': 'application/x-ndjson', 'idempotency-key': key });
      expect(res.status).to.equal(202);
      const answer = (await res.json()) as { accepted: number; failed: number; entries: Array<{ receipt: { id: string } }> };
      expect(answer).to.include({ accepted: 25, failed: 0 });
      // Entry n's id is derived from `KEY.n` (scoped to the client, '' without API keys, and the
      // route), so the receipts' order shows the request's.
      const expectedIds = lines.map((_, n) => scopedMessageId(['ingress', '', 'batch', `${key}.${n}`]));
      expect(answer.entries.map((entry) => entry.receipt.id)).to.deep.equal(expectedIds);
      const read = await batchReader.take(25, timeout);
      expect(read.map((record) => record.payload.toString())).to.have.members(lines);
      expect(read.every((record) => record.contentType === 'application/json')).to.equal(true);
    });
  });
}
