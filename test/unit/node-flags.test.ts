/** Every way busgate is launched passes the same node memory flags and malloc settings (core/node-flags.ts). */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { MALLOC_ENV, NODE_MEMORY_FLAGS, youngGenerationSized } from '../../core/node-flags.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (file: string): string => fs.readFileSync(`${root}${file}`, 'utf8');

describe('node memory flags', () => {
  it('are given by npm start, the busgate command and the image', () => {
    const flags = NODE_MEMORY_FLAGS.join(' ');
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).to.match(new RegExp(` node ${flags} dist/core/cli\\.js start$`));
    expect(read('core/cli.ts').split('\n')[0]).to.match(new RegExp(` node ${flags}$`));
    expect(read('Dockerfile')).to.include(`CMD ["node", ${NODE_MEMORY_FLAGS.map((flag) => `"${flag}"`).join(', ')}, "dist/core/cli.js", "start"]`);
  });

  it('come with the same malloc settings, which a value already set overrides in npm start', () => {
    const settings = Object.entries(MALLOC_ENV);
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    const defaults = settings.map(([name, value]) => `${name}=\${${name}:-${value}}`).join(' ');
    expect(pkg.scripts.start).to.equal(`${defaults} node ${NODE_MEMORY_FLAGS.join(' ')} dist/core/cli.js start`);
    const fixed = settings.map(([name, value]) => `${name}=${value}`).join(' ');
    expect(read('core/cli.ts').split('\n')[0]).to.equal(`#!/usr/bin/env -S ${fixed} node ${NODE_MEMORY_FLAGS.join(' ')}`);
    const dockerfile = read('Dockerfile');
    // The runtime stage's ENV block, one setting a line.
    for (const [name, value] of settings) expect(dockerfile).to.include(`\n    ${name}=${value} \\\n`);
  });

  it('are recognised on the command line and in NODE_OPTIONS', () => {
    expect(youngGenerationSized([...NODE_MEMORY_FLAGS], '')).to.equal(true);
    expect(youngGenerationSized([], '--max-semi-space-size=4')).to.equal(true);
    expect(youngGenerationSized(['--inspect'], '--max-old-space-size=320')).to.equal(false);
  });
});
