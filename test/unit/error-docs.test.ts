/** The README's code tables (errors, lint problems, start-up errors) and the registries must agree. */
import fs from 'node:fs';
import { expect } from 'chai';
import { ERROR_CODES, STARTUP_CODES } from '../../core/errors.js';
import { SUBSCRIPTION_LINT_CODES } from '../../core/egress/lint-codes.js';
import { LINT_CODES } from '../../core/routes/lint-codes.js';
import { STREAM_LINT_CODES } from '../../core/streams/lint-codes.js';
import { PULL_LINT_CODES } from '../../core/pulls/lint-codes.js';

const readme = fs.readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

/** code -> meaning, from the README table whose header row is `| <title> | meaning |`. */
function codeTable(title: string): Map<string, string> {
  const start = readme.indexOf(`| ${title} | meaning |`);
  expect(start, `README table "${title}"`).to.be.greaterThan(-1);
  const rows = readme.slice(start).split('\n\n')[0]!.split('\n').slice(2);
  return new Map(
    rows.map((row) => {
      const match = /^\| `([a-z_]+)` \| (.*) \|$/.exec(row);
      expect(match, `README row "${row}"`).to.not.equal(null);
      return [match![1]!, match![2]!];
    }),
  );
}

describe('error documentation', () => {
  const rows = new Map(
    [...readme.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| (yes|no) \|/gm)].map((m) => [m[1]!, { status: Number(m[2]), retryable: m[3] === 'yes' }]),
  );

  it('documents every error code with its status and retryability', () => {
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      expect(rows.get(code), `README row for ${code}`).to.deep.equal({ status: entry.status, retryable: entry.retryable });
    }
  });

  it('documents no code that does not exist', () => {
    expect([...rows.keys()].filter((code) => !(code in ERROR_CODES))).to.deep.equal([]);
  });

  it('documents every lint code, with the registry meaning, and no other', () => {
    expect(Object.fromEntries(codeTable('lint code'))).to.deep.equal(LINT_CODES);
  });

  it('documents every subscription lint code, with the registry meaning, and no other', () => {
    expect(Object.fromEntries(codeTable('lint code (subscriptions)'))).to.deep.equal(SUBSCRIPTION_LINT_CODES);
  });

  it('documents every stream lint code, with the registry meaning, and no other', () => {
    expect(Object.fromEntries(codeTable('lint code (streams)'))).to.deep.equal(STREAM_LINT_CODES);
  });

  it('documents every pull lint code, with the registry meaning, and no other', () => {
    expect(Object.fromEntries(codeTable('lint code (pulls)'))).to.deep.equal(PULL_LINT_CODES);
  });

  it('documents every start-up code, with the registry meaning, and no other', () => {
    expect(Object.fromEntries(codeTable('start-up code'))).to.deep.equal(STARTUP_CODES);
  });
});
