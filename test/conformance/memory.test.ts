import { randomUUID } from 'node:crypto';
import { runConformance } from '../../conformance/index.js';

runConformance({
  name: 'memory',
  plugin: 'memory',
  options: () => ({}),
  unavailableOptions: () => ({ unavailable: true }),
  destination: (mode) => `conf.${mode.replace(/-/g, '')}.${randomUUID().slice(0, 8)}`,
  unsafeTokens: ['>', '$SYS', 'a#', 'é'],
  detectsNoResponders: true,
});
