/**
 * Splices generated reports into README.md between markers, so that every number in the README
 * comes from a script: `<!-- generated:NAME -->` ... `<!-- /generated:NAME -->`.
 *   bench   <- bench/results/latest.md       (npm run bench)
 *   faults  <- test/faults/results/latest.md (the fault suites, run by npm test)
 * Usage: node dist/scripts/update-readme.js   (after npm run build:all)
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sources: Record<string, string> = {
  bench: 'bench/results/latest.md',
  faults: 'test/faults/results/latest.md',
};

const readmePath = path.join(root, 'README.md');
let readme = fs.readFileSync(readmePath, 'utf8');
for (const [name, file] of Object.entries(sources)) {
  const begin = `<!-- generated:${name} -->`;
  const end = `<!-- /generated:${name} -->`;
  const start = readme.indexOf(begin);
  const stop = readme.indexOf(end);
  if (start === -1 || stop === -1) {
    console.error(`README.md has no ${begin} ... ${end} block`);
    process.exitCode = 1;
    continue;
  }
  const full = path.join(root, file);
  if (!fs.existsSync(full)) {
    console.error(`${file} does not exist yet: run what produces it first`);
    process.exitCode = 1;
    continue;
  }
  const generated = fs.readFileSync(full, 'utf8').trim();
  readme = `${readme.slice(0, start + begin.length)}\n${generated}\n${readme.slice(stop)}`;
  console.log(`README.md: ${name} <- ${file}`);
}
fs.writeFileSync(readmePath, readme);
