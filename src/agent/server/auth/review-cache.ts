/**
 * The answers of the cloud's reviews, kept for a while: a scrape or a burst of execs must not
 * cost a round trip to the cloud each, and a node offline keeps what it was told until the
 * answer expires. Bounded (the least recently used answer goes first), and one review per key at
 * a time: callers asking the same question while it is out share its answer. A failed review is
 * not kept, so the next request asks again.
 */
export class ReviewCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #inflight = new Map<string, Promise<V>>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(opts: { maxEntries: number; now: () => number }) {
    this.#maxEntries = opts.maxEntries;
    this.#now = opts.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** the answer for `key`: kept, being fetched, or `load`'s, kept `ttlMs(answer)` ms (0: not kept) */
  get(key: string, load: () => Promise<V>, ttlMs: (value: V) => number): Promise<V> {
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      this.#entries.delete(key);
      if (hit.expiresAt > this.#now()) {
        // re-inserted last: the Map's order is least recently used first
        this.#entries.set(key, hit);
        return Promise.resolve(hit.value);
      }
    }
    const pending = this.#inflight.get(key);
    if (pending !== undefined) return pending;
    const loading = load().then(
      (value) => {
        this.#inflight.delete(key);
        const ttl = ttlMs(value);
        if (ttl > 0) this.#keep(key, value, ttl);
        return value;
      },
      (err: unknown) => {
        this.#inflight.delete(key);
        throw err;
      },
    );
    this.#inflight.set(key, loading);
    return loading;
  }

  #keep(key: string, value: V, ttlMs: number): void {
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlMs });
    while (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }
}
