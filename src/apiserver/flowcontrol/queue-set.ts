import type { QueuingConfiguration } from './bootstrap.ts';
import { Dealer } from './shuffle-sharding.ts';
import { unrefTimers, type Timers } from '../../lib/timers.ts';

/** upstream's reasons (apiserver_flowcontrol_rejected_requests_total's `reason`) */
export type RejectReason = 'queue-full' | 'concurrency-limit' | 'time-out' | 'cancelled';

export class Rejected extends Error {
  constructor(readonly reason: RejectReason) {
    super(`request rejected: ${reason}`);
  }
}

export interface QueueSetConfig {
  /** seats this level may use at once */
  concurrencyLimit: number;
  /** undefined = limitResponse Reject: no queues, a request over the limit is rejected at once */
  queuing?: QueuingConfiguration;
}

/** a seat held by one executing request; `release` once, when it is done */
export interface Seat {
  /** ms spent waiting in a queue (0 when dispatched at once) */
  readonly waitedMs: number;
  release(): void;
}

/** a request waiting for a seat: `seat` settles with it, or rejects with Rejected; `cancel` when the client went away */
export interface Waiting {
  seat: Promise<Seat>;
  cancel(): void;
}

interface Waiter {
  hash: bigint;
  enqueuedAt: number;
  queue: number;
  timer: unknown;
  resolve(seat: Seat): void;
  reject(err: Rejected): void;
}

/**
 * One Limited priority level's seats and queues (upstream's queueset, simplified): a request is
 * dispatched at once while a seat is free and nobody waits; else its flow's hash deals it a hand
 * of queues (shuffle sharding) and it joins the shortest, or is rejected when that one holds
 * queueLengthLimit requests. A freed seat goes to the head of the next non-empty queue in
 * round-robin order, so flows (which mostly own different queues) take turns whatever their
 * volume: fair queuing by turns instead of upstream's virtual finish times (every request costs
 * one seat here, so the two orders agree up to a request's length). A request still queued after
 * `maxWaitMs` is rejected (`time-out`).
 */
export class QueueSet {
  #limit: number;
  #queuing: QueuingConfiguration | undefined;
  #dealer: Dealer | undefined;
  #queues: Waiter[][] = [];
  #next = 0;
  #executing = 0;
  #waiting = 0;
  readonly #clock: Timers;
  readonly #maxWaitMs: number;

  constructor(config: QueueSetConfig, opts: { clock?: Timers; maxWaitMs: number }) {
    this.#clock = opts.clock ?? unrefTimers;
    this.#maxWaitMs = opts.maxWaitMs;
    this.#limit = config.concurrencyLimit;
    this.#queuing = config.queuing;
    this.#rebuild();
  }

  get executing(): number {
    return this.#executing;
  }
  get waiting(): number {
    return this.#waiting;
  }
  get concurrencyLimit(): number {
    return this.#limit;
  }
  /** requests waiting in each queue (tests, debugging) */
  queueLengths(): number[] {
    return this.#queues.map((q) => q.length);
  }

  /** a new limit or queue shape: waiting requests are dealt into the new queues, then seats given out */
  setConfig(config: QueueSetConfig): void {
    const q = config.queuing;
    const same = q?.queues === this.#queuing?.queues && q?.handSize === this.#queuing?.handSize && q?.queueLengthLimit === this.#queuing?.queueLengthLimit;
    this.#limit = config.concurrencyLimit;
    this.#queuing = q;
    if (!same) {
      const waiters = this.#queues.flat().sort((a, b) => a.enqueuedAt - b.enqueuedAt);
      this.#rebuild();
      for (const w of waiters) {
        if (!this.#dealer) {
          this.#waiting--;
          this.#clock.clearTimeout(w.timer);
          w.reject(new Rejected('concurrency-limit'));
          continue;
        }
        w.queue = this.#shortest(w.hash);
        this.#queues[w.queue]!.push(w);
      }
    }
    this.#dispatch();
  }

  /**
   * A seat now, a wait for one, or Rejected thrown (`queue-full`, `concurrency-limit`).
   * `flowHash` is only read when the request has to queue.
   */
  acquire(flowHash: () => bigint): Seat | Waiting {
    if (this.#executing < this.#limit && this.#waiting === 0) {
      this.#executing++;
      return new HeldSeat(this, 0);
    }
    if (!this.#dealer) throw new Rejected('concurrency-limit');
    const hash = flowHash();
    const queue = this.#shortest(hash);
    const q = this.#queues[queue]!;
    if (q.length >= this.#queuing!.queueLengthLimit) throw new Rejected('queue-full');
    let waiter!: Waiter;
    const seat = new Promise<Seat>((resolve, reject) => {
      waiter = { hash, enqueuedAt: this.#clock.now(), queue, timer: undefined, resolve, reject };
    });
    waiter.timer = this.#clock.setTimeout(() => this.#remove(waiter, 'time-out'), this.#maxWaitMs);
    q.push(waiter);
    this.#waiting++;
    return { seat, cancel: () => this.#remove(waiter, 'cancelled') };
  }

  /** called by HeldSeat.release */
  freed(): void {
    this.#executing--;
    this.#dispatch();
  }

  #rebuild(): void {
    const q = this.#queuing;
    this.#dealer = q ? new Dealer(q.queues, q.handSize) : undefined;
    this.#queues = q ? Array.from({ length: q.queues }, () => []) : [];
    this.#next = 0;
  }

  /** the queue of the flow's hand with the fewest waiting (the first such: upstream's tie rule) */
  #shortest(hash: bigint): number {
    let best = -1;
    for (const i of this.#dealer!.deal(hash)) if (best < 0 || this.#queues[i]!.length < this.#queues[best]!.length) best = i;
    return best;
  }

  #remove(w: Waiter, reason: RejectReason): void {
    const q = this.#queues[w.queue];
    const at = q ? q.indexOf(w) : -1;
    if (at < 0) return;
    q!.splice(at, 1);
    this.#waiting--;
    this.#clock.clearTimeout(w.timer);
    w.reject(new Rejected(reason));
  }

  #dispatch(): void {
    const n = this.#queues.length;
    while (this.#executing < this.#limit && this.#waiting > 0) {
      let q: Waiter[] | undefined;
      for (let k = 0; k < n; k++) {
        const i = (this.#next + k) % n;
        if (this.#queues[i]!.length > 0) {
          q = this.#queues[i];
          this.#next = (i + 1) % n;
          break;
        }
      }
      const w = q!.shift()!;
      this.#waiting--;
      this.#executing++;
      this.#clock.clearTimeout(w.timer);
      w.resolve(new HeldSeat(this, this.#clock.now() - w.enqueuedAt));
    }
  }
}

class HeldSeat implements Seat {
  #set: QueueSet | undefined;
  constructor(
    set: QueueSet,
    readonly waitedMs: number,
  ) {
    this.#set = set;
  }
  release(): void {
    const set = this.#set;
    this.#set = undefined;
    set?.freed();
  }
}

export function isWaiting(x: Seat | Waiting): x is Waiting {
  return 'cancel' in x;
}
