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
  queues: QueueDump[];
  /** executing requests that did not come from a queue (the level has none) */
  queueless: RequestDump[];
}

/** upstream's debug.QueueDump: seat-second values as upstream's SeatSeconds.String (`0.00300000ss`) */
export interface QueueDump {
  waiting: RequestDump[];
  executing: RequestDump[];
  seatsInUse: number;
  nextDispatchR: string;
  initialSeatsSum: number;
  maxSeatsSum: number;
  totalWorkSum: string;
}

/**
 * Seat-seconds as upstream's fixed-point SeatSeconds: an integer count of 1e-8 seat-seconds, so
 * sums and differences are exact (below 2^53; see R_DECREMENT).
 */
const SS_PER_SEAT_MS = 1e5;
/** `seats` held for `ms` milliseconds, in seat-second units (upstream's SeatsTimesDuration) */
export const seatSeconds = (seats: number, ms: number): number => Math.round(seats * ms * SS_PER_SEAT_MS);
/** upstream's SeatSeconds.String: `<whole>.<8 digits>ss` */
export function formatSeatSeconds(ss: number): string {
  const sign = ss < 0 ? '-' : '';
  const abs = Math.abs(ss);
  return `${sign}${Math.floor(abs / 1e8)}.${String(abs % 1e8).padStart(8, '0')}ss`;
}
/** upstream's estimatedServiceDuration (G): a request is charged 3 ms per initial seat until it finishes */
const ESTIMATED_SERVICE_MS = 3;
/**
 * upstream winds R (and every reading of it) back by half its range once it reaches 3/4 of it;
 * here the range is 2^52 units (about 45 million seat-seconds: a double is exact to 2^53)
 */
const R_DECREMENT = 2 ** 51;
const HIGH_R = R_DECREMENT + R_DECREMENT / 2;

interface Waiter {
  hash: bigint;
  width: Width;
  /** seat-seconds: initial seats × G + final seats × additional latency; and the final part alone */
  totalWork: number;
  finalWork: number;
  descr: RequestDescr | undefined;
  /** wall-clock ms, for the dumps */
  arrivedAt: number;
  enqueuedAt: number;
  /** R when it arrived: its queue is never dispatched virtually before that (anti-windup) */
  arrivalR: number;
  queue: Queue;
  timer: unknown;
  /** set once it waits; a request dispatched within acquire gets `held` instead */
  resolve?: (seat: Seat) => void;
  reject?: (err: Rejected) => void;
  held?: HeldSeat;
}

/** upstream's queue: its FIFO with running sums, its executing requests, its virtual dispatch time */
class Queue {
  /** false once the set's queues were replaced (setConfig): it only drains then */
  current = true;
  constructor(readonly index: number) {}
  readonly waiting: Waiter[] = [];
  readonly executing = new Set<HeldSeat>();
  seatsInUse = 0;
  /** R at which the head of the queue starts (virtually) */
  nextDispatchR = 0;
  initialSeatsSum = 0;
  maxSeatsSum = 0;
  totalWorkSum = 0;
  get idle(): boolean {
    return this.waiting.length === 0 && this.executing.size === 0;
  }
  push(w: Waiter): void {
    this.waiting.push(w);
    this.#sum(w, 1);
  }
  /** removes `w` (the head, or one that timed out or was cancelled); false when not here */
  remove(w: Waiter): boolean {
    const at = this.waiting[0] === w ? 0 : this.waiting.indexOf(w);
    if (at < 0) return false;
    if (at === 0) this.waiting.shift();
    else this.waiting.splice(at, 1);
    this.#sum(w, -1);
    return true;
  }
  #sum(w: Waiter, sign: 1 | -1): void {
    this.initialSeatsSum += sign * w.width.seats;
    this.maxSeatsSum += sign * held(w.width);
    this.totalWorkSum += sign * w.totalWork;
  }
}

