/** The pulls linter: the example, defaults, and each problem at its line and column. */
import { expect } from 'chai';
import type { EgressCatalog } from '../../core/egress/lint.js';
import { lintPulls } from '../../core/pulls/lint.js';
import { PULL_DEFAULTS } from '../../core/pulls/model.js';

const catalog: EgressCatalog = new Map([
  [
    'nats',
    {
      egress: { durableGroups: true, concurrentHandlers: true, orderingKey: 'the subject' },
      checkDestination: (d: string) => (/^[a-zA-Z0-9._-]+$/.test(d) ? undefined : 'not a subject'),
    },
  ],
  ['memory', { egress: { durableGroups: false, concurrentHandlers: true, orderingKey: 'the key' } }],
  ['noegress', { egress: undefined }],
]);

describe('pulls linter', () => {
  it('accepts the issue example, with defaults filled in', () => {
    const text = 'pulls:\n  - path: /pull/jobs\n    broker: nats\n    source: jobs\n    group: workers\n    lease: 30s\n    clients: [worker]\n';
    const { pulls, problems } = lintPulls(text, catalog, { clients: ['worker'] });
    expect(problems).to.deep.equal([]);
    expect(pulls).to.deep.equal([
      {
        path: '/pull/jobs',
        broker: 'nats',
        source: 'jobs',
        mode: 'point-to-point',
        group: 'workers',
        leaseMs: 30_000,
        maxHeld: PULL_DEFAULTS.maxHeld,
        deadLetter: undefined,
        deadLetterOptions: {},
        clients: ['worker'],
        options: {},
        line: 2,
      },
    ]);
  });

  it('reports every problem with its line, column and code', () => {
    const text = [
      'routes:',
      '  - path: /pull/a/ack',
      'streams:',
      '  - path: /s',
      'pulls:',
      '  - path: /pull/a',
      '    broker: nats',
      '    source: a',
      '    group: g',
      '  - path: /health',
      '    broker: nowhere',
      '    source: x',
      '    colour: red',
      '  - path: /p/ack',
      '    broker: noegress',
      '    source: x',
      '  - path: /t',
      '    broker: nats',
      '    source: "bad subject"',
      '    mode: fanout',
      '    lease: 10ms',
      '    maxHeld: 0',
      '    clients: [stranger]',
      '    deadLetter: "bad letter"',
      '  - path: /m',
      '    broker: memory',
      '    source: q',
      '    group: g',
      '    mode: pubsub',
      '  - path: /n',
      '    broker: nats',
      '    source: q',
      '    mode: pubsub',
      '    options: [1]',
      '  - path: /s',
      '    broker: nats',
      '    source: q',
      '    group: g',
      '  - broker: nats',
      '',
    ].join('\n');
    const { pulls, problems } = lintPulls(text, catalog, { clients: ['worker'], declared: ['nats', 'memory', 'noegress'] });
    expect(pulls).to.deep.equal([]);
    expect(problems.map(({ line, col, code }) => `${line}:${col} ${code}`)).to.deep.equal([
      '6:11 duplicate_path',
      '10:11 bad_path',
      '11:13 unknown_broker',
      '13:5 unknown_key',
      '14:11 bad_path',
      '15:13 egress_not_supported',
      '17:5 missing_key',
      '19:13 bad_destination',
      '20:11 unknown_mode',
      '21:12 bad_duration',
      '22:14 bad_number',
      '23:14 unknown_client',
      '24:17 bad_destination',
      '28:12 no_durable_groups',
      '29:11 no_durable_groups',
      '30:5 missing_key',
      '34:14 wrong_type',
      '35:11 duplicate_path',
      '39:5 missing_key',
    ]);
  });

  it('has nothing to say about a file without pulls, and refuses a pulls value that is not a list', () => {
    expect(lintPulls('routes: []\n', catalog)).to.deep.equal({ pulls: [], problems: [] });
    expect(lintPulls('pulls: {}\n', catalog).problems.map(({ code }) => code)).to.deep.equal(['wrong_type']);
  });
});
