/** Fuzz of the routes linter: mutated and random YAML must never throw or hang. */
import fs from 'node:fs';
import { expect } from 'chai';
import { lintRoutes, type BrokerCatalog } from '../../core/routes/lint.js';
import { Random, seedFromEnv } from '../support/random.js';

const shipped = fs.readFileSync(new URL('../../../routes.yaml', import.meta.url), 'utf8');
const catalog: BrokerCatalog = new Map([['memory', { modes: ['pubsub', 'point-to-point', 'request-reply'] as const }]]);
const NOISE = [
  ':',
  '-',
  ' ',
  '\n',
  '{',
  '}',
  '[',
  ']',
  '"',
  "'",
  '#',
  '&a',
  '*a',
  '!!binary',
  '\t',
  '|',
  '>',
  '%',
  '@',
  '`',
  '?',
  ',',
  'routes',
  'path',
  'broker',
  'mode',
  '{x}',
  '\u0000',
  '\ufeff',
  '😀',
];

function mutate(text: string, random: Random): string {
  let out = text;
  const edits = 1 + random.int(6);
  for (let i = 0; i < edits; i += 1) {
    const at = random.int(out.length + 1);
    switch (random.int(5)) {
      case 0:
        out = out.slice(0, at) + out.slice(at + 1 + random.int(10));
        break;
      case 1:
        out = out.slice(0, at) + random.pick(NOISE) + out.slice(at);
        break;
      case 2: {
        const lines = out.split('\n');
        const line = random.int(lines.length);
        lines.splice(line, 0, lines[random.int(lines.length)]!);
        out = lines.join('\n');
        break;
      }
      case 3:
        out = out.replace(/pubsub|point-to-point|request-reply|memory|POST/, random.pick(['', 'x', 'memory', 'pubsub', '{mode}', '123', 'null']));
        break;
      default:
        out = random.bytes(random.int(300)).toString('latin1');
    }
  }
  return out;
}

describe('fuzz: routes linter', function () {
  this.timeout(120_000);
  const seed = seedFromEnv();
  const iterations = Number(process.env.FUZZ_ITERATIONS ?? 1500);

  it(`never throws on mutated or random files, and every problem has a position (seed ${seed})`, () => {
    const random = new Random(seed);
    let valid = 0;
    for (let i = 0; i < iterations; i += 1) {
      const text = mutate(shipped, random);
      const started = performance.now();
      let result;
      try {
        result = lintRoutes(text, catalog);
      } catch (error) {
        expect.fail(`seed ${seed} #${i} threw ${String(error)} on:\n${text}`);
      }
      expect(performance.now() - started, `seed ${seed} #${i} too slow`).to.be.lessThan(1000);
      for (const problem of result.problems) {
        expect(problem.line, JSON.stringify(problem)).to.be.at.least(1);
        expect(problem.col, JSON.stringify(problem)).to.be.at.least(1);
        expect(problem.code).to.match(/^[a-z_]+$/);
      }
      if (result.problems.length === 0) valid += 1;
      else expect(result.routes).to.be.empty;
    }
    expect(valid).to.be.lessThan(iterations);
  });
});
