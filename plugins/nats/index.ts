/**
 * busgate's NATS plugin: core NATS for pubsub and request-reply, JetStream for persistent pubsub
 * and for point-to-point work queues. See README.md in this folder for the mapping and contract.
 */
import { natsContracts } from './contracts.js';
import manifest from './plugin.json' with { type: 'json' };
import { PLUGIN_API_VERSION, type PluginFactory } from '../../core/plugins/contract.js';
import { NatsBroker } from './broker.js';
import { claimStore } from './claim-store.js';
import { natsHistory } from './history.js';
import { optionsSchema, routeOptionsSchema, type NatsOptions } from './options.js';
import { checkDestination, isSafeToken } from './names.js';

const nats: PluginFactory<NatsOptions> = {
  apiVersion: PLUGIN_API_VERSION,
  name: manifest.name,
  description: manifest.description,
  modes: ['pubsub', 'point-to-point', 'request-reply'],
  optionsSchema,
  routeOptionsSchema,
  isSafeToken: (value) => isSafeToken(value),
  checkDestination,
  ...natsContracts,
  // JetStream reads Nats-Msg-Id, Nats-Expected-* and rollup headers as instructions.
  reservedHeaders: ['nats-*'],
  // IDEMPOTENCY_STORE=nats://…: idempotency keys in a JetStream KV bucket (claim-store.ts).
  claimStore,
  // Groups are JetStream durables; a pending handler is kept alive with in-progress acks.
  egress: {
    durableGroups: true,
    concurrentHandlers: true,
    orderingKey: "the busgate-key header (set from a route's key)",
    // A pubsub subscription reads the stream a persistent route writes: check for that stream.
    sourceCheckOptions: { pubsub: { persistent: true } },
    // Streams resume from the JetStream stream of a persistent source (history.ts).
    history: natsHistory,
  },
  create: (options, context) => new NatsBroker(options, context),
};

export default nats;
