/** busgate's built-in RabbitMQ plugin (AMQP 0-9-1 via amqplib). See README.md next to this file. */
import { rabbitmqContracts } from './contracts.js';
import manifest from './plugin.json' with { type: 'json' };
import { PLUGIN_API_VERSION, type PluginFactory } from '../../core/plugins/contract.js';
import { RabbitMqBroker } from './broker.js';
import { optionsSchema, resolveOptions, routeOptionsSchema } from './options.js';
import { checkDestination, checkKey, isSafeToken } from './names.js';

const rabbitmq: PluginFactory = {
  apiVersion: PLUGIN_API_VERSION,
  name: manifest.name,
  description: manifest.description,
  modes: ['pubsub', 'point-to-point', 'request-reply'],
  optionsSchema,
  routeOptionsSchema,
  isSafeToken,
  checkDestination,
  checkKey,
  ...rabbitmqContracts,
  // A held message is an unacked delivery under the consumer's prefetch (= maxInFlight).
  egress: {
    durableGroups: true,
    concurrentHandlers: true,
    orderingKey: "the routing key; on a queue fed through the default exchange, the route's key (busgate-key header)",
  },
  create: (options, context) => new RabbitMqBroker(resolveOptions(options), context),
};

export default rabbitmq;
