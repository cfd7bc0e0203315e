/**
 * Bounds how many pods are being started at once (sandbox record, netns + CNI, runtime sandbox,
 * volumes, first containers). Unbounded, a burst of N new pods makes every start advance together
 * (each one's execs and file writes interleave with all the others') and the first pod is Running
 * only near the end of the burst; with a bound the pods start oldest first and the first ones are
 * Running early (bench/density.ts, issue 13).
 *
 * Waiters are served by pod creation time (then arrival), not arrival alone: a pod woken late
 * (its informer event behind a relist) still goes before pods created after it.
 */
import { availableParallelism } from 'node:os';
import { HedgeError } from '../../lib/errors.ts';

/** 2 × cores, at least 2: enough to keep the cores busy while some starts wait on execs */
export const defaultMaxConcurrentStarts = (): number => Math.max(2, 2 * availableParallelism());

interface Waiter {
  createdAt: number;
  seq: number;
  grant: () => void;
}

export class StartGate {
  #free: number;
  #seq = 0;
  /** sorted: oldest pod first */
  readonly #queue: Waiter[] = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new HedgeError('Invalid', `the concurrent pod start limit must be at least 1 (got ${limit})`);
    this.#free = limit;
  }

  /** starts holding a slot now */
  get active(): number {
    return this.limit - this.#free;
  }

  /** starts waiting for a slot */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * Resolves with the slot's release (idempotent) once one is free; rejects with `signal`'s reason
   * if it aborts first (the waiter leaves the queue).
   */
  acquire(createdAt: number, signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    if (this.#free > 0 && this.#queue.length === 0) {
      this.#free--;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        createdAt,
        seq: this.#seq++,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.#releaser());
        },
      };
      const onAbort = (): void => {
        const i = this.#queue.indexOf(w);
        if (i >= 0) this.#queue.splice(i, 1);
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      let i = this.#queue.length;
      while (i > 0 && before(w, this.#queue[i - 1]!)) i--;
      this.#queue.splice(i, 0, w);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      if (next) next.grant();
      else this.#free++;
    };
  }
}

const before = (a: Waiter, b: Waiter): boolean => a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.seq < b.seq);

const abortReason = (signal: AbortSignal): unknown => signal.reason ?? new HedgeError('Timeout', 'aborted while waiting to start');
