/** The `busgate` command as a user runs it: check, start, refuse to start, stop on SIGTERM. */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = path.join(root, 'dist/core/cli.js');
const env = { ...process.env, LOG_FORMAT: 'json', NODE_ENV: 'test' };

describe('busgate command', function () {
  this.timeout(15_000);

  it('check prints FILE:LINE:COL code message for each problem and exits 1', () => {
    const result = spawnSync(process.execPath, [cli, 'check', 'test/fixtures/routes/broken.yaml'], { cwd: root, env, encoding: 'utf8' });
    expect(result.status).to.equal(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines).to.have.lengthOf(14);
    expect(lines).to.include('test/fixtures/routes/broken.yaml:42:13 unknown_broker broker "limited" is not declared (known: memory, nats, kafka, rabbitmq)');
    expect(lines[0]).to.match(/^test\/fixtures\/routes\/broken\.yaml:6:5 unknown_key /);
  });

  it('check accepts the shipped routes.yaml', () => {
    const result = spawnSync(process.execPath, [cli, 'check', 'routes.yaml'], { cwd: root, env, encoding: 'utf8' });
    expect(result.stderr).to.equal('');
    expect(result.stdout).to.match(/routes\.yaml: ok \(\d+ routes\)/);
    expect(result.status).to.equal(0);
  });

  for (const args of [['--help'], ['-h'], ['help'], ['start', '--help']]) {
    it(`busgate ${args.join(' ')} prints the usage and exits 0, starting nothing`, () => {
      const result = spawnSync(process.execPath, [cli, ...args], { cwd: root, env, encoding: 'utf8', timeout: 10_000 });
      expect(result.status).to.equal(0);
      expect(result.stdout).to.match(/^usage:\n {2}busgate \[start\]/);
      expect(result.stdout).to.include('busgate check [--live] [FILE]');
      expect(result.stderr).to.equal('');
    });
  }

  it('refuses to start with a broken routes file, naming line and column', () => {
    const result = spawnSync(process.execPath, [cli, 'start', '--port', '0', '--routes', 'test/fixtures/routes/broken.yaml'], {
      cwd: root,
      env,
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(result.status).to.equal(1);
    expect(result.stderr).to.include('routes_invalid');
    expect(result.stderr).to.include('broken.yaml:12:13 unknown_broker');
  });

  it('refuses to start with an invalid config value', () => {
    const result = spawnSync(process.execPath, [cli, 'start'], { cwd: root, env: { ...env, PORT: 'eighty' }, encoding: 'utf8', timeout: 10_000 });
    expect(result.status).to.equal(1);
    expect(result.stderr).to.include('config_invalid');
  });

  it('starts on the shipped config and exits 0 on SIGTERM', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-cli-'));
    const child = spawn(process.execPath, [cli, 'start', '--port', '0', '--host', '127.0.0.1'], {
      cwd: root,
      env: { ...env, TMPDIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${output}`)), 10_000);
      child.stdout.on('data', () => {
        const match = /"port":(\d+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
    });
    const echo = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(echo.status).to.equal(200);
    expect(await echo.text()).to.equal('hello');
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exit).to.equal(0);
    expect(output).to.include('"message":"stopped"');
    if (os.availableParallelism() > 1) {
      // The shipped routes use the in-process broker: WORKERS=auto says why it runs one process, once, first.
      const said = output.split('\n').filter((line) => line.includes('WORKERS=auto'));
      expect(said).to.have.lengthOf(1);
      expect(JSON.parse(said[0]!)).to.include({
        level: 'info',
        message: 'WORKERS=auto: one process, because the routes file uses "memory", a broker inside the process (each worker would have its own)',
      });
      expect(output.indexOf(said[0]!), 'before anything else the daemon says').to.equal(0);
    }
  });

  it('keeps serving when its log pipe closes (busgate start | head), and still exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [cli, 'start', '--port', '0', '--host', '127.0.0.1'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let output = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${output}`)), 10_000);
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /"port":(\d+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
    });
    child.stdout.destroy(); // the reader goes away, as head does after its lines
    // A reload logs lines, which now meet the closed pipe (EPIPE): before, the first one ended the daemon.
    for (let i = 0; i < 3; i += 1) {
      child.kill('SIGHUP');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const echo = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body: 'still here', headers: { 'content-type': 'text/plain' } });
    expect(echo.status).to.equal(200);
    expect(await echo.text()).to.equal('still here');
    expect(child.exitCode).to.equal(null);
    child.kill('SIGTERM');
    expect(await exit).to.equal(0);
    expect(errors).to.not.include('EPIPE');
  });
});
