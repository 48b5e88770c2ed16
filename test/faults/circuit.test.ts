/**
 * The core's fail-fast circuit, seen from outside: a broker that stops acknowledging for a moment
 * (as a frozen broker or a paused network does) and then works again must get traffic again
 * after the circuit's first cool-down, not after a cool-down that every request still in flight
 * when the circuit opened has doubled once more.
 */
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { sleep } from '../support/net.js';
import { control } from './support/switchable-plugin.js';

const PLUGIN = fileURLToPath(new URL('./support/switchable-plugin.js', import.meta.url));

describe('faults: the circuit after a burst of timeouts', function () {
  this.timeout(30_000);
  let daemon: TestDaemon | undefined;

  before(async () => {
    daemon = await startTestDaemon({
      brokers: { sw: { plugin: PLUGIN, options: {} } },
      routes: 'routes:\n  - name: sw\n    path: /sw\n    broker: sw\n    mode: point-to-point\n    destination: "sw"\n    timeout: 500ms\n',
    });
  });

  after(async () => {
    control.hang = false;
    await daemon?.shutdown('circuit test done');
  });

  it('8 concurrent timeouts, then a healthy broker: 2xx again within 2 s (the first cool-down), not 8 s', async () => {
    const d = daemon!;
    control.hang = true;
    const burst = await Promise.all(Array.from({ length: 8 }, () => d.post('/sw', 'x')));
    expect(burst.map((r) => r.status)).to.deep.equal(Array(8).fill(504));
    control.hang = false;
    const healthyAt = Date.now();
    let recoveredAfter: number | undefined;
    while (Date.now() - healthyAt < 12_000) {
      const res = await d.post('/sw', 'x');
      await res.arrayBuffer();
      if (res.status === 202) {
        recoveredAfter = Date.now() - healthyAt;
        break;
      }
      await sleep(100);
    }
    console.log(`      2xx again ${recoveredAfter ?? 'never (12 s)'} ms after the broker was healthy`);
    expect(recoveredAfter, 'ms until the first 2xx').to.not.equal(undefined);
    expect(recoveredAfter!, 'ms until the first 2xx').to.be.lessThan(2000);
  });
});
