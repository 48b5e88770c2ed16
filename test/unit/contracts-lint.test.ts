/** The contract keys of a route (schema, cloudevents, batch) in the routes linter. */
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { lintRoutes, type BrokerCatalog } from '../../core/routes/lint.js';
import { formatProblem } from '../../core/routes/model.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures', import.meta.url));
const catalog: BrokerCatalog = new Map([['memory', { modes: ['pubsub', 'point-to-point', 'request-reply'] as const }]]);

function route(extra: string, mode = 'pubsub'): string {
  return `routes:\n  - path: /orders\n    broker: memory\n    mode: ${mode}\n    destination: orders\n${extra}`;
}
const lint = (text: string) => lintRoutes(text, catalog, { baseDir: fixtures });
const lines = (text: string): string[] => lint(text).problems.map((p) => formatProblem('routes.yaml', p));

describe('routes linter: contract keys', () => {
  it('compiles a schema file relative to the routes file, once', () => {
    const { routes, problems } = lint(route('    schema: ./schemas/order.json\n'));
    expect(problems).to.deep.equal([]);
    expect(routes[0]!.contract.bodySchema?.source).to.equal('./schemas/order.json');
    expect(routes[0]!.contract.bodySchema?.check({ orderId: 'x' })).to.not.be.empty;
  });

  it('takes an inline schema', () => {
    const { routes, problems } = lint(route('    schema:\n      type: object\n      required: [id]\n'));
    expect(problems).to.deep.equal([]);
    expect(routes[0]!.contract.bodySchema?.check({})).to.deep.equal([{ pointer: '/id', problem: 'is required' }]);
  });

  it('reports a missing schema file at the schema value, with line and column', () => {
    expect(lines(route('    schema: ./schemas/nowhere.json\n'))).to.deep.equal([
      'routes.yaml:6:13 schema_not_found cannot read schema ./schemas/nowhere.json: no such file',
    ]);
  });

  it('reports a schema file that is not JSON with the position inside it', () => {
    const [line] = lines(route('    schema: ./schemas/broken-json.json\n'));
    expect(line).to.match(/^routes\.yaml:6:13 schema_invalid \.\/schemas\/broken-json\.json:5:3 is not valid JSON/);
  });

  it('reports a schema that is not usable draft 2020-12 (unknown keyword, bad type)', () => {
    expect(lines(route('    schema: ./schemas/unknown-keyword.json\n'))[0]).to.match(/^routes\.yaml:6:13 schema_invalid .*unknown keyword: "propertiez"/);
    expect(lines(route('    schema: { type: objekt }\n'))[0]).to.match(/^routes\.yaml:6:13 schema_invalid the inline schema/);
  });

  it('checks cloudevents and batch values', () => {
    expect(lines(route('    cloudevents: sometimes\n'))).to.deep.equal(['routes.yaml:6:18 bad_cloudevents cloudevents must be one of required, accepted, off']);
    expect(lines(route('    batch: { maxEntries: 0 }\n'))[0]).to.match(/^routes\.yaml:6:12 bad_batch batch must be/);
    expect(lines(route('    batch: true\n', 'request-reply'))[0]).to.match(/^routes\.yaml:6:12 bad_batch a request-reply route cannot batch/);
    const { routes } = lint(route('    cloudevents: required\n    batch: { maxEntries: 50 }\n'));
    expect(routes[0]!.contract).to.include({ cloudEvents: 'required' });
    expect(routes[0]!.contract.batch).to.deep.equal({ maxEntries: 50 });
  });

  it('defaults to no schema, cloudevents accepted, no batch', () => {
    const { routes } = lint(route(''));
    expect(routes[0]!.contract).to.deep.equal({ bodySchema: undefined, cloudEvents: 'accepted', batch: undefined });
  });
});
