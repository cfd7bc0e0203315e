import { whenAborted } from '../../lib/signals.ts';

export interface RetryBackoff {
  /** wait after an item's first failed sync */
  initialMs: number;
  /** the longest wait between tries */
  maxMs: number;
}

/** what a sync asks of the queue: forget the item, or try it again after a backoff */
export type SyncOutcome = 'done' | 'retry';

export interface RetryQueueOptions<T> {
  key(item: T): string;
  sync(item: T): Promise<SyncOutcome>;
  signal: AbortSignal;
  backoff: RetryBackoff;
  /** tries after which an item that keeps failing is forgotten until it is added again (upstream maxRetries) */
  maxRetries: number;
  /** called when an item is given up */
  onGiveUp?(item: T, failures: number): void;
}

/**
 * A deduplicating work queue with per-item exponential backoff, run by one loop (upstream's
 * rate-limited workqueue with one worker): an item added while queued is synced once; a sync
 * that asks for a retry is tried again after initialMs doubling to maxMs, up to maxRetries times.
 */
export class RetryQueue<T> {
  readonly #opts: RetryQueueOptions<T>;
  /** key → item and when it may be synced next (ms) */
  readonly #due = new Map<string, { item: T; at: number }>();
  readonly #failures = new Map<string, number>();
  #wake: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #busy = false;
  #idleWaiters: (() => void)[] = [];

  constructor(opts: RetryQueueOptions<T>) {
    this.#opts = opts;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  /** resolves when the loop has ended (after the signal aborts) */
  stopped(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  get pending(): number {
    return this.#due.size;
  }

  /** queue `item` now, also when it waits on a backoff (upstream's Add beside AddRateLimited); its failure count stays */
  add(item: T): void {
    const key = this.#opts.key(item);
    this.#due.set(key, { item, at: 0 });
    this.#wake?.();
  }

  /** resolves once nothing is queued for now and no sync runs (items waiting on a backoff do not count) */
  drained(): Promise<void> {
    if (!this.#busy && ![...this.#due.values()].some((d) => d.at <= Date.now())) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async #run(): Promise<void> {
    const { signal } = this.#opts;
    while (!signal.aborted) {
      const now = Date.now();
      let next = Infinity;
      for (const [key, due] of [...this.#due]) {
        if (signal.aborted) return;
        if (due.at > now) {
          next = Math.min(next, due.at);
          continue;
        }
        this.#due.delete(key);
        this.#busy = true;
        await this.#sync(key, due.item);
        this.#busy = false;
        const again = this.#due.get(key);
        if (again) next = Math.min(next, again.at);
      }
      if ([...this.#due.values()].some((d) => d.at <= Date.now())) continue;
      for (const w of this.#idleWaiters.splice(0)) w();
      await this.#idle(next === Infinity ? undefined : next - Date.now());
    }
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  async #sync(key: string, item: T): Promise<void> {
    const { sync, backoff, maxRetries, signal } = this.#opts;
    let outcome: SyncOutcome;
    try {
      outcome = await sync(item);
    } catch {
      outcome = 'retry';
    }
    if (outcome === 'done' || signal.aborted) {
      this.#failures.delete(key);
      return;
    }
    const failures = (this.#failures.get(key) ?? 0) + 1;
    if (failures > maxRetries) {
      this.#failures.delete(key);
      this.#opts.onGiveUp?.(item, failures - 1);
      return;
    }
    this.#failures.set(key, failures);
    // an event that came in during the sync is the newer word: it goes first
    if (!this.#due.has(key)) this.#due.set(key, { item, at: Date.now() + Math.min(backoff.maxMs, backoff.initialMs * 2 ** (failures - 1)) });
  }

  /** until something is queued, or `ms` pass, or the signal aborts */
  #idle(ms: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.#opts.signal.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        forget();
        this.#wake = undefined;
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, Math.max(0, ms));
      const forget = whenAborted(this.#opts.signal, done);
      this.#wake = done;
    });
  }
}
