/** Safe reload of routes.yaml: validate and connect first, swap atomically, keep old on error. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { sleep } from '../support/net.js';

const route = (name: string, broker = 'memory', mode = 'pubsub', extra = ''): string =>
  `  - name: ${name}\n    path: /${name}\n    broker: ${broker}\n    mode: ${mode}\n    destination: ${name}${extra}\n`;

describe('routes reload', function () {
  this.timeout(20_000);
  let daemon: TestDaemon;

  beforeEach(async () => {
    daemon = await startTestDaemon({
      routes: 'routes:\n' + route('first') + route('slow', 'memory', 'request-reply', '\n    timeout: 3s'),
      brokers: { memory: { plugin: 'memory', options: {} }, second: { plugin: 'memory', options: {} } },
    });
  });
  afterEach(async () => daemon?.shutdown('done'));

  it('swaps in a valid file: new routes answer, removed ones are 404', async () => {
    fs.writeFileSync(daemon.routesFile, 'routes:\n' + route('added'));
    const result = await daemon.reload('test');
    expect(result).to.deep.equal({ outcome: 'ok', problems: [], routes: 1 });
    expect((await daemon.post('/added', 'x')).status).to.equal(202);
    expect((await daemon.post('/first', 'x')).status).to.equal(404);
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    expect(metrics).to.include('busgate_routes_reloads_total{outcome="ok"} 1');
    expect(metrics).to.include('busgate_routes_loaded 1');
  });

  it('keeps the old routes when the new file is invalid, and reports line and column', async () => {
    fs.writeFileSync(daemon.routesFile, 'routes:\n' + route('added') + '    colour: red\n');
    const result = await daemon.reload('test');
    expect(result.outcome).to.equal('invalid');
    expect(result.problems).to.have.lengthOf(1);
    expect(result.problems[0]).to.match(/routes\.yaml:7:5 unknown_key unknown key "colour"/);
    expect((await daemon.post('/first', 'x')).status).to.equal(202);
    expect((await daemon.post('/added', 'x')).status).to.equal(404);
    expect(await (await fetch(`${daemon.url}/metrics`)).text()).to.include('busgate_routes_reloads_total{outcome="invalid"} 1');
  });

  it('does not disturb requests in flight', async () => {
    const stop = await daemon.brokers.get('memory')!.respond('slow', () => sleep(400).then(() => ({ payload: Buffer.from('done'), headers: {} })));
    const inFlight = daemon.post('/slow', 'x');
    await sleep(100);
    fs.writeFileSync(daemon.routesFile, 'routes:\n' + route('added'));
    expect((await daemon.reload('test')).outcome).to.equal('ok');
    const answer = await inFlight;
    expect(answer.status).to.equal(200);
    expect(await answer.text()).to.equal('done');
    await stop.close();
  });

  it('connects a broker the new routes use before swapping, and closes one no longer used', async () => {
    expect([...daemon.brokers.keys()]).to.deep.equal(['memory']);
    fs.writeFileSync(daemon.routesFile, 'routes:\n' + route('on-second', 'second'));
    expect((await daemon.reload('test')).outcome).to.equal('ok');
    expect((await daemon.post('/on-second', 'x')).status).to.equal(202);
    await sleep(100);
    expect([...daemon.brokers.keys()]).to.deep.equal(['second']);
    const ready = (await (await fetch(`${daemon.url}/ready`)).json()) as { brokers: Record<string, unknown> };
    expect(Object.keys(ready.brokers)).to.deep.equal(['second']);
  });
});

describe('routes reload from the command line', function () {
  this.timeout(70_000);
  const root = fileURLToPath(new URL('../../../', import.meta.url));

  /**
   * A Kubernetes ConfigMap volume: the kubelet writes a new timestamped folder, points the
   * `..data_tmp` link at it and renames that over `..data`; routes.yaml is a link through `..data`,
   * so the file's own name never shows up in the folder's change events.
   */
  const configMap = {
    lay(dir: string, content: string): string {
      fs.mkdirSync(path.join(dir, '..2026_01'));
      fs.writeFileSync(path.join(dir, '..2026_01', 'routes.yaml'), content);
      fs.symlinkSync('..2026_01', path.join(dir, '..data'));
      fs.symlinkSync('..data/routes.yaml', path.join(dir, 'routes.yaml'));
      return path.join(dir, 'routes.yaml');
    },
    update(dir: string, content: string): void {
      fs.mkdirSync(path.join(dir, '..2026_02'));
      fs.writeFileSync(path.join(dir, '..2026_02', 'routes.yaml'), content);
      fs.symlinkSync('..2026_02', path.join(dir, '..data_tmp'));
      fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      fs.rmSync(path.join(dir, '..2026_01'), { recursive: true });
    },
  };

  for (const trigger of ['SIGHUP', 'file watch', 'ConfigMap update'] as const) {
    it(`reloads on ${trigger}`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-reload-'));
      let file = path.join(dir, 'routes.yaml');
      if (trigger === 'ConfigMap update') file = configMap.lay(dir, 'routes:\n' + route('before'));
      else fs.writeFileSync(file, 'routes:\n' + route('before'));
      const env = { ...process.env, LOG_FORMAT: 'json', ROUTES_FILE: file, ROUTES_WATCH: trigger === 'SIGHUP' ? 'false' : 'true' };
      const child = spawn(process.execPath, [path.join(root, 'dist/core/cli.js'), 'start', '--port', '0', '--host', '127.0.0.1'], {
        cwd: dir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      try {
        // Deadlines only bound a failure; each step gets its own, since a loaded machine can
        // spend most of a shared one starting node.
        const started = Date.now() + 30_000;
        while (!/"port":(\d+)/.test(output) && Date.now() < started) await sleep(50);
        const port = Number(/"port":(\d+)/.exec(output)![1]);
        if (trigger === 'ConfigMap update') configMap.update(dir, 'routes:\n' + route('after'));
        else fs.writeFileSync(file, 'routes:\n' + route('after'));
        if (trigger === 'SIGHUP') child.kill('SIGHUP');
        let status = 0;
        const reloaded = Date.now() + 30_000;
        while (status !== 202 && Date.now() < reloaded) {
          await sleep(100);
          status = (await fetch(`http://127.0.0.1:${port}/after`, { method: 'POST', body: 'x' })).status;
        }
        expect(status).to.equal(202);
        expect(output).to.include('routes reloaded');
      } finally {
        child.kill('SIGTERM');
      }
    });
  }
});
