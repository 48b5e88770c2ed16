import { randomUUID } from 'node:crypto';
import { runPullConformance } from './suite.js';

// The memory broker lives inside its daemon: one instance, no group.
runPullConformance({
  name: 'memory',
  plugin: 'memory',
  options: () => ({}),
  destination: () => `pulls.${randomUUID().slice(0, 8)}`,
  groups: false,
  shared: false,
});
