/** The README's error table and the error registry must say the same thing. */
import fs from 'node:fs';
import { expect } from 'chai';
import { ERROR_CODES, LINT_CODES } from '../../core/errors.js';

const readme = fs.readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

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
});

describe('lint code documentation', () => {
  const section = readme.slice(readme.indexOf('| lint code | meaning |'));
  const table = section.slice(0, section.indexOf('\n\n'));
  const documented = [...table.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!);

  it('documents every lint code of the registry, and no other', () => {
    expect([...documented].sort()).to.deep.equal(Object.keys(LINT_CODES).sort());
  });
});
