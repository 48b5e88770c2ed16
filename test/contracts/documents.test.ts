/**
 * The OpenAPI and AsyncAPI documents of a routes file that uses every route feature, checked with
 * the reference validators: @seriousme/openapi-schema-validator (OpenAPI 3.1 schema) and
 * @asyncapi/parser (AsyncAPI 3 schema plus its semantic rules).
 */
import { fileURLToPath } from 'node:url';
import { Parser } from '@asyncapi/parser';
import { Validator } from '@seriousme/openapi-schema-validator';
import { expect } from 'chai';
import { buildAsyncApi } from '../../core/contracts/asyncapi.js';
import { buildOpenApi, pathVariants } from '../../core/contracts/openapi.js';
import { receiverOperations } from '../../core/contracts/openapi-receivers.js';
import type { PluginFactory } from '../../core/plugins/contract.js';
import { lintSubscriptions } from '../../core/egress/lint.js';
import type { PullSpec } from '../../core/pulls/model.js';
import { lintRoutes } from '../../core/routes/lint.js';
import type { StreamSpec } from '../../core/streams/model.js';
import kafka from '../../plugins/kafka/index.js';
import memory from '../../plugins/memory/index.js';
import nats from '../../plugins/nats/index.js';
import rabbitmq from '../../plugins/rabbitmq/index.js';

/** By package name only, as the daemon loads it (a static import would pull its types into this build). */
const MQTT_PLUGIN: string = 'busgate-plugin-mqtt';

const fixtures = fileURLToPath(new URL('../../../test/fixtures', import.meta.url));

export const EVERY_FEATURE = `routes:
  - name: orders
    path: /orders/:region
    broker: kafka
    mode: pubsub
    destination: orders.{region}
    key: "{header.x-customer}"
    headers: [x-source]
    schema: ./schemas/order.json
    rateLimit: { perSecond: 10 }
    options: { partition: 0 }
  - name: jobs
    path: /jobs/:queue
    broker: rabbitmq
    mode: point-to-point
    destination: jobs.{queue}
    cloudevents: required
    batch: { maxEntries: 50 }
  - name: fanout
    path: /fanout
    broker: rabbitmq
    mode: pubsub
    destination: fanout
    options: { exchangeType: fanout }
    cloudevents: off
  - name: ask
    path: /ask
    broker: nats
    mode: request-reply
    destination: svc.ask
    timeout: 2s
  - name: events
    path: /events{/:kind}
    broker: nats
    mode: pubsub
    destination: events
    batch: true
    schema:
      type: object
      required: [kind]
      properties: { kind: { type: string } }
  - name: sensors
    path: /sensors/:room
    broker: mqtt
    mode: pubsub
    destination: sensors/{room}
  - name: choose
    path: /send/:broker/:destination
    broker: "{broker}"
    brokers: [memory, kafka, nats, rabbitmq]
    mode: "{header.x-mode}"
    modes: [pubsub, point-to-point]
    destination: "{destination}"
`;

/** Subscriptions on every egress broker: one on a channel a route sends to, the others on their own. */
const WITH_SUBSCRIPTIONS = `${EVERY_FEATURE}subscriptions:
  - name: order-audit
    broker: kafka
    source: orders.eu
    mode: pubsub
    group: audit
    deliver: { url: "http://127.0.0.1:9/orders", cloudevents: binary, eventType: com.example.order }
    deadLetter: orders.dead
  - name: billing
    broker: rabbitmq
    source: jobs.billing
    mode: point-to-point
    deliver: { url: "http://127.0.0.1:9/billing", cloudevents: structured }
    deadLetter: jobs.dead
  - name: event-feed
    broker: nats
    source: events
    mode: pubsub
    deliver: { url: "http://127.0.0.1:9/events" }
    deadLetter: events.dead
  - name: local
    broker: memory
    source: local.audit
    mode: point-to-point
    deliver: { url: "http://127.0.0.1:9/local" }
    deadLetter: local.dead
`;

const factories = { kafka, rabbitmq, nats, memory } as unknown as Record<string, PluginFactory<never>>;
let declarations = new Map<string, { contracts: PluginFactory<never> }>();
let catalog = new Map<string, { modes: PluginFactory<never>['modes']; routeOptionsSchema: PluginFactory<never>['routeOptionsSchema'] }>();

