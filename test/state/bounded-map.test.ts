/**
 * The map behind the memory stores (core/state/bounded-map.ts): bounded in keys and in estimated
 * bytes, the oldest entries forgotten first, the byte count always the sum of what it holds.
 */
import { expect } from 'chai';
import { BoundedMap } from '../../core/state/bounded-map.js';

interface Item {
  readonly name: string;
  bytes: number;
}

describe('bounded map', () => {
  const item = (name: string, bytes: number): Item => ({ name, bytes });
  /** A map with these limits, holding `sizes` (key: bytes) set in their order. */
  const mapOf = (maxKeys: number, maxBytes: number, sizes: Record<string, number> = {}): BoundedMap<Item> => {
    const map = new BoundedMap<Item>({ maxKeys, maxBytes });
    for (const [key, bytes] of Object.entries(sizes)) map.set(key, item(key, bytes));
    return map;
  };
  const keys = (map: BoundedMap<Item>): string[] => [...map.oldestFirst()].map(([key]) => key);

  it('keeps entries and their byte total, and forgets them on delete', () => {
    const map = mapOf(10, 1000, { a: 10, b: 20 });
    expect(map.size).to.equal(2);
    expect(map.bytes).to.equal(30);
    expect(map.get('a')?.name).to.equal('a');
    map.delete('a');
    map.delete('absent');
    expect(map.get('a')).to.equal(undefined);
    expect(map.size).to.equal(1);
    expect(map.bytes).to.equal(20);
  });

  it('past the key bound forgets the oldest first', () => {
    const map = mapOf(3, 1000, { a: 1, b: 1, c: 1, d: 1, e: 1 });
    expect(keys(map)).to.deep.equal(['c', 'd', 'e']);
    expect(map.bytes).to.equal(3);
  });

  it('past the byte bound forgets as many of the oldest as it takes', () => {
    const map = mapOf(10, 100, { a: 25, b: 25, c: 25, d: 25 });
    map.set('big', item('big', 60));
    expect(keys(map)).to.deep.equal(['d', 'big']);
    expect(map.bytes).to.equal(85);
  });

  it('forgets an entry larger than the byte bound on its own', () => {
    const map = mapOf(10, 100, { a: 10 });
    map.set('huge', item('huge', 101));
    expect(map.size).to.equal(0);
    expect(map.bytes).to.equal(0);
  });

  it('replacing a key makes it the newest and counts only the new bytes', () => {
    const map = mapOf(2, 1000, { a: 10, b: 20 });
    map.set('a', item('a2', 5));
    expect(keys(map)).to.deep.equal(['b', 'a']);
    expect(map.bytes).to.equal(25);
    map.set('c', item('c', 1));
    expect(keys(map), 'b is the oldest now').to.deep.equal(['a', 'c']);
    expect(map.get('a')?.name).to.equal('a2');
  });

  it('grow counts more bytes for an entry where it stands, evicting the oldest past the bound', () => {
    const map = mapOf(10, 100, { a: 30, b: 30, c: 30 });
    map.grow('b', 20);
    expect(keys(map)).to.deep.equal(['b', 'c']);
    expect(map.get('b')?.bytes).to.equal(50);
    expect(map.bytes).to.equal(80);
    map.grow('absent', 1000);
    expect(map.bytes, 'growing a key it does not hold changes nothing').to.equal(80);
    map.grow('c', 1000);
    expect(map.size, 'an entry grown past the bound goes, and the oldest before it').to.equal(0);
    expect(map.bytes).to.equal(0);
  });

  it('lets the entry just seen be deleted while iterating oldest first', () => {
    const map = mapOf(10, 1000, { a: 1, b: 1, c: 1, d: 1 });
    for (const [key] of map.oldestFirst()) {
      if (key === 'c') break;
      map.delete(key);
    }
    expect(keys(map)).to.deep.equal(['c', 'd']);
    expect(map.bytes).to.equal(2);
  });
});
