/**
 * What copying a small object costs on this node, the ways the request path does it:
 * `node dist/bench/object-copies.js [ROUNDS]`. On node 20 (V8 11.3) a literal that starts with a
 * spread of a non-empty object and then adds fields (`{ ...receipt, id, broker }`) costs about
 * 1 µs per added field, while Object.assign with the same sources costs tens of nanoseconds; the
 * request path uses Object.assign for that reason (README, "Spreads on the request path").
 */
type Fields = Record<string, unknown>;

const receiptOf = (i: number): Fields => (i % 2 === 0 ? { subscribers: 1 } : { subscribers: 0 });
const headersOf = (i: number): Fields => (i % 2 === 0 ? { 'x-tenant': 'a', traceparent: 't' } : { 'x-tenant': 'b', 'x-b': 'c', traceparent: 'u' });

const WAYS: ReadonlyArray<readonly [string, (i: number) => Fields]> = [
  ['{ ...receipt, id, broker, mode, destination }', (i) => ({ ...receiptOf(i), id: 'a', broker: 'b', mode: 'c', destination: 'd' })],
  [
    'Object.assign({}, receipt, { id, broker, mode, destination })',
    (i) => Object.assign({}, receiptOf(i), { id: 'a', broker: 'b', mode: 'c', destination: 'd' }),
  ],
  ['{ ...headers, extra }', (i) => ({ ...headersOf(i), 'busgate-id': 'x' })],
  ['Object.assign({}, headers, { extra })', (i) => Object.assign({}, headersOf(i), { 'busgate-id': 'x' })],
  ['{ ...headers } (a copy, nothing added)', (i) => ({ ...headersOf(i) })],
  ['{ id, destination, ...headers } (spread after fields)', (i) => ({ id: 'a', destination: 'd', ...headersOf(i) })],
];

const rounds = Number(process.argv[2] ?? 3);
const perWay = 500_000;
const results = new Map<string, number[]>();
let sink = 0;
for (let round = 0; round < rounds; round += 1) {
  for (const [name, make] of WAYS) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < perWay; i += 1) sink += Object.keys(make(i)).length;
    const ns = Number(process.hrtime.bigint() - started) / perWay;
    results.set(name, [...(results.get(name) ?? []), ns]);
  }
}
console.log(`node ${process.version} (V8 ${process.versions.v8}), ${rounds} rounds of ${perWay} copies each, ns per copy (rounds):`);
for (const [name, values] of results) console.log(`  ${name.padEnd(62)} ${values.map((ns) => ns.toFixed(0)).join(' / ')}`);
if (sink === 0) console.log('');
