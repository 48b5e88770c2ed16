/**
 * The route trie must pick exactly the routes the old linear scan picked: for every probe path,
 * the candidates the trie returns, confirmed by each route's own matcher, are the routes whose
 * matcher accepts the path, in file order. Random paths are built from the routes' own pieces so
 * that most of them come close to matching.
 */
import { expect } from 'chai';
import { match } from 'path-to-regexp';
import { RouteTrie } from '../../core/http/router.js';
import { Random } from '../support/random.js';

const PATTERNS = [
  '/',
  '/events/:topic',
  '/events/special',
  '/Events/Upper',
  '/jobs/:queue/run',
  '/jobs/:queue/:action',
  '/send/:broker/:mode/:destination',
  '/files/*rest',
  '/a{/:b}',
  '/a/{:b}',
  '/opt/:x{.:ext}',
  '/v:version/items',
  '/dots/:a.:b',
  '/esc\\:aped/:p',
  '/trail/',
  '/double//slash',
  '/caf\u00e9/:x',
  '/deep/:a/:b/:c/:d/end',
  '/deep/x/y/z/w/end',
  '/:any',
  '/:any/tail',
];

const PIECES = [
  '',
  'events',
  'EVENTS',
  'special',
  'upper',
  'jobs',
  'run',
  'send',
  'files',
  'a',
  'b',
  'opt',
  'f.json',
  'v1',
  'vX',
  'items',
  'dots',
  'x.y',
  'esc:aped',
  'trail',
  'double',
  'slash',
  'caf%C3%A9',
  'café',
  'deep',
  'x',
  'y',
  'z',
  'w',
  'end',
  'tail',
  '%41',
  '%zz',
  'q',
];

function linearScan(matchers: Array<(path: string) => unknown>, path: string): number[] {
  const found: number[] = [];
  matchers.forEach((m, i) => {
    try {
      if (m(path) !== false) found.push(i);
    } catch {
      found.push(i); // a matched path whose parameters fail to decode: the ingress answers 400 for it
    }
  });
  return found;
}

describe('route trie', () => {
  const trie = new RouteTrie<number>();
  PATTERNS.forEach((pattern, i) => trie.add(pattern, i));
  const matchers = PATTERNS.map((pattern) => match(pattern, { decode: decodeURIComponent }));
  const confirmed = (path: string): number[] => linearScan(matchers, path).filter((i) => trie.candidates(path).includes(i));

  it('finds, for fixed paths, exactly the routes the linear scan finds, in file order', () => {
    const probes = [
      '/',
      '//',
      '/events/x',
      '/EVENTS/special/',
      '/events/special',
      '/events/',
      '/events//',
      '/events/x/y',
      '/jobs/q/run',
      '/jobs/q/stop/',
      '/files/',
      '/files/a/b/',
      '/a',
      '/a/',
      '/a/b',
      '/opt/f',
      '/opt/f.json',
      '/v1/items',
      '/dots/x.y',
      '/esc:aped/p',
      '/trail/',
      '/trail//',
      '/trail',
      '/double//slash',
      '/caf%C3%A9/x',
      '/deep/x/y/z/w/end',
      '/deep/1/2/3/4/end/',
      'noslash',
      '*',
      '/%zz',
      '/events/%zz',
    ];
    for (const path of probes) {
      const expected = linearScan(matchers, path);
      expect(confirmed(path), path).to.deep.equal(expected);
      const candidates = trie.candidates(path);
      expect(
        [...candidates].sort((a, b) => a - b),
        `${path}: candidates in file order`,
      ).to.deep.equal(candidates);
    }
  });

  it("never misses a route on 20,000 random paths built from the routes' pieces", () => {
    const random = new Random(15);
    for (let n = 0; n < 20_000; n++) {
      const parts = Array.from({ length: random.int(7) }, () => random.pick(PIECES));
      const path = `/${parts.join('/')}${random.chance(0.2) ? '/' : ''}`;
      expect(confirmed(path), path).to.deep.equal(linearScan(matchers, path));
    }
  });

  it('keeps the candidates of an unmatched path empty however many routes there are', () => {
    const big = new RouteTrie<number>();
    for (let i = 0; i < 10_000; i++) big.add(`/r${i}/:topic`, i);
    expect(big.candidates('/nothing/here')).to.deep.equal([]);
    expect(big.candidates('/r9999/t')).to.deep.equal([9999]);
  });
});
