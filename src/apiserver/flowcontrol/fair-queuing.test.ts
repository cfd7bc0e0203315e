import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apfDump } from './dump.ts';
import { FakeClock } from './fake-clock.ts';
import { formatSeatSeconds, isWaiting, QueueSet, type Seat, type Width } from './queue-set.ts';
import { hashFlow } from './shuffle-sharding.ts';

const h = (flow: string) => () => hashFlow('fs', flow);
const width = (seats: number, finalSeats = 0, additionalLatencyMs = 0): Width => ({ seats, finalSeats, additionalLatencyMs });
const turn = () => new Promise<void>((r) => setImmediate(r));

/**
 * Flows sending requests to one QueueSet on the fake clock, moved 1 ms at a time (a seat granted
 * to a waiting request is seen when its promise settles, within the same millisecond); each
 * request holds its seats for its duration, then releases them.
 */
class Sim {
  readonly clock = new FakeClock();
  readonly qs: QueueSet;
  /** seat-ms of the requests finished, per flow */
  readonly seatMs = new Map<string, number>();
  /** [flow, id] in the order dispatched */
  readonly started: [string, number][] = [];
  readonly waits = new Map<string, number[]>();
  #id = 0;
  constructor(limit: number, queues = 64, handSize = 1) {
    this.qs = new QueueSet({ concurrencyLimit: limit, queuing: { queues, handSize, queueLengthLimit: 1000 } }, { clock: this.clock, maxWaitMs: 1e9 });
  }
  /** a request of `flow`; `then` runs when it has finished */
  submit(flow: string, w: Width, durationMs: number, then?: () => void): number {
    const id = this.#id++;
    const run = (seat: Seat): void => {
      this.started.push([flow, id]);
      this.waits.set(flow, [...(this.waits.get(flow) ?? []), seat.waitedMs]);
      this.clock.setTimeout(() => {
        seat.release();
        this.seatMs.set(flow, (this.seatMs.get(flow) ?? 0) + w.seats * durationMs);
        then?.();
      }, durationMs);
    };
    const got = this.qs.acquire(h(flow), w);
    if (isWaiting(got)) void got.seat.then(run);
    else run(got);
    return id;
  }
  /** keeps `depth` requests of `flow` waiting or running until the end */
  backlog(flow: string, w: Width, durationMs: number, depth: number): void {
    const next = (): void => void this.submit(flow, w, durationMs, next);
    for (let i = 0; i < depth; i++) next();
  }
  async run(ms: number, every?: { ms: number; fn: () => void }): Promise<void> {
    for (let t = 1; t <= ms; t++) {
      this.clock.advance(1);
      if (every && t % every.ms === 0) every.fn();
      await turn();
    }
  }
  share(a: string, b: string): number {
    return this.seatMs.get(a)! / this.seatMs.get(b)!;
  }
}

