import type { AuditBackend } from './log-backend.ts';
import type { AuditPlugin } from './plugin-errors.ts';
import { delay, realTimers, type Timers } from '../../lib/timers.ts';

/** upstream's BatchConfig (--audit-webhook-batch-*) */
export interface BatchConfig {
  /** events held before new ones are dropped (10000) */
  bufferSize: number;
  /** events per batch at most (400) */
  maxBatchSize: number;
  /** a batch that has not filled is sent after this long (30 s) */
  maxBatchWaitMs: number;
  /** batches per second (10) and burst (15); undefined = not throttled */
  throttle?: { qps: number; burst: number };
}

export const DEFAULT_WEBHOOK_BATCH: Readonly<BatchConfig> = { bufferSize: 10_000, maxBatchSize: 400, maxBatchWaitMs: 30_000, throttle: { qps: 10, burst: 15 } };

export interface BufferedBackendOptions extends BatchConfig {
  /** sends one batch; resolves when done (failures are the delegate's to count), never rejects */
  send(lines: string[]): Promise<unknown>;
  /** closes the delegate after the last batch */
  closeDelegate?(): Promise<void>;
  failed(plugin: AuditPlugin, n: number, err: unknown): void;
  timers?: Timers;
}

/** flowcontrol's token bucket: `take` reserves a token and says how long to wait for it */
class TokenBucket {
  #tokens: number;
  #at: number;
  constructor(
    readonly qps: number,
    readonly burst: number,
    readonly timers: Timers,
  ) {
    this.#tokens = burst;
    this.#at = timers.now();
  }

  take(): number {
    const now = this.timers.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.qps);
    this.#at = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.qps) * 1000;
  }
}

/**
 * upstream's buffered backend (plugin/pkg/audit/buffered): `process` only queues (a full queue
 * drops and counts the event as plugin "buffered", never holding the request up); a batch is cut
 * when maxBatchSize events wait or maxBatchWait has passed since the last cut, waits for the
 * throttle, and is sent without waiting for the batches before it. `close` sends what is queued
 * and waits for every send (and its retries) to end.
 */
export class BufferedBackend implements AuditBackend {
  readonly #o: BufferedBackendOptions;
  readonly #timers: Timers;
  readonly #throttle: TokenBucket | undefined;
  #queue: string[] = [];
  #timer: unknown;
  /** a cut batch waiting for the throttle: nothing more is cut until it is sent */
  #throttled: Promise<void> | undefined;
  readonly #sending = new Set<Promise<unknown>>();
  #closed = false;

  constructor(opts: BufferedBackendOptions) {
    this.#o = opts;
    this.#timers = opts.timers ?? realTimers;
    this.#throttle = opts.throttle ? new TokenBucket(opts.throttle.qps, opts.throttle.burst, this.#timers) : undefined;
    this.#arm();
  }

  /** events queued and not yet cut into a batch */
  get queued(): number {
    return this.#queue.length;
  }

  process(line: string): undefined {
    if (this.#closed) {
      this.#o.failed('buffered', 1, new Error('audit backend shut down'));
      return;
    }
    if (this.#queue.length >= this.#o.bufferSize) {
      this.#o.failed('buffered', 1, new Error('audit buffer queue blocked'));
      return;
    }
    this.#queue.push(line);
    if (this.#queue.length >= this.#o.maxBatchSize && !this.#throttled) this.#cut();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timers.clearTimeout(this.#timer);
    await this.#throttled;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#o.maxBatchSize);
      const wait = this.#throttle?.take() ?? 0;
      if (wait > 0) await delay(this.#timers, wait);
      this.#dispatch(batch);
    }
    while (this.#sending.size > 0) await Promise.all(this.#sending);
    await this.#o.closeDelegate?.();
  }

  #arm(): void {
    this.#timers.clearTimeout(this.#timer);
    this.#timer = this.#timers.setTimeout(() => this.#cut(), this.#o.maxBatchWaitMs);
  }

  /** a batch is due: the wait is over, or a full batch waits */
  #cut(): void {
    this.#timers.clearTimeout(this.#timer);
    if (this.#closed) return;
    const batch = this.#queue.splice(0, this.#o.maxBatchSize);
    if (batch.length === 0) {
      this.#arm();
      return;
    }
    const wait = this.#throttle?.take() ?? 0;
    if (wait <= 0) {
      this.#dispatch(batch);
      this.#next();
      return;
    }
    this.#throttled = delay(this.#timers, wait).then(() => {
      this.#throttled = undefined;
      this.#dispatch(batch);
      if (!this.#closed) this.#next();
    });
  }

  #next(): void {
    if (this.#queue.length >= this.#o.maxBatchSize) this.#cut();
    else this.#arm();
  }

  #dispatch(batch: string[]): void {
    const p = this.#o.send(batch).catch(() => undefined);
    this.#sending.add(p);
    void p.finally(() => this.#sending.delete(p));
  }
}
