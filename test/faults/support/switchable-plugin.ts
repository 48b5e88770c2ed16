/**
 * A broker plugin for fault tests of the core itself: it accepts everything at once, or (while
 * `control.hang` is set) never acknowledges, as a frozen broker does. Loaded by the daemon from
 * this file's path, so the test and the daemon share the one module instance and its `control`.
 */
import {
  PLUGIN_API_VERSION,
  type BrokerPlugin,
  type OutboundMessage,
  type PluginFactory,
  type Receipt,
  type SendContext,
} from '../../../core/plugins/contract.js';
import { BusgateError } from '../../../core/errors.js';

export const control = { hang: false, calls: 0 };

function send(message: OutboundMessage, context: SendContext): Promise<Receipt> {
  control.calls += 1;
  if (!control.hang) return Promise.resolve({ id: message.id });
  return new Promise<Receipt>((_, reject) => {
    const fail = (): void => reject(new BusgateError('broker_timeout', 'the switchable broker hangs; the outcome is unknown'));
    if (context.signal.aborted) fail();
    else context.signal.addEventListener('abort', fail, { once: true });
  });
}

const plugin: PluginFactory = {
  apiVersion: PLUGIN_API_VERSION,
  name: 'switchable',
  modes: ['pubsub', 'point-to-point'],
  optionsSchema: { type: 'object', properties: {}, additionalProperties: false },
  create(): BrokerPlugin {
    return {
      connect: () => Promise.resolve(),
      publish: (_destination, message, context) => send(message, context),
      enqueue: (_destination, message, context) => send(message, context),
      request: () => Promise.reject(new BusgateError('broker_rejected', 'no request-reply here')),
      subscribe: () => Promise.resolve({ close: () => Promise.resolve() }),
      respond: () => Promise.resolve({ close: () => Promise.resolve() }),
      health: () => ({ up: true, detail: control.hang ? 'hanging' : 'fine' }),
      close: () => Promise.resolve(),
    };
  },
};

export default plugin;
