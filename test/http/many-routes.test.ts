/**
 * A 10,000-route file: every route answers on its own path (its receipt names its own
 * destination), a path no route has gets the JSON 404, and a known path with the wrong method the
 * 405. Correctness only; how fast the lookup is lives in `npm run bench -- --only=routes`.
 */
import { expect } from 'chai';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';

const COUNT = 10_000;

/** Half the routes are literal paths, half end in a parameter, interleaved so prefixes overlap. */
function routeFor(i: number): { path: string; probe: string; destination: string } {
  return i % 2 === 0
    ? { path: `/many/${i}/go`, probe: `/many/${i}/go`, destination: `many.${i}` }
    : { path: `/many/${i}/:item`, probe: `/many/${i}/thing-${i}`, destination: `many.${i}.thing-${i}` };
}

describe('a routes file with 10,000 routes', function () {
  this.timeout(180_000);
  let daemon: TestDaemon;

  before(async () => {
    const lines = ['routes:'];
    for (let i = 0; i < COUNT; i++) {
      const { path } = routeFor(i);
      const destination = i % 2 === 0 ? `many.${i}` : `many.${i}.{item}`;
      lines.push(`  - name: r${i}`, `    path: ${path}`, '    broker: memory', '    mode: pubsub', `    destination: "${destination}"`);
    }
    daemon = await startTestDaemon({ brokers: { memory: { plugin: 'memory', options: {} } }, routes: `${lines.join('\n')}\n` });
  });

  after(async () => {
    await daemon?.shutdown('done');
  });

  it("sends every route's own path to that route", async () => {
    const wrong: string[] = [];
    let next = 0;
    // A few requests in flight at a time: enough to be quick, few enough not to load the machine.
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < COUNT) {
          const route = routeFor(next++);
          const response = await daemon.post(route.probe, '{}');
          const receipt = (await response.json()) as { destination?: string };
          if (response.status !== 202 || receipt.destination !== route.destination)
            wrong.push(`${route.probe}: ${response.status} ${JSON.stringify(receipt).slice(0, 120)}`);
        }
      }),
    );
    expect(wrong.slice(0, 5), `${wrong.length} of ${COUNT} routes answered wrongly`).to.deep.equal([]);
  });

  it('answers a path no route has with the JSON 404, and a wrong method with 405', async () => {
    for (const path of ['/many/10000/go', '/many/0/go/extra', '/nowhere', '/many']) {
      const response = await daemon.post(path, '{}');
      expect(response.status, path).to.equal(404);
      expect(response.headers.get('content-type'), path).to.match(/^application\/json/);
      expect(((await response.json()) as { error: { code: string } }).error.code, path).to.equal('not_found');
    }
    const response = await fetch(`${daemon.url}/many/9999/x`, { method: 'PUT', body: '{}' });
    expect(response.status).to.equal(405);
    expect(response.headers.get('allow')).to.equal('POST');
  });
});
