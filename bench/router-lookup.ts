/**
 * `node dist/bench/router-lookup.js [routes]`: the route lookup alone, in-process, per request
 * path: busgate's trie (core/http/router.ts) including the confirming path-to-regexp match the
 * ingress does, find-my-way (Fastify's radix tree) when it is installed
 * (`npm i --no-save find-my-way`; it is not a dependency), and the old linear scan for reference.
 * Prints nanoseconds per lookup for the first route, the last route and a path no route has.
 */
import { performance } from 'node:perf_hooks';
import { match } from 'path-to-regexp';
import { RouteTrie } from '../core/http/router.js';

type Lookup = (path: string) => unknown;

const count = Number(process.argv[2] ?? 10_000);
const paths = { first: '/r0/topic', last: `/r${count - 1}/topic`, unmatched: '/no/such/route' };
const patterns = Array.from({ length: count }, (_, i) => `/r${i}/:topic`);

function nsPerCall(lookup: Lookup, path: string, iterations: number): number {
  for (let i = 0; i < Math.min(iterations, 1000); i++) lookup(path);
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) lookup(path);
  return Math.round(((performance.now() - t0) * 1e6) / iterations);
}

async function findMyWay(): Promise<Lookup | undefined> {
  const name = 'find-my-way';
  let module: {
    default: (options: Record<string, unknown>) => { on(method: string, path: string, handler: () => void): void; find(method: string, path: string): unknown };
  };
  try {
    module = (await import(name)) as typeof module;
  } catch {
    return undefined;
  }
  const router = module.default({ caseSensitive: false, ignoreTrailingSlash: true });
  for (const pattern of patterns) router.on('POST', pattern, () => undefined);
  return (path) => router.find('POST', path);
}

async function main(): Promise<void> {
  const matchers = patterns.map((pattern) => match(pattern, { decode: decodeURIComponent }));
  const trie = new RouteTrie<(typeof matchers)[number]>();
  patterns.forEach((pattern, i) => trie.add(pattern, matchers[i]!));
  const lookups: Record<string, { lookup: Lookup; iterations: number } | undefined> = {
    'busgate trie + confirming match': {
      lookup: (path) => {
        for (const candidate of trie.candidates(path)) {
          const found = candidate(path);
          if (found !== false) return found;
        }
        return undefined;
      },
      iterations: 300_000,
    },
    'find-my-way': await findMyWay().then((lookup) => (lookup ? { lookup, iterations: 300_000 } : undefined)),
    'linear scan (before)': {
      lookup: (path) => {
        for (const candidate of matchers) {
          const found = candidate(path);
          if (found !== false) return found;
        }
        return undefined;
      },
      iterations: Math.max(20, Math.round(3_000_000 / count)),
    },
  };
  console.log(`route lookup, ${count} routes (/r<i>/:topic), ns per lookup; node ${process.version}`);
  for (const [name, entry] of Object.entries(lookups)) {
    if (!entry) {
      console.log(`  ${name}: not installed (npm i --no-save find-my-way)`);
      continue;
    }
    const results = Object.entries(paths).map(([label, path]) => `${label} ${nsPerCall(entry.lookup, path, entry.iterations)}`);
    console.log(`  ${name}: ${results.join(', ')}`);
  }
}

void main();
