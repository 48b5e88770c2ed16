import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { StartupError } from '../../core/errors.js';
import { builtInPluginNames, loadPlugin } from '../../core/plugins/load-plugin.js';
import { loadInstances } from '../../core/brokers/instances.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/plugins/', import.meta.url));

async function codeOf(spec: string): Promise<string> {
  try {
    await loadPlugin(spec, fixtures);
  } catch (error) {
    expect(error).to.be.instanceOf(StartupError);
    return (error as StartupError).code;
  }
  return 'loaded';
}

describe('plugin loader', () => {
  it('loads a built-in plugin by name', async () => {
    const factory = await loadPlugin('memory', fixtures);
    expect(factory.name).to.equal('memory');
    expect(builtInPluginNames()).to.include('memory');
  });

  it('loads a plugin file relative to the config directory', async () => {
    expect((await loadPlugin('./valid.js', fixtures)).name).to.equal('valid-fixture');
  });

  it('gives each way a plugin can be broken its own error', async () => {
    expect(await codeOf('./no-such-file.js')).to.equal('plugin_not_found');
    expect(await codeOf('no-such-plugin-or-package')).to.equal('plugin_not_found');
    expect(await codeOf('./throws-on-load.js')).to.equal('plugin_load_failed');
    expect(await codeOf('./wrong-api-version.js')).to.equal('plugin_api_version');
    expect(await codeOf('./missing-client.js')).to.equal('plugin_dependency_missing');
    expect(await codeOf('./not-a-factory.js')).to.equal('plugin_invalid');
  });

  it('names the package to install when a client library is missing', async () => {
    try {
      await loadPlugin('./missing-client.js', fixtures);
      expect.fail('should not load');
    } catch (error) {
      expect((error as Error).message).to.include('npm install busgate-fixture-client-that-is-not-installed');
    }
  });

  it('validates instance options against the plugin schema and fills defaults', async () => {
    const loaded = await loadInstances(['a'], { a: { plugin: './valid.js', options: {} } }, fixtures);
    expect(loaded.get('a')!.options).to.deep.equal({ greeting: 'hi' });
    try {
      await loadInstances(['b'], { b: { plugin: './valid.js', options: { colour: 'red' } } }, fixtures);
      expect.fail('should refuse');
    } catch (error) {
      expect((error as StartupError).code).to.equal('plugin_options_invalid');
      expect((error as StartupError).details.join()).to.include('unknown option "colour"');
    }
  });

  it('imports only the plugins that routes use', async () => {
    const loaded = await loadInstances(
      ['used'],
      { used: { plugin: './valid.js', options: {} }, unused: { plugin: './throws-on-load.js', options: {} } },
      fixtures,
    );
    expect([...loaded.keys()]).to.deep.equal(['used']);
  });
});
