import fs from 'node:fs';
import { expect } from 'chai';
import { brokerNamesIn, lintRoutes, type BrokerCatalog } from '../../core/routes/lint.js';
import { formatProblem } from '../../core/routes/model.js';
import { catalogOf } from '../../core/brokers/instances.js';
import type { PluginFactory } from '../../core/plugins/contract.js';
import kafka from '../../plugins/kafka/index.js';
import nats from '../../plugins/nats/index.js';
import rabbitmq from '../../plugins/rabbitmq/index.js';

const fixture = (name: string): string => fs.readFileSync(new URL(`../../../test/fixtures/routes/${name}`, import.meta.url), 'utf8');

const catalog: BrokerCatalog = new Map([
  ['memory', { modes: ['pubsub', 'point-to-point', 'request-reply'] as const }],
  ['limited', { modes: ['pubsub'] as const }],
]);

describe('routes linter', () => {
  it('reports every problem of a broken file with its line and column', () => {
    const { routes, problems } = lintRoutes(fixture('broken.yaml'), catalog);
    expect(routes).to.be.empty;
    const expected = fixture('broken.expected').trim().split('\n');
    expect(problems.map((p) => `${p.line}:${p.col} ${p.code}`)).to.deep.equal(expected);
  });

  it('formats problems as FILE:LINE:COL code message', () => {
    const { problems } = lintRoutes('routes:\n  - path: /x\n    broker: memory\n    mode: pubsub\n    destination: x\n    bogus: 1\n', catalog);
    expect(problems).to.have.lengthOf(1);
    expect(formatProblem('routes.yaml', problems[0]!)).to.match(/^routes\.yaml:6:5 unknown_key unknown key "bogus"/);
  });

  it('reports YAML syntax errors with a position', () => {
    const { problems } = lintRoutes('routes:\n  - path: /x\n   broker: [unclosed\n', catalog);
    expect(problems[0]!.code).to.equal('yaml_syntax');
    expect(problems[0]!.line).to.be.greaterThan(1);
  });

  it('accepts the shipped routes.yaml and compiles its routes', () => {
    const { routes, problems } = lintRoutes(fs.readFileSync(new URL('../../../routes.yaml', import.meta.url), 'utf8'), catalog);
    expect(problems).to.deep.equal([]);
    expect(routes.map((r) => r.name)).to.include.members(['events', 'jobs', 'echo', 'send']);
  });

  it('defaults method to POST and name to "METHOD path", and compiles a client choice', () => {
    const { routes, problems } = lintRoutes(
      'routes:\n  - path: /:broker/:mode/:destination\n    broker: "{broker}"\n    brokers: [memory]\n    mode: "{mode}"\n    destination: "{destination}"\n',
      catalog,
    );
    expect(problems).to.deep.equal([]);
    const [route] = routes;
    expect(route!.method).to.equal('POST');
    expect(route!.name).to.equal('POST /:broker/:mode/:destination');
    expect(route!.broker).to.deep.include({ kind: 'chosen', allowed: ['memory'] });
    expect(route!.mode).to.deep.include({ kind: 'chosen', allowed: ['pubsub', 'point-to-point', 'request-reply'] });
  });

  it('refuses a chosen mode outside what every allowed broker can do', () => {
    const { problems } = lintRoutes(
      'routes:\n  - path: /:mode\n    broker: limited\n    mode: "{mode}"\n    modes: [pubsub, request-reply]\n    destination: x\n',
      catalog,
    );
    expect(problems.map((p) => p.code)).to.deep.equal(['mode_not_supported']);
  });

  it('refuses headers the core reserves on every route, and those a plugin reserves on routes to its brokers', () => {
    const withReserved: BrokerCatalog = new Map([...catalog, ['controlled', { modes: ['pubsub'] as const, reservedHeaders: ['ctl-*', 'reply-to'] }]]);
    const lint = (broker: string, headers: string): string[] =>
      lintRoutes(`routes:\n  - path: /x\n    broker: ${broker}\n    mode: pubsub\n    destination: x\n    headers: [${headers}]\n`, withReserved).problems.map(
        (p) => p.code,
      );
    expect(lint('controlled', 'ctl-seq')).to.deep.equal(['reserved_header']);
    expect(lint('controlled', 'Reply-To')).to.deep.equal(['reserved_header']);
    expect(lint('memory', 'ctl-seq, reply-to')).to.deep.equal([]);
    expect(lint('memory', 'authorization')).to.deep.equal(['reserved_header']);
    expect(lint('memory', 'busgate-id')).to.deep.equal(['reserved_header']);
  });

  it("parses route options once per broker the route can reach, with that broker's defaults", () => {
    const schema = (fallback: string): Record<string, unknown> => ({
      type: 'object',
      additionalProperties: false,
      properties: { tier: { type: 'string', default: fallback } },
    });
    const twoSchemas: BrokerCatalog = new Map([
      ['a', { modes: ['pubsub'] as const, routeOptionsSchema: schema('gold') }],
      ['b', { modes: ['pubsub'] as const, routeOptionsSchema: schema('silver') }],
    ]);
    const { routes, problems } = lintRoutes(
      'routes:\n  - path: /:b\n    broker: "{b}"\n    brokers: [a, b]\n    mode: pubsub\n    destination: x\n',
      twoSchemas,
    );
    expect(problems).to.deep.equal([]);
    expect(Object.fromEntries(routes[0]!.brokerOptions)).to.deep.equal({ a: { tier: 'gold' }, b: { tier: 'silver' } });
  });

  it('lists the broker names a file uses, so only their plugins load', () => {
    expect([...brokerNamesIn(fixture('broken.yaml'))].sort()).to.deep.equal(['limited', 'memory', 'nowhere']);
  });

  describe('naming rules the plugins declare, applied when the routes load', () => {
    const declared = catalogOf(
      new Map(
        Object.entries({ nats, kafka, rabbitmq, memory: undefined }).map(([name, factory]) => [
          name,
          { name, factory: (factory ?? { modes: ['pubsub'] }) as PluginFactory<never>, options: {} },
        ]),
      ),
    );
    const lint = (route: string): string[] => lintRoutes(`routes:\n  - path: /x/:id\n${route}`, declared).problems.map((p) => `${p.line}:${p.col} ${p.code}`);

    it('refuses a fixed destination its broker can never publish to, at the value', () => {
      expect(lint('    broker: nats\n    mode: pubsub\n    destination: "orders.*"\n')).to.deep.equal(['5:18 bad_destination']);
      expect(lint(`    broker: kafka\n    mode: pubsub\n    destination: ${'t'.repeat(250)}\n`)).to.deep.equal(['5:18 bad_destination']);
      expect(lint('    broker: kafka\n    mode: pubsub\n    destination: __consumer_offsets\n')).to.deep.equal(['5:18 bad_destination']);
    });

    it("refuses a fixed key over its broker's limit", () => {
      expect(lint(`    broker: rabbitmq\n    mode: pubsub\n    destination: amq.topic\n    key: ${'k'.repeat(256)}\n`)).to.deep.equal(['6:10 bad_key']);
      expect(lint(`    broker: kafka\n    mode: pubsub\n    destination: orders\n    key: ${'k'.repeat(1025)}\n`)).to.deep.equal(['6:10 bad_key']);
    });

    it('refuses a template whose literal text fails whatever the request sends, and accepts what one value can make valid', () => {
      expect(lint('    broker: nats\n    mode: pubsub\n    destination: "orders.>.{id}"\n')).to.deep.equal(['5:18 bad_destination']);
      const message = lintRoutes('routes:\n  - path: /x/:id\n    broker: nats\n    mode: pubsub\n    destination: "$JS.{id}"\n', declared).problems[0]?.message;
      expect(message).to.match(/cannot be valid on broker "nats" whatever the request sends/);
      expect(lint('    broker: nats\n    mode: pubsub\n    destination: "orders.{id}"\n    key: "{id}"\n')).to.deep.equal([]);
      expect(lint('    broker: kafka\n    mode: pubsub\n    destination: "orders.{id}"\n')).to.deep.equal([]);
    });

    it('checks every broker a route may choose, and leaves brokers without rules alone', () => {
      const route = '    broker: "{b}"\n    brokers: [nats, rabbitmq]\n    mode: pubsub\n    destination: "a b"\n';
      const problems = lintRoutes(`routes:\n  - path: /:b/:id\n${route}`, declared).problems;
      expect(problems.map((p) => p.code)).to.deep.equal(['bad_destination']);
      expect(problems[0]!.message).to.match(/broker "nats"/);
      expect(lint('    broker: memory\n    mode: pubsub\n    destination: "any thing#"\n')).to.deep.equal([]);
    });
  });
});