function routes() {
  const { routes: linted, problems } = lintRoutes(EVERY_FEATURE, catalog, { baseDir: fixtures, clients: [] });
  expect(problems).to.deep.equal([]);
  return linted;
}

describe('contract documents', function () {
  this.timeout(20_000);

  before(async () => {
    factories.mqtt = ((await import(MQTT_PLUGIN)) as { default: PluginFactory<never> }).default;
    declarations = new Map(Object.entries(factories).map(([name, factory]) => [name, { contracts: factory }]));
    catalog = new Map(Object.entries(factories).map(([name, factory]) => [name, { modes: factory.modes, routeOptionsSchema: factory.routeOptionsSchema }]));
  });

  it('OpenAPI 3.1: valid, with parameters, header choices, schemas, responses and security', async () => {
    const document = buildOpenApi(routes(), declarations, { apiKeys: true });
    const result = await new Validator().validate(structuredClone(document));
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)?.slice(0, 2000)).to.deep.equal([]);
    expect(result.valid).to.equal(true);
    const paths = document.paths as Record<
      string,
      Record<
        string,
        {
          parameters: Array<{ name: string; in: string; required: boolean; schema: { enum?: string[] } }>;
          requestBody: { content: Record<string, unknown> };
          responses: Record<string, unknown>;
        }
      >
    >;
    expect(Object.keys(paths)).to.include.members([
      '/orders/{region}',
      '/jobs/{queue}',
      '/events',
      '/events/{kind}',
      '/send/{broker}/{destination}',
      '/ask',
      '/fanout',
    ]);
    const orders = paths['/orders/{region}']!.post!;
    expect(orders.parameters.find((p) => p.name === 'x-customer')).to.include({ in: 'header', required: true });
    expect(orders.requestBody.content['application/json']).to.deep.equal({ schema: { $ref: '#/components/schemas/orders.body' } });
    expect(Object.keys(orders.responses)).to.include.members(['202', '400', '413', '422', '429', '503', '504']);
    const choose = paths['/send/{broker}/{destination}']!.post!;
    expect(choose.parameters.find((p) => p.name === 'broker')!.schema.enum).to.deep.equal(['memory', 'kafka', 'nats', 'rabbitmq']);
    expect(choose.parameters.find((p) => p.name === 'x-mode')!.schema.enum).to.deep.equal(['pubsub', 'point-to-point']);
    expect(Object.keys(paths['/jobs/{queue}']!.post!.requestBody.content)).to.include.members([
      'application/cloudevents+json',
      'application/cloudevents-batch+json',
      'application/x-ndjson',
      'application/vnd.busgate.batch+json',
    ]);
    expect(Object.keys(paths['/ask']!.post!.responses)).to.include.members(['200', '503', '504']);
    const schemas = (document.components as { schemas: Record<string, { allOf?: unknown[] }> }).schemas;
    // $defs refs of the schema file are re-rooted under its component.
    expect(JSON.stringify(schemas['orders.body'])).to.include('#/components/schemas/orders.body/$defs/address');
    expect(schemas['orders.receipt']!.allOf).to.have.lengthOf(2);
    expect(document.security).to.deep.equal([{ bearer: [] }, { apiKey: [] }]);
    const operationIds = Object.values(paths).flatMap((operations) =>
      Object.values(operations).map((op) => (op as unknown as { operationId: string }).operationId),
    );
    expect(new Set(operationIds).size, 'operationIds are unique').to.equal(operationIds.length);
  });

  it('OpenAPI 3.1: streams and pull paths, valid, each with its operations, parameters and error codes', async () => {
    const stream: StreamSpec = { path: '/streams/orders', broker: 'kafka', source: 'orders', clients: undefined, options: {}, line: 1 };
    const pull = (path: string, deadLetter: string | undefined): PullSpec => ({
      path,
      broker: 'nats',
      source: 'jobs',
      mode: 'point-to-point',
      group: 'workers',
      leaseMs: 30_000,
      maxHeld: 32,
      deadLetter,
      deadLetterOptions: {},
      clients: undefined,
      options: {},
      line: 2,
    });
    const document = buildOpenApi(routes(), declarations, {
      apiKeys: true,
      streams: [stream],
      pulls: [pull('/pull/jobs', 'jobs.dead'), pull('/pull/other', undefined)],
    });
    const result = await new Validator().validate(structuredClone(document));
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)?.slice(0, 2000)).to.deep.equal([]);
    type Operation = {
      operationId: string;
      parameters?: Array<{ name: string; in: string }>;
      responses: Record<string, { description: string }>;
      requestBody?: unknown;
    };
    const paths = document.paths as Record<string, Record<string, Operation>>;
    expect(Object.keys(paths['/streams/orders']!)).to.deep.equal(['get']);
    const get = paths['/streams/orders']!.get!;
    expect(get.parameters!.map(({ name, in: where }) => `${where}:${name}`)).to.deep.equal(['query:from', 'header:Last-Event-ID', 'header:Accept']);
    expect(Object.keys(get.responses)).to.deep.equal(['200', '400', '401', '403', '405', '406', '429', '503']);
    expect(get.responses['400']!.description).to.contain('bad_resume_position').and.contain('resume_not_supported');
    for (const suffix of ['', '/ack', '/nack']) expect(Object.keys(paths[`/pull/jobs${suffix}`]!)).to.deep.equal(['post']);
    expect(paths['/pull/jobs']!.post!.parameters!.map(({ name }) => name)).to.deep.equal(['max', 'wait']);
    expect(paths['/pull/jobs']!.post!.responses['429']!.description).to.contain('too_many_pulls');
    const nackBody = (
      paths['/pull/other/nack']!.post!.requestBody as { content: Record<string, { schema: { properties: Record<string, { description?: string }> } }> }
    ).content['application/json']!.schema;
    expect(nackBody.properties.requeue!.description).to.contain('no deadLetter');
    const schemas = (document.components as { schemas: Record<string, unknown> }).schemas;
    expect(schemas).to.include.keys('StreamMessage', 'StreamOpen', 'StreamClose', 'PulledMessages', 'SettleAnswer');
    expect(get.operationId).to.equal('streams_orders');
    expect(['', '/ack', '/nack'].map((suffix) => paths[`/pull/jobs${suffix}`]!.post!.operationId)).to.deep.equal([
      'pull_jobs',
      'pull_jobs_ack',
      'pull_jobs_nack',
    ]);
    const operationIds = Object.values(paths).flatMap((operations) => Object.values(operations).map((op) => op.operationId));
    expect(new Set(operationIds).size, 'operationIds are unique').to.equal(operationIds.length);
  });

  it('OpenAPI: a stream or pull operation named like a route gets a numbered operationId', () => {
    const stream: StreamSpec = { path: '/orders-feed', broker: 'kafka', source: 'orders', clients: undefined, options: {}, line: 1 };
    const named = receiverOperations([stream], [], false, new Set(['orders-feed', 'orders-feed_2']));
    expect((named.paths['/orders-feed']!.get as { operationId: string }).operationId).to.equal('orders-feed_3');
  });

  it('OpenAPI: no stream or pull schemas where there are none', () => {
    const schemas = (buildOpenApi(routes(), declarations, { apiKeys: false }).components as { schemas: Record<string, unknown> }).schemas;
    expect(schemas).to.not.have.any.keys('StreamMessage', 'PulledMessages');
  });

  it('OpenAPI: no security scheme without API keys', () => {
    expect(buildOpenApi(routes(), declarations, { apiKeys: false })).to.not.have.property('security');
  });

  it('AsyncAPI 3: valid per @asyncapi/parser, channels per broker and destination with parameters and bindings', async () => {
    const document = buildAsyncApi(routes(), declarations);
    const { document: parsed, diagnostics } = await new Parser().parse(JSON.stringify(document));
    const errors = diagnostics.filter((d) => Number(d.severity) === 0);
    expect(errors.map((d) => `${d.path.join('/')}: ${d.message}`)).to.deep.equal([]);
    expect(parsed).to.not.equal(undefined);
    const channels = document.channels as Record<
      string,
      { address: string; parameters?: Record<string, unknown>; bindings?: Record<string, Record<string, unknown>> }
    >;
    expect(channels['kafka.orders._region_']).to.deep.include({ address: 'orders.{region}' });
    expect(Object.keys(channels['kafka.orders._region_']!.parameters!)).to.deep.equal(['region']);
    expect(channels['rabbitmq.fanout']!.bindings!.amqp).to.deep.include({ is: 'routingKey' });
    expect((channels['rabbitmq.fanout']!.bindings!.amqp!.exchange as { type: string }).type).to.equal('fanout');
    expect(channels['rabbitmq.jobs._queue_']!.bindings!.amqp).to.deep.include({ is: 'queue' });
    // A client-chosen broker gives one channel per allowed broker.
    expect(Object.keys(channels).filter((key) => key.endsWith('._destination_'))).to.have.members([
      'memory._destination_',
      'kafka._destination_',
      'nats._destination_',
      'rabbitmq._destination_',
    ]);
    const messages = (
      document.components as { messages: Record<string, { headers: { properties: Record<string, unknown> }; bindings?: Record<string, { key?: unknown }> }> }
    ).messages;
    expect(messages['orders.kafka']!.bindings!.kafka!.key).to.deep.include({ type: 'string' });
    expect(Object.keys(messages['jobs.rabbitmq']!.headers.properties)).to.include('cloudEvents:id');
    expect(Object.keys(messages['choose.kafka']!.headers.properties)).to.include('ce_id');
    expect(channels['mqtt.sensors__room_']).to.deep.include({ address: 'sensors/{room}' });
    expect(Object.keys(messages['sensors.mqtt']!.headers.properties)).to.include('id');
    const operations = document.operations as Record<string, { action: string }>;
    expect((operations['sensors.mqtt.pubsub'] as unknown as { bindings: Record<string, unknown> }).bindings.mqtt).to.deep.include({ qos: 1 });
    expect(Object.values(operations).every((op) => op.action === 'send')).to.equal(true);
  });

  it('AsyncAPI 3: request-reply operations carry their reply, with the address and correlation where they are headers', async () => {
    const text =
      'routes:\n' +
      '  - { name: ask-kafka, path: /ask/kafka, broker: kafka, mode: request-reply, destination: svc.ask }\n' +
      '  - { name: ask-rabbit, path: /ask/rabbit, broker: rabbitmq, mode: request-reply, destination: svc.ask }\n' +
      '  - { name: ask-nats, path: /ask/nats, broker: nats, mode: "{header.x-mode}", modes: [pubsub, request-reply], destination: svc.ask }\n' +
      '  - { name: ask-memory, path: /ask/memory, broker: memory, mode: request-reply, destination: svc.ask }\n' +
      '  - { name: tell-kafka, path: /tell/kafka, broker: kafka, mode: pubsub, destination: svc.tell }\n';
    const { routes: linted, problems } = lintRoutes(text, catalog, { baseDir: fixtures, clients: [] });
    expect(problems).to.deep.equal([]);
    const document = buildAsyncApi(linted, declarations);
    const { diagnostics } = await new Parser().parse(JSON.stringify(document));
    expect(diagnostics.filter((d) => Number(d.severity) === 0).map((d) => `${d.path.join('/')}: ${d.message}`)).to.deep.equal([]);
    type Reply = { address?: { location: string }; channel: { $ref: string }; messages: Array<{ $ref: string }> };
    const operations = document.operations as Record<string, { reply?: Reply }>;
    const channels = document.channels as Record<string, { address: string | null; description?: string }>;
    const kafkaReply = operations['ask-kafka.kafka.request-reply']!.reply!;
    expect(kafkaReply.address).to.deep.include({ location: '$message.header#/reply-to' });
    expect(kafkaReply.channel).to.deep.equal({ $ref: '#/channels/replies.kafka' });
    expect(kafkaReply.messages).to.deep.equal([{ $ref: '#/channels/replies.kafka/messages/reply' }]);
    const messages = (document.components as { messages: Record<string, { correlationId?: { location: string } }> }).messages;
    expect(messages['ask-kafka.kafka']!.correlationId).to.deep.include({ location: '$message.header#/correlation-id' });
    expect(messages['tell-kafka.kafka']!.correlationId, 'a pubsub route has no correlation').to.equal(undefined);
    // Where the reply address is a protocol field, not a header, no runtime expression can name it: the description does.
    for (const [operation, broker, says] of [
      ['ask-rabbit.rabbitmq.request-reply', 'rabbitmq', 'reply_to property'],
      ['ask-nats.nats.request-reply', 'nats', 'reply subject'],
      ['ask-memory.memory.request-reply', 'memory', 'Writing a responder'],
    ] as const) {
      const reply = operations[operation]!.reply!;
      expect(reply.address, operation).to.equal(undefined);
      expect(reply.channel).to.deep.equal({ $ref: `#/channels/replies.${broker}` });
      expect(channels[`replies.${broker}`]!.address).to.equal(null);
      expect(channels[`replies.${broker}`]!.description).to.contain(says);
    }
    expect(operations['ask-nats.nats.pubsub']!.reply).to.equal(undefined);
    expect(operations['tell-kafka.kafka.pubsub']!.reply).to.equal(undefined);
  });

  it('AsyncAPI 3 with subscriptions: receive operations on their sources, still valid per @asyncapi/parser', async () => {
    const { routes: linted, problems } = lintRoutes(WITH_SUBSCRIPTIONS, catalog, { baseDir: fixtures, clients: [] });
    expect(problems).to.deep.equal([]);
    const egressCatalog = new Map(
      Object.entries(factories).map(([name, factory]) => [
        name,
        { egress: factory.egress, routeOptionsSchema: factory.routeOptionsSchema, checkDestination: factory.checkDestination?.bind(factory) },
      ]),
    );
    const linted2 = lintSubscriptions(WITH_SUBSCRIPTIONS, egressCatalog);
    expect(linted2.problems).to.deep.equal([]);
    const document = buildAsyncApi(linted, declarations, { subscriptions: linted2.subscriptions });
    const { diagnostics } = await new Parser().parse(JSON.stringify(document));
    const errors = diagnostics.filter((d) => Number(d.severity) === 0);
    expect(errors.map((d) => `${d.path.join('/')}: ${d.message}`)).to.deep.equal([]);
    const operations = document.operations as Record<string, { action: string; channel: { $ref: string }; messages: { $ref: string }[] }>;
    const receives = Object.entries(operations).filter(([, op]) => op.action === 'receive');
    expect(receives.map(([name]) => name)).to.have.members([
      'subscription.order-audit.receive',
      'subscription.billing.receive',
      'subscription.event-feed.receive',
      'subscription.local.receive',
    ]);
    const channels = document.channels as Record<
      string,
      { address: string; bindings?: Record<string, Record<string, unknown>>; messages: Record<string, unknown> }
    >;
    // A source no route sends to gets its own channel, with the broker's bindings.
    expect(operations['subscription.billing.receive']!.channel.$ref).to.equal('#/channels/rabbitmq.jobs.billing');
    expect(channels['rabbitmq.jobs.billing']).to.deep.include({ address: 'jobs.billing' });
    expect(channels['rabbitmq.jobs.billing']!.bindings!.amqp).to.deep.include({ is: 'queue' });
    const messages = (document.components as { messages: Record<string, { bindings?: Record<string, unknown> }> }).messages;
    expect(messages['subscription.order-audit']!.bindings).to.have.property('kafka');
    expect(operations['subscription.local.receive']!.channel.$ref).to.equal('#/channels/memory.local.audit');
    // The NATS source is a route's destination too: the receive lists that route's message as well.
    expect(operations['subscription.event-feed.receive']!.channel.$ref).to.equal('#/channels/nats.events');
    expect(operations['subscription.event-feed.receive']!.messages.map((m) => m.$ref)).to.include.members([
      '#/channels/nats.events/messages/events.nats',
      '#/channels/nats.events/messages/subscription.event-feed',
    ]);
    // Webhook URLs (credentials may sit in them) never appear in the document.
    expect(JSON.stringify(document)).to.not.include('127.0.0.1:9');
  });

  it('turns express paths, optional groups included, into OpenAPI paths', () => {
    expect(pathVariants('/a/:b/*rest')).to.deep.equal([{ path: '/a/{b}/{rest}', params: ['b', 'rest'] }]);
    expect(pathVariants('/files{/:name}').map((v) => v.path)).to.deep.equal(['/files', '/files/{name}']);
  });
});