/**
 * One Limited priority level's seats and queues: upstream's queueset (fair queuing for server
 * requests, k8s.io/apiserver/pkg/util/flowcontrol/fairqueuing/queueset). A request's flow hash
 * deals it a hand of queues (shuffle sharding); it joins the one with the least waiting work, or
 * is rejected (`queue-full`) when that one holds queueLengthLimit and every seat is taken. Virtual
 * time R (seat-seconds per queue) advances at min(seats asked for, limit) / active queues; each
 * queue's nextDispatchR advances by the work of each request it dispatches (initial seats × 3 ms,
 * corrected to the real duration when the request finishes, + final seats × additional latency),
 * and the next request dispatched is the head with the least virtual finish time (nextDispatchR +
 * its work), round-robin among equals, once its seats are free: the queue holds the turn until
 * then, so the widest request gets in (one wider than the limit runs when nothing else holds
 * seats). So flows get equal seat-seconds whatever their request widths and durations, and FIFO
 * within a queue. A request still queued after `maxWaitMs` is rejected (`time-out`); the seat
 * demand (seats held plus seats waiting) is integrated over time for borrowing (borrowing.ts).
 */
export class QueueSet {
  #limit: number;
  #queuing: QueuingConfiguration | undefined;
  #dealer: Dealer | undefined;
  #queues: Queue[] = [];
  /** the queue last dispatched from */
  #robin = -1;
  /** requests enqueued so far: where a hand is looked at first (upstream's `enqueues`) */
  #enqueues = 0;
  #currentR = 0;
  #lastRealTime: number;
  /** queues with requests waiting or executing, and the seats their requests hold (for R's rate) */
  #activeQueues = 0;
  #queuedSeatsInUse = 0;
  #executing = 0;
  #seatsInUse = 0;
  #waiting = 0;
  #waitingSeats = 0;
  /** executing requests not in a queue's set (no queues, or their queue was replaced) */
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
    this.#lastRealTime = this.#clock.now();
    this.#limit = config.concurrencyLimit;
    this.#queuing = config.queuing;
    this.#rebuild();
  }

  /** requests executing (in their handlers) */
  get executing(): number {
    return this.#executing;
  }
  /** seats held, final seats of finished requests included */
  get seatsInUse(): number {
    return this.#seatsInUse;
  }
  get waiting(): number {
    return this.#waiting;
  }
  get concurrencyLimit(): number {
    return this.#limit;
  }
  /** virtual time R, seat-seconds per queue since the set was made (upstream's currentR) */
  get currentR(): number {
    this.#syncTime();
    return this.#currentR;
  }
  /** requests waiting in each queue (tests, debugging) */
  queueLengths(): number[] {
    return this.#queues.map((q) => q.waiting.length);
  }

  /** a new limit or queue shape: waiting requests are dealt into the new queues, then seats given out */
  setConfig(config: QueueSetConfig): void {
    this.#syncTime();
    const q = config.queuing;
    const same = q?.queues === this.#queuing?.queues && q?.handSize === this.#queuing?.handSize;
    this.#limit = config.concurrencyLimit;
    this.#queuing = q;
    if (!same) {
      const waiters = this.#queues.flatMap((x) => x.waiting).sort((a, b) => a.enqueuedAt - b.enqueuedAt);
      // executing requests of the old queues finish outside any queue (their seats still count)
      for (const old of this.#queues) {
        for (const seat of old.executing) {
          seat.queue = undefined;
          this.#running.add(seat);
        }
      }
      this.#rebuild();
      for (const w of waiters) {
        if (!this.#dealer) {
          this.#unqueued(w);
          this.#clock.clearTimeout(w.timer);
          this.#totals.rejected++;
          w.reject?.(new Rejected('concurrency-limit'));
          continue;
        }
        this.#waiting--;
        this.#waitingSeats -= held(w.width);
        this.#enqueue(w, this.#shuffleShard(w.hash));
      }
    }
    this.#dispatch();
  }

  /** a new limit only (borrowing): more seats dispatch waiting requests at once */
  setLimit(limit: number): void {
    this.#syncTime();
    this.#limit = limit;
    this.#dispatch();
  }

  /**
   * Seats now, a wait for them, or Rejected thrown (`queue-full`, `concurrency-limit`).
   * `flowHash` is only read when the level has queues.
   */
  acquire(flowHash: () => bigint, width: Width = ONE_SEAT, descr?: RequestDescr): Seat | Waiting {
    if (!this.#dealer) {
      // no queues (limitResponse Reject, or an exempt level's unlimited set): the limit alone
      if (!this.#fits(width)) return this.#refuse('concurrency-limit');
      return this.#start(width, 0, descr, Date.now(), undefined);
    }
    this.#syncTime();
    const hash = flowHash();
    const queue = this.#shuffleShard(hash);
    if (this.#seatsInUse >= this.#limit && queue.waiting.length >= this.#queuing!.queueLengthLimit) return this.#refuse('queue-full');
    const finalWork = seatSeconds(width.finalSeats, width.additionalLatencyMs);
    const w: Waiter = {
      hash,
      width,
      totalWork: seatSeconds(width.seats, ESTIMATED_SERVICE_MS) + finalWork,
      finalWork,
      descr,
      arrivedAt: Date.now(),
      enqueuedAt: this.#clock.now(),
      arrivalR: this.#currentR,
      queue,
      timer: undefined,
    };
    this.#enqueue(w, queue);
    // alone in the queues, it is the one the dispatcher would pick
    if (this.#waiting === 1) {
      if (this.#fits(width)) this.#dispatchHead(queue);
    } else this.#dispatch();
    if (w.held) return w.held;
    const seat = new Promise<Seat>((resolve, reject) => {
      w.resolve = resolve;
      w.reject = reject;
    });
    w.timer = this.#clock.setTimeout(() => this.#remove(w, 'time-out'), this.#maxWaitMs);
    return { seat, cancel: () => this.#remove(w, 'cancelled') };
  }

  #refuse(reason: RejectReason): never {
    this.#totals.rejected++;
    throw new Rejected(reason);
  }

  /**
   * called by HeldSeat when its request is done: the queue's nextDispatchR is corrected from the
   * estimate (G per seat) to the real service time; the final seats stay taken for the additional
   * latency, the rest are given back now
   */
  finish(seat: HeldSeat): void {
    this.#syncTime();
    this.#executing--;
    const q = seat.queue;
    if (q) {
      const was = q.idle;
      q.executing.delete(seat);
      this.#idleChanged(q, was);
      q.nextDispatchR += seatSeconds(seat.width.seats, this.#clock.now() - seat.startedAt - ESTIMATED_SERVICE_MS);
      this.#boundNextDispatch(q);
    } else this.#running.delete(seat);
    const { finalSeats, additionalLatencyMs } = seat.width;
    const all = held(seat.width);
    if (finalSeats > 0 && additionalLatencyMs > 0) {
      seat.seats = finalSeats;
      this.#release(q, all - finalSeats);
      this.#clock.setTimeout(() => {
        this.#syncTime();
        seat.seats = 0;
        this.#release(q, finalSeats);
      }, additionalLatencyMs);
    } else {
      seat.seats = 0;
      this.#release(q, all);
    }
  }

  #release(q: Queue | undefined, seats: number): void {
    this.#seatsInUse -= seats;
    if (q) {
      q.seatsInUse -= seats;
      if (q.current) this.#queuedSeatsInUse -= seats;
    }
    this.#noteDemand();
    this.#dispatch();
  }

  /** upstream's canAccommodateSeats: a request wider than the limit waits until nothing holds seats */
  #fits(w: Width): boolean {
    const seats = held(w);
    if (seats > this.#limit) return this.#seatsInUse === 0;
    return this.#seatsInUse + seats <= this.#limit;
  }

  #start(w: Width, waitedMs: number, descr: RequestDescr | undefined, arrivedAt: number, queue: Queue | undefined): HeldSeat {
    this.#executing++;
    this.#totals.dispatched++;
    const seats = held(w);
    this.#seatsInUse += seats;
    this.#noteDemand();
    const seat = new HeldSeat(this, w, waitedMs, { descr, width: w, arrivedAt, startedAt: Date.now() }, queue, this.#clock.now());
    if (queue) {
      queue.executing.add(seat);
      queue.seatsInUse += seats;
      this.#queuedSeatsInUse += seats;
    } else this.#running.add(seat);
    return seat;
  }

  /** upstream's QueueSet.Dump: counters, each queue's waiting and executing requests and virtual time */
  dump(): QueueSetDump {
    const req = (w: Waiter): RequestDump => ({ descr: w.descr, width: w.width, arrivedAt: w.arrivedAt });
    return {
      waiting: this.#waiting,
      executing: this.#executing,
      ...this.#totals,
      idle: this.#waiting === 0 && this.#executing === 0,
      queues: this.#queues.map((q) => ({
        waiting: q.waiting.map(req),
        executing: [...q.executing].map((r) => r.dump),
        seatsInUse: q.seatsInUse,
        nextDispatchR: formatSeatSeconds(q.nextDispatchR),
        initialSeatsSum: q.initialSeatsSum,
        maxSeatsSum: q.maxSeatsSum,
        totalWorkSum: formatSeatSeconds(q.totalWorkSum),
      })),
      queueless: [...this.#running].map((r) => r.dump),
    };
  }

  #enqueue(w: Waiter, queue: Queue): void {
    // an idle queue starts at the current virtual time
    if (queue.idle) queue.nextDispatchR = this.#currentR;
    w.queue = queue;
    const was = queue.idle;
    queue.push(w);
    this.#idleChanged(queue, was);
    this.#waiting++;
    this.#waitingSeats += held(w.width);
    this.#noteDemand();
    this.#boundNextDispatch(queue);
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
    for (const old of this.#queues) old.current = false;
    this.#queues = q ? Array.from({ length: q.queues }, (_, i) => new Queue(i)) : [];
    this.#activeQueues = 0;
    this.#queuedSeatsInUse = 0;
    this.#robin = -1;
  }

  /**
   * R advances by the time since the last change × min(seats in use + seats waiting, limit) /
   * queues with requests waiting or executing (upstream's syncTimeLocked); call before any change
   */
  #syncTime(): void {
    const now = this.#clock.now();
    const elapsed = now - this.#lastRealTime;
    this.#lastRealTime = now;
    if (elapsed <= 0 || this.#activeQueues === 0) return;
    // every waiting request is in a current queue
    const asked = this.#queuedSeatsInUse + this.#waitingSeats;
    this.#currentR += seatSeconds(Math.min(asked, this.#limit) / this.#activeQueues, elapsed);
    if (this.#currentR >= HIGH_R) this.#advanceEpoch();
  }

  /** R and every reading of it wound back, so they stay exact integers (upstream's advanceEpoch) */
  #advanceEpoch(): void {
    this.#currentR -= R_DECREMENT;
    for (const q of this.#queues) {
      if (q.idle) {
        q.nextDispatchR = 0;
        continue;
      }
      q.nextDispatchR -= R_DECREMENT;
      for (const w of q.waiting) w.arrivalR -= R_DECREMENT;
    }
  }

  /**
   * the queue of the flow's hand with the least work waiting, looking first at a different card
   * each time so that flows whose hands overlap do not favour the same queue (upstream's shuffleShardLocked)
   */
  #shuffleShard(hash: bigint): Queue {
    const hand = this.#dealer!.deal(hash);
    const offset = this.#enqueues++ % hand.length;
    let best: Queue | undefined;
    for (let i = 0; i < hand.length; i++) {
      const q = this.#queues[hand[(offset + i) % hand.length]!]!;
      if (!best || q.totalWorkSum < best.totalWorkSum) best = q;
    }
    return best!;
  }

  #idleChanged(q: Queue, wasIdle: boolean): void {
    if (q.current && wasIdle !== q.idle) this.#activeQueues += wasIdle ? 1 : -1;
  }

  /** anti-windup: a queue's head is not dispatched virtually before it arrived (upstream's boundNextDispatchLocked) */
  #boundNextDispatch(q: Queue): void {
    const head = q.waiting[0];
    if (head && q.nextDispatchR < head.arrivalR) q.nextDispatchR = head.arrivalR;
  }

  #remove(w: Waiter, reason: RejectReason): void {
    const q = w.queue;
    if (!q.waiting.includes(w)) return;
    this.#syncTime();
    const was = q.idle;
    q.remove(w);
    this.#idleChanged(q, was);
    this.#unqueued(w);
    this.#clock.clearTimeout(w.timer);
    this.#totals.rejected++;
    if (reason === 'time-out') this.#totals.timedout++;
    else if (reason === 'cancelled') this.#totals.cancelled++;
    w.reject?.(new Rejected(reason));
    this.#boundNextDispatch(q);
    this.#dispatch();
  }

  #dispatch(): void {
    while (this.#waiting > 0 && this.#dispatchOne());
  }

  /**
   * upstream's dispatchLocked: of the queues with a request waiting, in round-robin order after
   * the last one served, the first whose head has the least virtual finish time (nextDispatchR +
   * its work) is served once its head's seats are free; false when it has to wait for them
   */
  #dispatchOne(): boolean {
    const n = this.#queues.length;
    let best: Queue | undefined;
    let minFinish = Infinity;
    for (let k = 1; k <= n; k++) {
      const at = (this.#robin + k) % n;
      const q = this.#queues[at]!;
      const head = q.waiting[0];
      if (!head) continue;
      const finish = q.nextDispatchR + head.totalWork;
      if (finish < minFinish) {
        minFinish = finish;
        best = q;
      }
    }
    if (!best) return false;
    // the turn stays this queue's: nothing else dispatches until its head's seats are free
    if (!this.#fits(best.waiting[0]!.width)) return false;
    this.#dispatchHead(best);
    return true;
  }

  /** the head of `best` starts executing */
  #dispatchHead(best: Queue): void {
    const w = best.waiting[0]!;
    this.#robin = best.index;
    best.remove(w);
    this.#unqueued(w);
    this.#clock.clearTimeout(w.timer);
    let width = w.width;
    if (width.finalSeats > this.#limit && this.#limit >= 1) {
      // final seats over the limit are cut to it, the additional latency stretched to keep the work (upstream)
      width = { ...width, finalSeats: this.#limit, additionalLatencyMs: w.finalWork / SS_PER_SEAT_MS / this.#limit };
    }
    const seat = this.#start(width, this.#clock.now() - w.enqueuedAt, w.descr, w.arrivedAt, best);
    best.nextDispatchR += w.totalWork;
    this.#boundNextDispatch(best);
    if (w.resolve) w.resolve(seat);
    else w.held = seat;
  }
}

/** the seats a request holds from dispatch to its end: the wider of its two phases (upstream's MaxSeats) */
const held = (w: Width): number => Math.max(w.seats, w.finalSeats);

class HeldSeat implements Seat {
  #set: QueueSet | undefined;
  /** seats held now: all of them, then the final seats after release, then none */
  seats: number;
  constructor(
    set: QueueSet,
    readonly width: Width,
    readonly waitedMs: number,
    readonly dump: RequestDump,
    /** the queue it was dispatched from; undefined when the level has none (or they were replaced since) */
    public queue: Queue | undefined,
    /** clock ms when it started executing */
    readonly startedAt: number,
  ) {
    this.#set = set;
    this.seats = held(width);
  }
  /** the request is done; its final seats (if any) stay taken for the additional latency */
  release(): void {
    const set = this.#set;
    this.#set = undefined;
    set?.finish(this);
  }
}

export function isWaiting(x: Seat | Waiting): x is Waiting {
  return 'cancel' in x;
}
