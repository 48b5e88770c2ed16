/**
 * The package as a plugin author gets it: `npm pack` the built tree, install the tarball with
 * `--omit=dev` into an empty folder, and import both public entry points from there. Catches a
 * `files` list that forgets a folder, an export that points at nothing, and a runtime import of a
 * devDependency (chai in the conformance suite was one).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../../..');

describe('the packed busgate package', function () {
  this.timeout(180_000);
  let consumer: string;
  let tarball: string;

  before(async () => {
    consumer = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-pack-'));
    const packed = await run('npm', ['pack', '--json', '--pack-destination', consumer], { cwd: repo, maxBuffer: 16 * 1024 * 1024 });
    const [entry] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = entry!.filename;
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'busgate-pack-consumer', private: true, type: 'module' }));
    // --prefer-offline: the dependencies are in the npm cache after `npm ci`; the registry is asked
    // only for what the cache lacks.
    await run('npm', ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', `./${tarball}`], {
      cwd: consumer,
      maxBuffer: 16 * 1024 * 1024,
    });
  });

  after(() => {
    if (consumer) fs.rmSync(consumer, { recursive: true, force: true });
  });

  const evaluate = async (code: string): Promise<unknown> => {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', code], { cwd: consumer });
    return JSON.parse(stdout) as unknown;
  };

  it('ships no test code and no dev dependency', () => {
    const installed = path.join(consumer, 'node_modules');
    expect(fs.existsSync(path.join(installed, 'busgate', 'dist', 'test'))).to.equal(false);
    expect(fs.existsSync(path.join(installed, 'chai'))).to.equal(false);
    expect(fs.existsSync(path.join(installed, 'mocha'))).to.equal(false);
  });

  it("'busgate' exports the plugin contract, the error class and codes", async () => {
    const seen = await evaluate(`
      import { PLUGIN_API_VERSION, MODES, BusgateError, ERROR_CODES, isBusgateError } from 'busgate';
      const error = new BusgateError('broker_unavailable', 'down');
      console.log(JSON.stringify({ PLUGIN_API_VERSION, MODES, status: error.status, typed: isBusgateError(error), codes: Object.keys(ERROR_CODES).length }));
    `);
    expect(seen).to.deep.include({ PLUGIN_API_VERSION: 1, MODES: ['pubsub', 'point-to-point', 'request-reply'], status: 503, typed: true });
    expect((seen as { codes: number }).codes).to.be.greaterThan(10);
  });

  it("'busgate/conformance' loads without mocha or chai installed", async () => {
    const seen = await evaluate(`
      import * as conformance from 'busgate/conformance';
      console.log(JSON.stringify({ runConformance: typeof conformance.runConformance, requireBroker: typeof conformance.requireBroker }));
    `);
    expect(seen).to.deep.equal({ runConformance: 'function', requireBroker: 'function' });
  });

  it('runs the conformance suite from the installed package (memory plugin), with only mocha added', async () => {
    // mocha is the plugin author's own devDependency; busgate's copy stands in for it here.
    fs.writeFileSync(
      path.join(consumer, 'memory.conformance.test.js'),
      `import { runConformance } from 'busgate/conformance';
runConformance({ name: 'memory', plugin: 'memory', options: () => ({}), unavailableOptions: () => ({ unavailable: true }),
  destination: (mode) => 'pack.' + mode.replace(/-/g, '') + '.' + Math.random().toString(36).slice(2, 10), detectsNoResponders: true });
`,
    );
    const mocha = path.join(repo, 'node_modules', 'mocha', 'bin', 'mocha.js');
    const { stdout } = await run(process.execPath, [mocha, '--no-config', '--exit', '--reporter', 'dot', 'memory.conformance.test.js'], {
      cwd: consumer,
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(stdout).to.match(/\d+ passing/);
    expect(stdout).to.not.match(/failing/);
  });

  it('ships type declarations for both entry points', () => {
    const root = path.join(consumer, 'node_modules', 'busgate');
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, { types?: string }> };
    for (const entry of ['.', './conformance']) {
      const types = manifest.exports[entry]?.types;
      expect(types, entry).to.be.a('string');
      expect(fs.existsSync(path.join(root, types!)), `${entry} -> ${types}`).to.equal(true);
    }
  });
});
