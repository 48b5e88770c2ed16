import { randomUUID } from 'node:crypto';
import { runStreamConformance } from './suite.js';

runStreamConformance({
  name: 'memory',
  plugin: 'memory',
  options: () => ({}),
  destination: () => `streams.${randomUUID().slice(0, 8)}`,
});
