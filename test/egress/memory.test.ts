import { randomUUID } from 'node:crypto';
import { runEgressConformance } from './suite.js';

runEgressConformance({
  name: 'memory',
  plugin: 'memory',
  options: () => ({}),
  destination: () => `egress.${randomUUID().slice(0, 8)}`,
  // One process: a second daemon has its own memory broker.
  sharedGroups: false,
  deliveryTimeoutMs: 5000,
});
