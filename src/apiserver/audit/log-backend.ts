import type { Logger } from '../../lib/log.ts';
import type { AuditMetrics } from './metrics.ts';
import { RotatingFile } from './rotating-file.ts';

/**
 * What `process` answers: undefined when the event was taken over (buffered; a later failure is
 * counted, not reported), or, for a backend that sends within the request (the webhook's
 * blocking modes), a promise of whether it was stored (upstream's ProcessEvents bool).
 */
export type Delivery = Promise<boolean> | undefined;

/** Where encoded events go. `process` never throws. */
export interface AuditBackend {
  /** events are sent within the request (the webhook's blocking modes): the response waits for its last one */
  readonly blocking?: boolean;
  process(line: string): Delivery;
  /** send or write what is buffered, then release the file or connections */
  close(): Promise<void>;
}

/** What the batches are written to: the rotating file, or stdout for `--audit-log-path -`. */
export interface AuditSink {
  write(buf: Buffer): Promise<void>;
  /** after a failed write (the next write starts afresh) */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export interface LogBackendOptions {
  sink: AuditSink;
  metrics: AuditMetrics;
  logger: Logger;
  /** events held while a write is in flight before new ones are dropped (upstream's buffered backend: 10000) */
  bufferSize?: number;
  /** events per write at most (upstream's batch size: 400) */
  batchMaxSize?: number;
  /** the least time between two error log lines about failed writes (default 10 s) */
  errorLogIntervalMs?: number;
}

/**
 * The log backend as upstream's buffered mode runs it: requests only append a line to a queue;
 * one writer at a time takes up to batchMaxSize lines and writes them as one buffer. A full queue
 * drops the event, a failed write drops its batch; both are counted in apiserver_audit_error_total
 * and logged (at most every errorLogIntervalMs), and neither reaches the request.
 */
export class LogBackend implements AuditBackend {
  readonly #o: Required<Omit<LogBackendOptions, 'sink' | 'metrics' | 'logger'>> & LogBackendOptions;
  #queue: string[] = [];
  #writing: Promise<void> | undefined;
  #scheduled = false;
  #closed = false;
  #lastErrorLog = -Infinity;
  #suppressed = 0;

  constructor(opts: LogBackendOptions) {
    this.#o = { bufferSize: 10_000, batchMaxSize: 400, errorLogIntervalMs: 10_000, ...opts };
  }

  process(line: string): undefined {
    if (this.#closed) {
      this.#failed('log', 1, new Error('the audit log is closed (server shutting down)'));
      return;
    }
    if (this.#queue.length >= this.#o.bufferSize) {
      this.#failed('buffered', 1, new Error(`audit buffer queue blocked: ${this.#o.bufferSize} events waiting to be written`));
      return;
    }
    this.#queue.push(line);
    // events of the same turn of the event loop go out in one write
    if (!this.#writing && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#kick();
      });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    while (this.#writing || this.#queue.length > 0) {
      this.#kick();
      await this.#writing;
    }
    await this.#o.sink.close().catch((err: unknown) => this.#o.logger.error({ err }, 'closing the audit log failed'));
  }

  #kick(): void {
    if (this.#writing || this.#queue.length === 0) return;
    this.#writing = this.#drain().finally(() => {
      this.#writing = undefined;
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.length <= this.#o.batchMaxSize ? this.#queue : this.#queue.slice(0, this.#o.batchMaxSize);
      this.#queue = batch === this.#queue ? [] : this.#queue.slice(batch.length);
      try {
        await this.#o.sink.write(Buffer.from(batch.join(''), 'utf8'));
      } catch (err) {
        this.#failed('log', batch.length, err);
        await this.#o.sink.reset().catch(() => undefined);
      }
    }
  }

  #failed(plugin: 'log' | 'buffered', n: number, err: unknown): void {
    this.#o.metrics.error.inc({ plugin }, n);
    const now = performance.now();
    if (now - this.#lastErrorLog < this.#o.errorLogIntervalMs) {
      this.#suppressed += n;
      return;
    }
    this.#o.logger.error({ err, plugin, dropped: n, droppedSinceLastReport: this.#suppressed }, 'audit events could not be written; dropped (see apiserver_audit_error_total)');
    this.#lastErrorLog = now;
    this.#suppressed = 0;
  }
}

/** `--audit-log-path FILE` */
export function fileSink(file: RotatingFile): AuditSink {
  return { write: (b) => file.write(b), reset: () => file.reset(), close: () => file.close() };
}

/** `--audit-log-path -` */
export function streamSink(stream: NodeJS.WritableStream): AuditSink {
  return {
    write: (b) =>
      new Promise<void>((resolve, reject) => {
        stream.write(b, (err) => (err ? reject(err) : resolve()));
      }),
    reset: async () => undefined,
    close: async () => undefined,
  };
}
