/**
 * The embedded broker: no external service, real semantics. The factory and its declarations;
 * the plugin object is in broker.ts, the message bus in bus.ts.
 */
import manifest from './plugin.json' with { type: 'json' };
import { PLUGIN_API_VERSION, type PluginFactory } from '../../core/plugins/contract.js';
import { MemoryBroker } from './broker.js';
import { optionsSchema, type MemoryOptions } from './options.js';

const memoryPlugin: PluginFactory<MemoryOptions> = {
  apiVersion: PLUGIN_API_VERSION,
  name: manifest.name,
  description: manifest.description,
  modes: ['pubsub', 'point-to-point', 'request-reply'],
  optionsSchema,
  // CloudEvents attributes travel as `ce-` headers, as over HTTP; the embedded bus has no binding of its own.
  cloudEvents: { attributePrefix: 'ce-', percentEncoded: true },
  receiptSchema: {
    type: 'object',
    properties: { subscribers: { type: 'integer', description: 'pubsub: how many got it' }, queue: { type: 'string' }, depth: { type: 'integer' } },
  },
  // No durable groups: a memory pubsub subscriber gets what is published while it listens, and
  // nothing survives a restart. Pubsub handlers are called as messages come (unbounded: they are
  // in this process already); a queue consumer holds at most maxInFlight.
  egress: { durableGroups: false, concurrentHandlers: true, orderingKey: "the route's key" },
  create(options, context) {
    return new MemoryBroker(options, (error, destination) =>
      context.logger.warn('memory consumer failed; message handed back', { broker: context.name, destination, error: String(error) }),
    );
  },
};

export default memoryPlugin;
