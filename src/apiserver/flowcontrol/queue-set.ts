import type { QueuingConfiguration } from './bootstrap.ts';
import { Dealer } from './shuffle-sharding.ts';
import { unrefTimers, type Timers } from '../../lib/timers.ts';
import { SeatDemandIntegrator } from './borrowing.ts';
import type { RequestInfo } from '../request-info.ts';

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

/** what one request takes: `seats` while executing, then `finalSeats` for `additionalLatencyMs` (work-estimate.ts) */
export interface Width {
  seats: number;
  finalSeats: number;
  additionalLatencyMs: number;
}
const ONE_SEAT: Width = { seats: 1, finalSeats: 0, additionalLatencyMs: 0 };

/** who a request is, for the debug dumps (dump.ts) */
export interface RequestDescr {
  flowSchema: string;
  distinguisher: string;
  user: string;
  info: RequestInfo;
}

/** one request in a dump: `startedAt` (wall-clock ms) once it executes */
export interface RequestDump {
  descr: RequestDescr | undefined;
  width: Width;
  arrivedAt: number;
  startedAt?: number;
}

/** upstream's debug.QueueSetDump, what this queue set keeps of it */
export interface QueueSetDump {
  waiting: number;
  executing: number;
  dispatched: number;
  rejected: number;
  timedout: number;
  cancelled: number;
  idle: boolean;
  queues: { waiting: RequestDump[]; executing: RequestDump[]; seatsInUse: number; initialSeatsSum: number; maxSeatsSum: number }[];
  /** executing requests that did not wait in a queue (dispatched at once, or the level has none) */
  queueless: RequestDump[];
}

interface Waiter {
  hash: bigint;
  width: Width;
  descr: RequestDescr | undefined;
  /** wall-clock ms, for the dumps */
  arrivedAt: number;
  enqueuedAt: number;
  queue: number;
  timer: unknown;
  resolve(seat: Seat): void;
  reject(err: Rejected): void;
}

/**
 * One Limited priority level's seats and queues (upstream's queueset, simplified): a request is
 * dispatched at once while its seats are free and nobody waits; else its flow's hash deals it a
 * hand of queues (shuffle sharding) and it joins the shortest, or is rejected when that one holds
 * queueLengthLimit requests. Freed seats go to the head of the next non-empty queue in
 * round-robin order once they suffice for it (a request wider than the limit runs when nothing
 * else holds seats, as upstream), so flows (which mostly own different queues) take turns
 * whatever their volume: fair queuing by turns instead of upstream's virtual finish times. A
 * request still queued after `maxWaitMs` is rejected (`time-out`). The seat demand (seats held
 * plus seats waiting) is integrated over time for borrowing (borrowing.ts).
 */
export class QueueSet {
  #limit: number;
  #queuing: QueuingConfiguration | undefined;
  #dealer: Dealer | undefined;
  #queues: Waiter[][] = [];
  #next = 0;
  #executing = 0;
  #seatsInUse = 0;
  #waiting = 0;
  #waitingSeats = 0;
  readonly #running = new Set<HeldSeat>();
  /** totals since the set was made (upstream's dump counters) */
  readonly #totals = { dispatched: 0, rejected: 0, timedout: 0, cancelled: 0 };
  readonly #clock: Timers;
  readonly #maxWaitMs: number;
  /** seats held + seats asked for by waiting requests, over time */
  readonly demand: SeatDemandIntegrator;

