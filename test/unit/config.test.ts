import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '../../core/config.js';
import { StartupError } from '../../core/errors.js';

function tempDir(files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-config-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function refusal(run: () => unknown): StartupError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(StartupError);
    return error as StartupError;
  }
  return expect.fail('the config should have been refused');
}

describe('daemon config', () => {
  it('has working defaults with no file and no env', () => {
    const config = loadConfig({ env: {}, cwd: tempDir() });
    expect(config.port).to.equal(8080);
    expect(config.defaultTimeoutMs).to.equal(5000);
    expect(config.brokers.memory).to.deep.equal({ plugin: 'memory', options: {} });
    expect(config.brokers.nats!.options).to.deep.equal({ url: 'nats://127.0.0.1:4222' });
    // V8 favours memory by default (README, Performance: memory): with node's own flags when the
    // launcher gave them, else --optimize-for-size; OPTIMIZE_FOR_SIZE=false|true decides outright.
    expect(config.optimizeForSize).to.equal('auto');
    expect(loadConfig({ env: { OPTIMIZE_FOR_SIZE: 'false' }, cwd: tempDir() }).optimizeForSize).to.equal(false);
    expect(loadConfig({ env: { OPTIMIZE_FOR_SIZE: 'true' }, cwd: tempDir() }).optimizeForSize).to.equal(true);
    expect(() => loadConfig({ env: { OPTIMIZE_FOR_SIZE: 'maybe' }, cwd: tempDir() })).to.throw();
  });

  it('takes env vars over files, and flags over env', () => {
    const cwd = tempDir({ 'config/default.yaml': 'port: 9000\nlogLevel: warn\n' });
    expect(loadConfig({ env: {}, cwd }).port).to.equal(9000);
    expect(loadConfig({ env: { PORT: '9100' }, cwd }).port).to.equal(9100);
    expect(loadConfig({ env: { PORT: '9100' }, cwd, args: ['--port', '9200'] }).port).to.equal(9200);
  });

  it('names this replica for plugins: instanceId from a file or BUSGATE_INSTANCE_ID, else the host name', () => {
    expect(loadConfig({ env: {}, cwd: tempDir() }).instanceId).to.equal(os.hostname());
    const cwd = tempDir({ 'config/default.yaml': 'instanceId: busgate-0\n' });
    expect(loadConfig({ env: {}, cwd }).instanceId).to.equal('busgate-0');
    expect(loadConfig({ env: { BUSGATE_INSTANCE_ID: 'busgate-1' }, cwd }).instanceId).to.equal('busgate-1');
  });

  it('feeds NATS_URL, KAFKA_BROKERS (comma-separated) and AMQP_URL to the built-in instances', () => {
    const config = loadConfig({ env: { NATS_URL: 'nats://n:4222', KAFKA_BROKERS: 'k1:9092, k2:9092', AMQP_URL: 'amqp://u:p@r:5672' }, cwd: tempDir() });
    expect(config.brokers.nats!.options).to.deep.equal({ url: 'nats://n:4222' });
    expect(config.brokers.kafka!.options).to.deep.equal({ brokers: ['k1:9092', 'k2:9092'] });
    expect(config.brokers.rabbitmq!.options).to.deep.equal({ url: 'amqp://u:p@r:5672' });
  });

  it('declares named instances, and a built-in name keeps its connection settings', () => {
    const cwd = tempDir({
      'busgate.yaml':
        'brokers:\n  kafka:\n    plugin: kafka\n    options: { createTopics: true }\n  kafka-eu:\n    plugin: kafka\n    options: { brokers: [eu:9092] }\n',
    });
    const config = loadConfig({ env: { KAFKA_BROKERS: 'k:9092' }, cwd, args: ['--config', 'busgate.yaml'] });
    expect(config.brokers.kafka).to.deep.equal({ plugin: 'kafka', options: { brokers: ['k:9092'], createTopics: true } });
    expect(config.brokers['kafka-eu']).to.deep.equal({ plugin: 'kafka', options: { brokers: ['eu:9092'] } });
    expect(config.configDir).to.equal(cwd);
  });

  it('refuses unknown keys, bad values and malformed instances', () => {
    expect(refusal(() => loadConfig({ env: {}, cwd: tempDir({ 'config/default.yaml': 'prot: 80\n' }) })).details.join()).to.include('prot');
    expect(refusal(() => loadConfig({ env: { PORT: 'eighty' }, cwd: tempDir() })).code).to.equal('config_invalid');
    expect(refusal(() => loadConfig({ env: { DEFAULT_TIMEOUT: 'soon' }, cwd: tempDir() })).details.join()).to.include('duration');
    expect(refusal(() => loadConfig({ env: {}, cwd: tempDir({ 'config/default.yaml': 'brokers:\n  x:\n    plugn: memory\n' }) })).details.join()).to.include(
      'unknown key "plugn"',
    );
    expect(refusal(() => loadConfig({ env: {}, cwd: tempDir(), args: ['--config', 'missing.yaml'] })).message).to.include('not found');
  });

  it('takes shared state stores as URLs: Redis for both, NATS (JetStream KV) for idempotency only', () => {
    const config = loadConfig({
      env: { IDEMPOTENCY_STORE: 'nats://127.0.0.1:4222', RATE_LIMIT_STORE: 'redis://127.0.0.1:6379', IDEMPOTENCY_MAX_BYTES: '8mb' },
      cwd: tempDir(),
    });
    expect(config.idempotency).to.include({ store: 'nats://127.0.0.1:4222', maxBytes: 8 * 1024 * 1024, maxReplyBytes: 64 * 1024 });
    expect(config.rateLimitStore).to.equal('redis://127.0.0.1:6379');
    expect(refusal(() => loadConfig({ env: { IDEMPOTENCY_STORE: 'http://redis:6379' }, cwd: tempDir() })).details.join()).to.include('redis://');
    expect(refusal(() => loadConfig({ env: { RATE_LIMIT_STORE: 'nats://127.0.0.1:4222' }, cwd: tempDir() })).details.join()).to.include('redis://');
  });
});
