/**
 * The memory stores (idempotency answers, the primary's claims) keep what clients send for a
 * window, so without a bound a flood of fresh keys would grow the process without end. This map is
 * bounded in keys and in estimated bytes; past either bound it forgets its oldest entries first,
 * the ones closest to expiring anyway.
 */

export interface BoundedMapLimits {
  readonly maxKeys: number;
  readonly maxBytes: number;
}

/**
 * An entry's estimated cost against the byte bound. The map keeps the total, so once an entry is
 * in the map its `bytes` changes only through grow().
 */
export interface Sized {
  bytes: number;
}

export class BoundedMap<V extends Sized> {
  private readonly entries = new Map<string, V>();
  private totalBytes = 0;

  constructor(private readonly limits: BoundedMapLimits) {}

  get size(): number {
    return this.entries.size;
  }

  /** What the entries take, as estimated for the byte bound. */
  get bytes(): number {
    return this.totalBytes;
  }

  get(key: string): V | undefined {
    return this.entries.get(key);
  }

  /** Adds or replaces `key` as the newest entry; the new entry itself goes if it alone is past a bound. */
  set(key: string, value: V): void {
    this.delete(key);
    this.entries.set(key, value);
    this.totalBytes += value.bytes;
    this.evictOverflow();
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.totalBytes -= entry.bytes;
  }

  /** Counts `bytes` more for the entry of `key` (kept where it is in the order), then evicts. */
  grow(key: string, bytes: number): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    entry.bytes += bytes;
    this.totalBytes += bytes;
    this.evictOverflow();
  }

  /** The entries, oldest first; deleting the entry just seen while iterating is safe. */
  oldestFirst(): IterableIterator<[string, V]> {
    return this.entries.entries();
  }

  private evictOverflow(): void {
    // Map iteration is insertion order: the first entries are the oldest.
    for (const [key] of this.entries) {
      if (this.entries.size <= this.limits.maxKeys && this.totalBytes <= this.limits.maxBytes) return;
      this.delete(key);
    }
  }
}
