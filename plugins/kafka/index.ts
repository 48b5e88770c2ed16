/**
 * Apache Kafka through kafkajs. Tested against Apache Kafka 3.9 (KRaft); see README.md for
 * options, how each mode maps to Kafka, and the responder contract.
 */
import { kafkaContracts } from './contracts.js';
import manifest from './plugin.json' with { type: 'json' };
import { MODES, PLUGIN_API_VERSION, type PluginFactory } from '../../core/plugins/contract.js';
import { KafkaBroker } from './broker.js';
import { kafkaHistory } from './history.js';
import { optionsSchema, routeOptionsSchema, type KafkaOptions } from './options.js';
import { PLUGIN_HEADERS } from './messages.js';
import { checkDestination, checkKey, isSafeToken } from './names.js';

const kafka: PluginFactory<KafkaOptions> = {
  apiVersion: PLUGIN_API_VERSION,
  name: manifest.name,
  description: manifest.description,
  modes: MODES,
  optionsSchema,
  routeOptionsSchema,
  isSafeToken,
  checkDestination,
  checkKey,
  ...kafkaContracts,
  // Every client's replies travel on it: no route may write to it, no tap may read it.
  reservedDestinations: (options) => [options.replyTopic],
  reservedHeaders: PLUGIN_HEADERS,
  // A held message keeps its partition's offset uncommitted; the member heartbeats meanwhile.
  // Topics keep their records: streams resume from a per-partition offset token (history.ts).
  egress: { durableGroups: true, concurrentHandlers: true, orderingKey: 'the record key', history: kafkaHistory },
  create: (options, context) => new KafkaBroker(options, context),
};

export default kafka;
