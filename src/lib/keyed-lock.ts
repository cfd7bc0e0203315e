/**
 * Runs functions one at a time per key, in call order; different keys run concurrently. A failed
 * run does not stop the next one for its key. Keys are forgotten once their queue is empty.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return run;
  }

  /** keys with a run queued or in progress */
  get size(): number {
    return this.#tails.size;
  }
}
