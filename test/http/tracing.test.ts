/** W3C trace context into the message and back, and optional OTLP span export. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { InboundMessage } from '../../core/plugins/contract.js';
import { parseTraceparent } from '../../core/observability/tracing.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { sleep } from '../support/net.js';

const ROUTES = `routes:
  - name: events
    path: /events
    broker: memory
    mode: pubsub
    destination: events
  - name: rpc
    path: /rpc
    broker: memory
    mode: request-reply
    destination: rpc
`;
const INCOMING = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

async function capture(daemon: TestDaemon, run: () => Promise<Response>): Promise<{ message: InboundMessage; response: Response }> {
  const received: InboundMessage[] = [];
  const sub = await daemon.brokers.get('memory')!.subscribe('events', { mode: 'pubsub' }, (m) => {
    received.push(m);
    return Promise.resolve();
  });
  const response = await run();
  await sleep(50);
  await sub.close();
  return { message: received[0]!, response };
}

describe('trace context', function () {
  this.timeout(15_000);
  let daemon: TestDaemon;
  before(async () => {
    daemon = await startTestDaemon({ routes: ROUTES, brokers: { memory: { plugin: 'memory', options: {} } } });
  });
  after(async () => daemon?.shutdown('done'));

  it('continues an incoming traceparent into the message, with a new span id, and returns it', async () => {
    const { message, response } = await capture(daemon, () => daemon.post('/events', 'x', { traceparent: INCOMING, tracestate: 'vendor=1' }));
    const sent = parseTraceparent(message.headers.traceparent)!;
    expect(sent.traceId).to.equal('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(sent.spanId).to.not.equal('00f067aa0ba902b7');
    expect(sent.flags).to.equal(1);
    expect(message.headers.tracestate).to.equal('vendor=1');
    expect(response.headers.get('traceparent')).to.equal(message.headers.traceparent);
  });

  it('starts a new trace when there is none or it is malformed', async () => {
    for (const traceparent of [undefined, 'garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01']) {
      const headers: Record<string, string> = traceparent === undefined ? {} : { traceparent };
      const { message } = await capture(daemon, () => daemon.post('/events', 'x', headers));
      const sent = parseTraceparent(message.headers.traceparent);
      expect(sent, String(traceparent)).to.not.equal(undefined);
      expect(sent!.traceId).to.not.equal('4bf92f3577b34da6a3ce929d0e0e4736');
    }
  });

  it("returns the responder's traceparent on a reply", async () => {
    const replyTrace = '00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01';
    let seen = '';
    const stop = await daemon.brokers.get('memory')!.respond('rpc', (m) => {
      seen = m.headers.traceparent ?? '';
      return Promise.resolve({ payload: Buffer.from('ok'), headers: { traceparent: replyTrace } });
    });
    const response = await daemon.post('/rpc', 'x', { traceparent: INCOMING });
    await stop.close();
    expect(parseTraceparent(seen)!.traceId).to.equal('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(response.headers.get('traceparent')).to.equal(replyTrace);
  });
});

describe('OTLP span export', function () {
  this.timeout(15_000);

  it('exports a server span and a producer span of the same trace when an endpoint is set', async () => {
    const bodies: string[] = [];
    const collector = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        if (req.url === '/v1/traces') bodies.push(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    const daemon = await startTestDaemon({
      routes: ROUTES,
      brokers: { memory: { plugin: 'memory', options: {} } },
      overrides: { tracing: { endpoint, serviceName: 'busgate-under-test' } },
    });
    try {
      expect((await daemon.post('/events', 'x', { traceparent: INCOMING })).status).to.equal(202);
    } finally {
      await daemon.shutdown('flush spans');
      collector.close();
    }
    const spans = bodies.flatMap((body) => {
      const parsed = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: { traceId: string; name: string; kind: number }[] }[] }[] };
      return parsed.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    });
    expect(spans.map((s) => s.name).sort()).to.deep.equal(['POST events', 'pubsub events']);
    expect(new Set(spans.map((s) => s.traceId.toLowerCase()))).to.deep.equal(new Set(['4bf92f3577b34da6a3ce929d0e0e4736']));
    expect(bodies.join()).to.include('busgate-under-test');
  });
});
