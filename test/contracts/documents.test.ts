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
import type { PluginFactory } from '../../core/plugins/contract.js';
import { lintRoutes } from '../../core/routes/lint.js';
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

  it('turns express paths, optional groups included, into OpenAPI paths', () => {
    expect(pathVariants('/a/:b/*rest')).to.deep.equal([{ path: '/a/{b}/{rest}', params: ['b', 'rest'] }]);
    expect(pathVariants('/files{/:name}').map((v) => v.path)).to.deep.equal(['/files', '/files/{name}']);
  });
});
