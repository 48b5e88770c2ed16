/**
 * The core never names a plugin: what it must know of a broker (env bindings of the built-in
 * instance, reserved headers, destination rules) is declared by the plugin and read from there.
 * Comments may mention brokers as examples; code may not.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { builtInManifests } from '../../core/plugins/built-ins.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BROKER_WORDS = /\b(nats|jetstream|kafka|kafkajs|rabbitmq|amqp|amqplib|NATS_URL|KAFKA_BROKERS|AMQP_URL)\b/i;

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The source without comments (block, JSDoc and line comments), line numbers kept. */
function codeOnly(text: string): string[] {
  const withoutBlocks = text.replace(/\/\*[\s\S]*?\*\//g, (block) => block.replace(/[^\n]/g, ' '));
  return withoutBlocks.split('\n').map((line) => line.replace(/(^|[^:'"`])\/\/.*$/, '$1'));
}

describe('the core names no plugin', () => {
  it('has no broker name in the code of core/', () => {
    const found: string[] = [];
    for (const file of sources(path.join(ROOT, 'core'))) {
      codeOnly(fs.readFileSync(file, 'utf8')).forEach((line, index) => {
        if (BROKER_WORDS.test(line)) found.push(`${path.relative(ROOT, file)}:${index + 1}: ${line.trim()}`);
      });
    }
    expect(found).to.deep.equal([]);
  });

  it('reads the built-in plugins and their env bindings from their own declarations', () => {
    const manifests = builtInManifests();
    expect(manifests.map((m) => m.name)).to.deep.equal(['memory', 'nats', 'kafka', 'rabbitmq']);
    const envs = manifests.flatMap((m) => m.builtIn?.settings.map((s) => s.env) ?? []);
    expect(envs).to.deep.equal(['NATS_URL', 'KAFKA_BROKERS', 'AMQP_URL']);
  });
});
