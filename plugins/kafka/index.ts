/**
 * Apache Kafka through kafkajs. Tested against Apache Kafka 3.9 (KRaft); see README.md for
 * options, how each mode maps to Kafka, and the responder contract.
 */
import { MODES, PLUGIN_API_VERSION, type PluginFactory } from '../../core/plugins/contract.js';
import { KafkaBroker } from './kafka-broker.js';
import { optionsSchema, routeOptionsSchema, type KafkaOptions } from './options.js';
import { checkDestination, isSafeToken } from './topic-names.js';

const kafka: PluginFactory<KafkaOptions> = {
  apiVersion: PLUGIN_API_VERSION,
  name: 'kafka',
  description: 'Apache Kafka via kafkajs: acks=all idempotent produce, consumer groups, request-reply over a reply topic',
  modes: MODES,
  optionsSchema,
  routeOptionsSchema,
  isSafeToken,
  checkDestination,
  // A held message keeps its partition's offset uncommitted; the member heartbeats meanwhile.
  egress: { durableGroups: true, concurrentHandlers: true, orderingKey: 'the record key' },
  create: (options, context) => new KafkaBroker(options, context),
};

export default kafka;
