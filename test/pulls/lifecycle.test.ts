/**
 * The pull API's life cycle on the memory broker: an idle consumer closes and hands back what it
 * had fetched, a reload that removes a pull path hands back its leased messages, shutdown answers
 * waiting pulls at once. "Subscribed" is read from the busgate_subscriptions gauge.
 */
import { expect } from 'chai';
import { eventuallyAsync, startTestDaemon, type TestDaemon } from '../support/daemon.js';

const ROUTES = `routes:\n  - { path: /jobs, broker: memory, mode: point-to-point, destination: jobs }\n`;
const PULLS = `pulls:\n  - { path: /pull/jobs, broker: memory, source: jobs, lease: 1m }\n`;

interface Pulled {
  messages: { id: string; lease: string; body: string }[];
}

describe('pull API life cycle (memory)', function () {
  this.timeout(20_000);
  let daemon: TestDaemon;

  const consumers = async (): Promise<number> =>
    (await daemon.metrics.subscriptions.get()).values.filter(({ labels }) => labels.broker === 'memory').reduce((sum, { value }) => sum + value, 0);
  const pull = async (query: string): Promise<Pulled['messages']> => {
    const res = await daemon.post(`/pull/jobs?${query}`);
    expect(res.status, await res.clone().text()).to.equal(200);
    return ((await res.json()) as Pulled).messages;
  };
  const enqueue = async (body: string): Promise<string> => {
    const res = await daemon.post('/jobs', body);
    expect(res.status).to.equal(202);
    return ((await res.json()) as { id: string }).id;
  };

  beforeEach(async () => {
    daemon = await startTestDaemon({ brokers: { memory: { plugin: 'memory', options: {} } }, routes: ROUTES + PULLS, pullLimits: { idleCloseMs: 300 } });
  });
  afterEach(() => daemon.shutdown('test done'));

  it('closes an idle consumer without leases, handing back what it had fetched; the next pull starts it again', async () => {
    const ids = [await enqueue('a'), await enqueue('b')];
    const [first] = await pull('max=1&wait=1s');
    expect(ids).to.include(first!.id);
    await eventuallyAsync(() => Promise.resolve(daemon.pulls.held('/pull/jobs') === 2), 5000, 'the second message fetched into the buffer');
    const ack = await daemon.post('/pull/jobs/ack', JSON.stringify({ leases: [first!.lease] }));
    expect(((await ack.json()) as { settled: number }).settled).to.equal(1);
    // The pull path's consumer and the instance's control responder: only the first closes.
    const before = await consumers();
    await eventuallyAsync(async () => (await consumers()) === before - 1, 5000, 'the idle consumer closed');
    expect(daemon.pulls.held('/pull/jobs')).to.equal(0);
    const [second] = await pull('max=5&wait=2s');
    expect(second!.id).to.equal(ids.find((id) => id !== first!.id));
  });

  it('keeps a consumer that holds a lease, however idle', async () => {
    await enqueue('held');
    const [leased] = await pull('wait=1s');
    expect(leased).to.not.equal(undefined);
    const before = await consumers();
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(await consumers()).to.equal(before);
    expect(daemon.pulls.held('/pull/jobs')).to.equal(1);
  });

  it('a reload that removes the pull path hands its leased messages back; the path answers 404 and its leases are unknown', async () => {
    const id = await enqueue('leased when the path went');
    const [leased] = await pull('wait=1s');
    expect(leased!.id).to.equal(id);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(daemon.routesFile, ROUTES);
    expect((await daemon.reload('pull path removed')).outcome).to.equal('ok');
    expect((await daemon.post('/pull/jobs')).status).to.equal(404);
    writeFileSync(daemon.routesFile, ROUTES + PULLS);
    expect((await daemon.reload('pull path back')).outcome).to.equal('ok');
    const ack = await daemon.post('/pull/jobs/ack', JSON.stringify({ leases: [leased!.lease] }));
    expect(((await ack.json()) as { results: { outcome: string }[] }).results[0]!.outcome).to.equal('unknown');
    const [again] = await pull('wait=2s');
    expect(again!.id).to.equal(id);
  });

  it('shutdown answers a waiting pull at once instead of holding up the drain', async () => {
    const waiting = daemon.post('/pull/jobs?wait=30s');
    await eventuallyAsync(async () => (await consumers()) === 2, 5000, 'the pull waits');
    await daemon.shutdown('test');
    // Held up, it would have been cut off with the connection at the drain deadline instead.
    const res = await waiting;
    expect(res.status).to.equal(200);
    expect(((await res.json()) as Pulled).messages).to.deep.equal([]);
  });
});
