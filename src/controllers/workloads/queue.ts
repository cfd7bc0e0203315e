import type { Logger } from '../../lib/log.ts';

/**
 * A keyed work queue like client-go's: a key is processed by at most one worker at a time,
 * re-adding a key while it is processed runs it once more afterwards, failures retry with
 * capped exponential backoff, and `addAfter` schedules a later look (deadlines, TTLs).
 */
export class WorkQueue {
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #queue: string[] = [];
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #failures = new Map<string, number>();
  #wake: (() => void) | undefined;
  #closed = false;

  add(key: string): void {
    if (this.#closed || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (!this.#processing.has(key)) {
      this.#queue.push(key);
      this.#wake?.();
    }
  }

  addAfter(key: string, ms: number): void {
    if (this.#closed) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const prior = this.#timers.get(key);
    if (prior) clearTimeout(prior);
    const t = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    t.unref?.();
    this.#timers.set(key, t);
  }

  get length(): number {
    return this.#queue.length;
  }

  /** run `handler` on keys with `workers` concurrent workers until `signal` aborts */
  async run(signal: AbortSignal, handler: (key: string) => Promise<void>, opts: { workers?: number; logger: Logger; maxBackoffMs?: number }): Promise<void> {
    const onAbort = (): void => {
      this.#closed = true;
      for (const t of this.#timers.values()) clearTimeout(t);
      this.#timers.clear();
      this.#wake?.();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const worker = async (): Promise<void> => {
      while (!signal.aborted) {
        const key = this.#queue.shift();
        if (key === undefined) {
          await new Promise<void>((resolve) => {
            const prev = this.#wake;
            this.#wake = () => {
              this.#wake = undefined;
              prev?.();
              resolve();
            };
          });
          continue;
        }
        this.#dirty.delete(key);
        this.#processing.add(key);
        try {
          await handler(key);
          this.#failures.delete(key);
        } catch (err) {
          if (signal.aborted) break;
          const n = (this.#failures.get(key) ?? 0) + 1;
          this.#failures.set(key, n);
          const delay = Math.min(opts.maxBackoffMs ?? 30_000, 50 * 2 ** Math.min(n, 12));
          opts.logger.debug({ err, key, retryInMs: delay }, 'sync failed; will retry');
          this.addAfter(key, delay);
        } finally {
          this.#processing.delete(key);
          if (this.#dirty.has(key)) {
            this.#queue.push(key);
            this.#wake?.();
          }
        }
      }
    };
    await Promise.all(Array.from({ length: opts.workers ?? 1 }, () => worker()));
    signal.removeEventListener('abort', onAbort);
  }
}
