/** The streams linter: the example, and each problem at its line and column. */
import { expect } from 'chai';
import type { EgressCatalog } from '../../core/egress/lint.js';
import { lintStreams } from '../../core/streams/lint.js';

const catalog: EgressCatalog = new Map([
  [
    'kafka',
    {
      egress: { durableGroups: true, concurrentHandlers: true, orderingKey: 'the record key' },
      checkDestination: (d: string) => (/^[a-zA-Z0-9._-]+$/.test(d) ? undefined : 'not a topic name'),
    },
  ],
  ['noegress', { egress: undefined }],
]);

describe('streams linter', () => {
  it('accepts the issue example', () => {
    const text = 'streams:\n  - path: /streams/orders\n    broker: kafka\n    source: orders\n    clients: [dashboard]\n';
    const { streams, problems } = lintStreams(text, catalog, { clients: ['dashboard'] });
    expect(problems).to.deep.equal([]);
    expect(streams).to.deep.equal([{ path: '/streams/orders', broker: 'kafka', source: 'orders', clients: ['dashboard'], options: {}, line: 2 }]);
  });

  it('reports every problem with its line, column and code', () => {
    const text = [
      'routes:',
      '  - path: /pub',
      'streams:',
      '  - path: /pub',
      '    broker: kafka',
      '    source: orders',
      '  - path: /health',
      '    broker: nowhere',
      '    source: x',
      '    colour: red',
      '  - path: /s',
      '    broker: noegress',
      '    source: x',
      '  - path: /t',
      '    broker: kafka',
      '    source: "bad topic"',
      '    clients: [stranger]',
      '    options: { a: 1 }',
      '  - broker: kafka',
      '',
    ].join('\n');
    const { streams, problems } = lintStreams(text, catalog, { clients: ['dashboard'], declared: ['kafka', 'noegress'] });
    expect(streams).to.deep.equal([]);
    expect(problems.map(({ line, col, code }) => `${line}:${col} ${code}`)).to.deep.equal([
      '4:11 duplicate_path',
      '7:11 bad_path',
      '8:13 unknown_broker',
      '10:5 unknown_key',
      '12:13 egress_not_supported',
      '16:13 bad_destination',
      '17:14 unknown_client',
      '18:14 bad_option',
      '19:5 missing_key',
    ]);
  });
});
