/**
 * A broker that is down when the daemon starts must not stop it: the other brokers' routes work,
 * the missing broker's routes answer 503, /ready names it, and it connects in the background
 * as soon as the broker appears. Uses a private nats-server on a free port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { expect } from 'chai';
import { freePort, sleep } from '../support/net.js';
import { brokersRequired } from '../support/require-broker.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';

const NATS_SERVER = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((file) => fs.existsSync(file));

describe('a broker down at start-up', function () {
  this.timeout(30_000);
  let daemon: TestDaemon;
  let server: ChildProcess | undefined;
  let port: number;

  before(async function () {
    if (!NATS_SERVER) {
      if (brokersRequired()) throw new Error('nats-server is not installed; CI requires it');
      this.skip();
    }
    port = await freePort();
    daemon = await startTestDaemon({
      brokers: { memory: { plugin: 'memory', options: {} }, nats: { plugin: 'nats', options: { url: `nats://127.0.0.1:${port}` } } },
      routes:
        'routes:\n  - path: /mem\n    broker: memory\n    mode: pubsub\n    destination: mem\n  - path: /nats\n    broker: nats\n    mode: pubsub\n    destination: late.subject\n',
      connectWaitMs: 1500,
    });
  });

  after(async () => {
    await daemon?.shutdown('done');
    server?.kill('SIGKILL');
  });

  it('serves the other brokers, answers 503 for the missing one, and /ready names it', async () => {
    expect((await daemon.post('/mem', 'x')).status).to.equal(202);
    const down = await daemon.post('/nats', 'x');
    expect(down.status).to.equal(503);
    expect(((await down.json()) as { error: { code: string } }).error.code).to.equal('broker_unavailable');
    const ready = await fetch(`${daemon.url}/ready`);
    expect(ready.status).to.equal(503);
    const body = (await ready.json()) as { status: string; brokers: Record<string, { up: boolean; detail?: string }> };
    expect(body.status).to.equal('degraded');
    expect(body.brokers.memory!.up).to.equal(true);
    expect(body.brokers.nats!.up).to.equal(false);
  });

  it('connects in the background once the broker is there, without a restart', async () => {
    server = spawn(NATS_SERVER!, ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    const deadline = Date.now() + 20_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      await sleep(100);
      status = (await fetch(`${daemon.url}/ready`)).status;
    }
    expect(status, '/ready after the broker came up').to.equal(200);
    expect((await daemon.post('/nats', 'x')).status).to.equal(202);
  });
});
