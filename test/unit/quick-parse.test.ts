/**
 * The daemon reads a routes file with js-yaml first (core/routes/quick-parse.ts) and keeps that
 * reading only when the linter finds nothing; it must give exactly the values `yaml` gives, or
 * step aside.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parseDocument } from 'yaml';
import { parseRoutesQuickly } from '../../core/routes/quick-parse.js';
import { checkRoutesFile } from '../../core/routes/check-file.js';

const repo = (file: string): string => fs.readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8');

/** What `yaml` makes of a text, or undefined when it reports an error or warning. */
function exactly(text: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true });
  return doc.errors.length > 0 || doc.warnings.length > 0 ? undefined : doc.toJS();
}

function expectSameOrRefused(text: string, label: string): 'same' | 'refused' {
  const quick = parseRoutesQuickly(text);
  if (quick === undefined) return 'refused';
  expect(exactly(text), `${label}: yaml reads it without errors`).to.not.equal(undefined);
  expect(quick.doc.toJS(), label).to.deep.equal(exactly(text));
  return 'same';
}

const root = new URL('../../../', import.meta.url);

/** The repository's YAML files and markdown files, outside dependencies and build output. */
function repositoryFiles(dir = '.'): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(new URL(dir + '/', root), { withFileTypes: true })) {
    const file = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!['node_modules', 'dist', '.git', '.brokers', 'results'].includes(entry.name) && !entry.name.startsWith('.')) found.push(...repositoryFiles(file));
    } else if (/\.(ya?ml|md)$/.test(entry.name)) found.push(file);
  }
  return found;
}

/** Every YAML text in the repository: the files, and each ```yaml block of the markdown. */
function yamlTexts(): [string, string][] {
  const texts: [string, string][] = [];
  for (const file of repositoryFiles()) {
    const text = repo(file);
    if (!file.endsWith('.md')) texts.push([file, text]);
    else [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].forEach((block, index) => texts.push([`${file} block ${index + 1}`, block[1]!]));
  }
  return texts;
}

describe('quick first reading of routes files (js-yaml, checked against yaml)', () => {
  it("reads every YAML text in the repository (routes files, configs, manifests, the READMEs' examples) as yaml does, or steps aside", () => {
    const texts = yamlTexts();
    const outcomes = new Map(texts.map(([label, text]) => [label, expectSameOrRefused(text, label)]));
    expect([...outcomes.values()].filter((outcome) => outcome === 'same').length, 'texts read quickly').to.be.greaterThan(20);
    // The shipped routes files use nothing exotic: the quick path is the one they take.
    for (const file of ['routes.yaml', 'examples/webhooks/routes.yaml', 'deploy/routes.compose.yaml']) expect(outcomes.get(file), file).to.equal('same');
  });

  it('gives the same scalars as YAML 1.2 core schema in yaml', () => {
    const scalars = [
      '0b101',
      '0o17',
      '0x1F',
      '017',
      '+12',
      '-0',
      '1_000',
      '.inf',
      '-.Inf',
      '.NaN',
      '~',
      '',
      'null',
      'Null',
      'yes',
      'on',
      'True',
      'TRUE',
      'tRue',
      '2001-12-14',
      '1.5e3',
      '1e3',
      '.5',
      '5.',
      '0.10',
      '1.0',
      '12:30',
      '"0x1F"',
      "'it''s'",
      '"\\u00e9\\t"',
      'b # comment',
      'b#c',
      '9007199254740993',
      '0o8',
      '0x',
      '[1, "2", three]',
      '{a: 1, b: [x, y]}',
      '|\n  x\n  y\n',
      '>-\n  x\n  y\n',
      '!!str 1',
      '/a/{b}/*',
      "'busgate-*'",
    ];
    for (const scalar of scalars) {
      const text = `routes:\n  - value: ${scalar.replace(/\n {2}/g, '\n      ')}\n`;
      expect(expectSameOrRefused(text, JSON.stringify(scalar)), JSON.stringify(scalar)).to.equal('same');
    }
  });

  it('steps aside where the two parsers could differ, or where yaml has something to report', () => {
    const refused = {
      'a %YAML directive (1.1 changes the schema)': '%YAML 1.1\n---\nroutes:\n  - on: yes\n',
      'an alias': 'base: &base {broker: memory}\nroutes:\n  - options: *base\n',
      'a key the core schema reads as a number': 'routes:\n  - 1: x\n',
      'a key the core schema reads as null': 'routes:\n  - null: x\n',
      'a key the core schema reads as a boolean': 'routes:\n  - true: x\n',
      'a duplicate key': 'routes:\n  - path: /a\n    path: /b\n',
      'a syntax error': 'routes:\n  - path: /a\n   broker: memory\n',
      'a complex key': 'routes:\n  - ? [a]\n    : 1\n',
      'an unknown tag': 'routes:\n  - path: !custom /a\n',
      'an empty file': '',
      'several documents': 'routes: []\n---\nroutes: []\n',
    };
    for (const [label, text] of Object.entries(refused)) expect(parseRoutesQuickly(text), label).to.equal(undefined);
  });

  it('reports problems from yaml, with their lines, whichever reading the caller asked for', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-quick-'));
    const file = path.join(dir, 'routes.yaml');
    fs.writeFileSync(file, 'routes:\n  - name: a\n    path: /a\n    broker: memory\n    mode: pubsub\n    destination: x\n    bogus: 1\n');
    const config = { brokers: { memory: { plugin: 'memory', options: {} } }, configDir: dir, apiKeys: new Map() };
    try {
      const quick = await checkRoutesFile(file, config);
      const exact = await checkRoutesFile(file, config, { exact: true });
      expect(quick.problems).to.deep.equal(exact.problems);
      expect(quick.problems.map((p) => `${p.line}:${p.col} ${p.code}`)).to.deep.equal(['7:5 unknown_key']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives the daemon the same routes either way for a clean file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-quick-'));
    const file = path.join(dir, 'routes.yaml');
    fs.writeFileSync(file, repo('routes.yaml'));
    const config = { brokers: { memory: { plugin: 'memory', options: {} } }, configDir: dir, apiKeys: new Map() };
    try {
      const quick = await checkRoutesFile(file, config);
      const exact = await checkRoutesFile(file, config, { exact: true });
      expect(quick.problems).to.deep.equal([]);
      expect(quick.routes.length).to.be.greaterThan(0);
      expect(JSON.stringify(quick.routes, mapsAsEntries)).to.equal(JSON.stringify(exact.routes, mapsAsEntries));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

function mapsAsEntries(_key: string, value: unknown): unknown {
  return value instanceof Map ? [...value.entries()] : value;
}
