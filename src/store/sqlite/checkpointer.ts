import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** `PRAGMA wal_checkpoint`'s answer: frames in the WAL, frames copied back into the database */
export interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

export type CheckpointMode = 'PASSIVE' | 'TRUNCATE';

/**
 * The worker: a second connection to the store's file that only checkpoints. CommonJS evaluated
 * from this string (`eval: true`), so it runs the same from the sources (tsx) and from the bundle
 * (dist/), with no file of its own to find. synchronous=NORMAL: a checkpoint syncs the WAL before
 * it copies frames and the database file after, whichever connection runs it.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
parentPort.on('message', (m) => {
  if (m.op === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const [r] = db.pragma('wal_checkpoint(' + m.mode + ')');
    parentPort.postMessage({ id: m.id, result: { busy: r.busy, log: r.log, checkpointed: r.checkpointed } });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

/**
 * Runs WAL checkpoints off the event loop, in a worker thread with its own connection. A
 * checkpoint copies WAL frames into the database file and fsyncs both; SQLite's automatic one runs
 * in the committing connection, and on the store's event loop it held every request for 5–36 ms
 * several times a second at 1,000 writes/s (bench/fleet.ts, 10,000 nodes). In WAL mode a
 * checkpoint on another connection runs beside the writer; the store decides when (see SqliteStore).
 */
export class Checkpointer {
  readonly #worker: Worker;
  #seq = 0;
  readonly #waiting = new Map<number, { resolve: (r: CheckpointResult) => void; reject: (err: Error) => void }>();
  #failure: Error | undefined;
  readonly #exited: Promise<void>;

  constructor(path: string, opts: { busyTimeoutMs?: number } = {}) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, path, busyTimeoutMs: opts.busyTimeoutMs ?? 5_000 } });
    // held (ref'd) only while it has work: an idle checkpointer must not keep the process up
    this.#worker.unref();
    this.#worker.on('message', (m: { id: number; result?: CheckpointResult; error?: string }) => {
      const w = this.#waiting.get(m.id);
      if (!w) return;
      this.#waiting.delete(m.id);
      if (this.#waiting.size === 0) this.#worker.unref();
      if (m.result) w.resolve(m.result);
      else w.reject(new Error(`wal checkpoint failed: ${m.error ?? 'unknown error'}`));
    });
    this.#worker.on('error', (err) => this.#fail(err));
    this.#exited = new Promise((resolve) =>
      this.#worker.once('exit', (code) => {
        this.#fail(new Error(`checkpoint worker exited (code ${code})`));
        resolve();
      }),
    );
  }

  /** why the worker is gone, once it is */
  get failure(): Error | undefined {
    return this.#failure;
  }

  run(mode: CheckpointMode): Promise<CheckpointResult> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = ++this.#seq;
    return new Promise((resolve, reject) => {
      if (this.#waiting.size === 0) this.#worker.ref();
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ id, mode });
    });
  }

  /** lets a checkpoint in progress finish, then closes the worker's connection */
  async close(): Promise<void> {
    if (!this.#failure) {
      this.#worker.ref();
      this.#worker.postMessage({ op: 'close' });
    }
    await this.#exited;
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const w of this.#waiting.values()) w.reject(this.#failure);
    this.#waiting.clear();
  }
}