describe('fair queuing (virtual time, queue-set.ts)', () => {
  /** two flows kept `depth` deep on 4 seats for 3 s: their seat-seconds within 15% of each other */
  const equalShares = async (a: [string, Width, number], b: [string, Width, number], depth: number): Promise<Sim> => {
    const sim = new Sim(4);
    sim.backlog(a[0], a[1], a[2], depth);
    sim.backlog(b[0], b[1], b[2], depth);
    await sim.run(3000);
    const share = sim.share(a[0], b[0]);
    assert.ok(share > 0.85 && share < 1.15, `${a[0]}/${b[0]} seat-seconds ${share.toFixed(3)} (${sim.seatMs.get(a[0])} / ${sim.seatMs.get(b[0])})`);
    return sim;
  };

  it('gives two backlogged flows equal seat-seconds whatever their request widths', async () => {
    // narrow: 1 seat for 10 ms; wide: 3 seats for 10 ms. By turns, wide would get 3x the seat-seconds.
    // Deep backlogs: with a few queued, upstream's anti-windup (a queue is not charged from before
    // its head arrived) holds back the flow whose head is fresh, here narrow's (~0.64 at depth 20)
    await equalShares(['narrow', width(1), 10], ['wide', width(3), 10], 200);
  });

  it('gives two backlogged flows equal seat-seconds whatever their request durations (charged as they finish)', async () => {
    // short: 1 seat for 5 ms; long: 1 seat for 50 ms. By turns, long would get 10x the seat-seconds.
    const sim = await equalShares(['short', width(1), 5], ['long', width(1), 50], 20);
    // both kept busy: the 4 seats were in use all the time
    assert.ok(sim.seatMs.get('short')! + sim.seatMs.get('long')! >= 4 * 3000 - 4 * 50);
  });

  it('a heavy flow does not starve a light one of the same level', async () => {
    // heavy keeps 100 requests of every seat for 20 ms queued; light asks for 1 seat every 100 ms
    const sim = new Sim(4);
    sim.backlog('heavy', width(4), 20, 100);
    await sim.run(2000, { ms: 100, fn: () => void sim.submit('light', width(1), 5) });
    const light = sim.waits.get('light')!;
    assert.ok(light.length >= 19, `light served ${light.length} times`);
    // at worst it waits for the heavy request running when it came, and one whose virtual finish was earlier
    assert.ok(Math.max(...light) <= 40, `light waited ${light.join(',')} ms`);
    assert.ok(sim.seatMs.get('heavy')! > 0.9 * 4 * 2000 - 200, 'heavy used the seats light left');
  });

  it('dispatches the requests of a flow in the order they came (FIFO), whatever their widths', async () => {
    const sim = new Sim(4);
    const mine: number[] = [];
    for (let i = 0; i < 30; i++) {
      mine.push(sim.submit('a', width(1 + (i % 4)), 3 + (i % 7)));
      sim.submit('b', width(1 + ((i + 2) % 3)), 4);
    }
    await sim.run(500);
    assert.deepEqual(sim.started.filter(([f]) => f === 'a').map(([, id]) => id), mine);
    assert.equal(sim.started.length, 60);
  });

  it('shows the virtual time in dump_queues: NextDispatchR, TotalWorkSum in upstream\'s seat-seconds format', async () => {
    const clock = new FakeClock();
    const set = new QueueSet({ concurrencyLimit: 1, queuing: { queues: 1, handSize: 1, queueLengthLimit: 10 } }, { clock, maxWaitMs: 60_000 });
    const first = set.acquire(() => 1n) as Seat;
    const second = set.acquire(() => 1n);
    set.acquire(() => 1n, width(1, 2, 10));
    const levels = [{ name: 'l', quiescing: false, set }];
    const dumpQueues = () => apfDump('/debug/api_priority_and_fairness/dump_queues', new URLSearchParams(), levels)!.split('\n')[1]!.split(',').map((c) => c.trim());
    // the first runs (charged G = 3 ms per seat); two wait: 3 ms + (3 ms + 2 seats x 10 ms) of work
    assert.deepEqual(dumpQueues(), ['l', '0', '2', '1', '1', '0.00300000ss', '2', '3', '0.02600000ss']);
    clock.advance(10);
    first.release();
    // its charge corrected to the 10 ms it ran, then the second's 3 ms: 0.013
    assert.deepEqual(dumpQueues(), ['l', '0', '1', '1', '1', '0.01300000ss', '1', '2', '0.02300000ss']);
    assert.equal(set.currentR, 10 * 1e5, 'R went at 1 seat (the limit) per active queue: 10 ms = 0.01 seat-seconds');
    assert.ok(isWaiting(second));
    (await second.seat).release();
  });

  it('formats seat-seconds as upstream (SeatSeconds.String) and winds R back before it loses precision', () => {
    assert.equal(formatSeatSeconds(0), '0.00000000ss');
    assert.equal(formatSeatSeconds(123_456_789_012), '1234.56789012ss');
    const clock = new FakeClock();
    const set = new QueueSet({ concurrencyLimit: 1, queuing: { queues: 2, handSize: 1, queueLengthLimit: 10 } }, { clock, maxWaitMs: 1e12 });
    const seat = set.acquire(() => 1n) as Seat;
    clock.advance(4e10); // R at 1 seat-second per second: 4e7 seat-seconds, past 3/4 of the exact range
    assert.ok(set.currentR < 2 ** 52 && Number.isSafeInteger(set.currentR), String(set.currentR));
    seat.release();
    const dump = set.dump().queues.map((q) => q.nextDispatchR);
    // the queue's charge, corrected to the time it ran, lands on R again (both wound back alike)
    assert.equal(Number(dump.find((r) => r !== '0.00000000ss')!.replace(/ss$/, '')) * 1e8, set.currentR);
  });
});