  constructor(config: QueueSetConfig, opts: { clock?: Timers; maxWaitMs: number }) {
    this.#clock = opts.clock ?? unrefTimers;
    this.#maxWaitMs = opts.maxWaitMs;
    this.demand = new SeatDemandIntegrator(() => this.#clock.now());
    this.#limit = config.concurrencyLimit;
    this.#queuing = config.queuing;
    this.#rebuild();
  }

  /** requests executing (holding seats) */
  get executing(): number {
    return this.#executing;
  }
  get seatsInUse(): number {
    return this.#seatsInUse;
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
          this.#unqueued(w);
          this.#clock.clearTimeout(w.timer);
          this.#totals.rejected++;
          w.reject(new Rejected('concurrency-limit'));
          continue;
        }
        w.queue = this.#shortest(w.hash);
        this.#queues[w.queue]!.push(w);
      }
    }
    this.#dispatch();
  }

  /** a new limit only (borrowing): more seats dispatch waiting requests at once */
  setLimit(limit: number): void {
    this.#limit = limit;
    this.#dispatch();
  }

  /**
   * Seats now, a wait for them, or Rejected thrown (`queue-full`, `concurrency-limit`).
   * `flowHash` is only read when the request has to queue.
   */
  acquire(flowHash: () => bigint, width: Width = ONE_SEAT, descr?: RequestDescr): Seat | Waiting {
    if (this.#waiting === 0 && this.#fits(width)) return this.#start(width, 0, descr, Date.now(), -1);
    if (!this.#dealer) return this.#refuse('concurrency-limit');
    const hash = flowHash();
    const queue = this.#shortest(hash);
    const q = this.#queues[queue]!;
    if (q.length >= this.#queuing!.queueLengthLimit) return this.#refuse('queue-full');
    let waiter!: Waiter;
    const seat = new Promise<Seat>((resolve, reject) => {
      waiter = { hash, width, descr, arrivedAt: Date.now(), enqueuedAt: this.#clock.now(), queue, timer: undefined, resolve, reject };
    });
    waiter.timer = this.#clock.setTimeout(() => this.#remove(waiter, 'time-out'), this.#maxWaitMs);
    q.push(waiter);
    this.#waiting++;
    this.#waitingSeats += held(width);
    this.#noteDemand();
    return { seat, cancel: () => this.#remove(waiter, 'cancelled') };
  }

  #refuse(reason: RejectReason): never {
    this.#totals.rejected++;
    throw new Rejected(reason);
  }

  /** called by HeldSeat: `seats` given back; `done` when the request stops executing */
  freed(seats: number, done: boolean, seat?: HeldSeat): void {
    if (done) {
      this.#executing--;
      if (seat) this.#running.delete(seat);
    }
    this.#seatsInUse -= seats;
    this.#noteDemand();
    this.#dispatch();
  }

  /** upstream's canAccommodateSeats: a request wider than the limit waits until nothing holds seats */
  #fits(w: Width): boolean {
    const seats = held(w);
    if (seats > this.#limit) return this.#seatsInUse === 0;
    return this.#seatsInUse + seats <= this.#limit;
  }

  #start(w: Width, waitedMs: number, descr: RequestDescr | undefined, arrivedAt: number, queue: number): HeldSeat {
    this.#executing++;
    this.#totals.dispatched++;
    this.#seatsInUse += held(w);
    this.#noteDemand();
    const seat = new HeldSeat(this, this.#clock, w, waitedMs, { descr, width: w, arrivedAt, startedAt: Date.now() }, queue);
    this.#running.add(seat);
    return seat;
  }

  /** upstream's QueueSet.Dump: counters, each queue's waiting and executing requests */
  dump(): QueueSetDump {
    const running = [...this.#running];
    const fromQueue = (i: number) => running.filter((r) => r.queue === i);
    return {
      waiting: this.#waiting,
      executing: this.#executing,
      ...this.#totals,
      idle: this.#waiting === 0 && this.#executing === 0,
      queues: this.#queues.map((q, i) => ({
        waiting: q.map((w) => ({ descr: w.descr, width: w.width, arrivedAt: w.arrivedAt })),
        executing: fromQueue(i).map((r) => r.dump),
        seatsInUse: fromQueue(i).reduce((n, r) => n + r.seats, 0),
        initialSeatsSum: q.reduce((n, w) => n + w.width.seats, 0),
        maxSeatsSum: q.reduce((n, w) => n + held(w.width), 0),
      })),
      queueless: running.filter((r) => r.queue < 0 || r.queue >= this.#queues.length).map((r) => r.dump),
    };
  }

  #unqueued(w: Waiter): void {
    this.#waiting--;
    this.#waitingSeats -= held(w.width);
    this.#noteDemand();
  }

  #noteDemand(): void {
    this.demand.set(this.#seatsInUse + this.#waitingSeats);
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
    this.#unqueued(w);
    this.#clock.clearTimeout(w.timer);
    if (reason === 'time-out') this.#totals.timedout++;
    else if (reason === 'cancelled') this.#totals.cancelled++;
    w.reject(new Rejected(reason));
  }

  #dispatch(): void {
    const n = this.#queues.length;
    while (this.#waiting > 0) {
      let at = -1;
      for (let k = 0; k < n; k++) {
        const i = (this.#next + k) % n;
        if (this.#queues[i]!.length > 0) {
          at = i;
          break;
        }
      }
      const q = this.#queues[at]!;
      // the turn is this queue's: nothing else dispatches until its head's seats are free (upstream)
      if (!this.#fits(q[0]!.width)) return;
      this.#next = (at + 1) % n;
      const w = q.shift()!;
      this.#unqueued(w);
      this.#clock.clearTimeout(w.timer);
      w.resolve(this.#start(w.width, this.#clock.now() - w.enqueuedAt, w.descr, w.arrivedAt, at));
    }
  }
}

/** the seats a request holds from dispatch to its end: the wider of its two phases (upstream's MaxSeats) */
const held = (w: Width): number => Math.max(w.seats, w.finalSeats);

class HeldSeat implements Seat {
  #set: QueueSet | undefined;
  /** seats held now: all of them, then the final seats after release */
  seats: number;
  constructor(
    set: QueueSet,
    private readonly clock: Timers,
    private readonly width: Width,
    readonly waitedMs: number,
    readonly dump: RequestDump,
    /** the queue it waited in, -1 when dispatched at once */
    readonly queue: number,
  ) {
    this.#set = set;
    this.seats = held(width);
  }
  /** the request is done; its final seats (if any) stay taken for the additional latency */
  release(): void {
    const set = this.#set;
    this.#set = undefined;
    if (!set) return;
    const { finalSeats, additionalLatencyMs } = this.width;
    const all = held(this.width);
    if (finalSeats > 0 && additionalLatencyMs > 0) {
      this.seats = finalSeats;
      set.freed(all - finalSeats, false);
      this.clock.setTimeout(() => set.freed(finalSeats, true, this), additionalLatencyMs);
    } else set.freed(all, true, this);
  }
}

export function isWaiting(x: Seat | Waiting): x is Waiting {
  return 'cancel' in x;
}
