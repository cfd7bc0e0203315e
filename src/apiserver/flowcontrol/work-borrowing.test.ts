import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import { Registry as MetricsRegistry } from '../../lib/prom.ts';
import { parseRequestInfo } from '../request-info.ts';
import { PriorityAndFairness } from './apf.ts';
import { allocate } from './borrowing.ts';
import { MANDATORY_FLOW_SCHEMAS, MANDATORY_PRIORITY_LEVELS, type FlowSchema, type PriorityLevelConfiguration } from './bootstrap.ts';
import { FakeClock } from './fake-clock.ts';
import type { Ticket } from './gate.ts';
import { FlowControlMetrics } from './metrics.ts';
import { ObjectCountTracker } from './object-counts.ts';
import { isWaiting, QueueSet, type Seat } from './queue-set.ts';
import { RetryAfterTracker } from './retry-after.ts';
import { WatchTracker } from './watch-tracker.ts';
import { estimateWork, maxSeatsOfLevel, type WorkEstimatorSources } from './work-estimate.ts';

const info = (method: string, path: string, query = '') => parseRequestInfo(method, path, new URLSearchParams(query));
const q = (s = '') => new URLSearchParams(s);

describe('work estimation (upstream request/list_work_estimator.go, mutating_work_estimator.go)', () => {
  const src = (count: number | 'stale' | undefined, watches = 0): WorkEstimatorSources => ({ objectCount: () => count, watchCount: () => watches });
  const seats = (method: string, path: string, query: string, count: number | 'stale' | undefined, maxSeats = 10) => estimateWork(info(method, path, query), q(query), maxSeats, src(count)).seats;

  it('a LIST takes a seat per 100 objects it goes through, 1 to 10', () => {
    const pods = '/api/v1/namespaces/a/pods';
    assert.equal(seats('GET', pods, '', 0), 1);
    assert.equal(seats('GET', pods, '', 40), 1, '2 × 40 objects (read, then filtered and sent) = 1 seat');
    assert.equal(seats('GET', pods, '', 150), 3);
    assert.equal(seats('GET', pods, '', 450), 9);
    assert.equal(seats('GET', pods, '', 5000), 10, 'at most 10');
    assert.equal(seats('GET', pods, 'limit=100', 5000), 2, 'a page of 100: 2 × 100');
    assert.equal(seats('GET', pods, 'limit=100&continue=abc', 5000), 2);
    assert.equal(seats('GET', pods, 'labelSelector=app%3Dx&limit=100', 350), 5, 'a selector goes through all stored + the page');
    assert.equal(seats('GET', pods, '', 5000, 3), 3, "the level's cap");
    assert.equal(seats('GET', pods, 'fieldSelector=metadata.name%3Dp1', 5000), 1, 'one name is a get');
    assert.equal(seats('GET', pods, '', undefined), 1, 'a type not counted: the minimum');
    assert.equal(seats('GET', pods, '', 'stale'), 10, 'a stale count: the maximum');
    assert.equal(seats('GET', pods, 'limit=-1', 10), 10, 'bad options: the maximum');
  });

  it('a WATCH is one seat unless it asks for its initial events', () => {
    assert.equal(seats('GET', '/api/v1/pods', 'watch=1', 5000), 1);
    assert.equal(seats('GET', '/api/v1/pods', 'watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan', 250), 3);
  });

  it('a write reaching 10+ watches holds extra seats after it: ceil(watches/10) × 5 ms', () => {
    const w = (watches: number, path = '/api/v1/namespaces/a/pods', maxSeats = 10) => estimateWork(info('POST', path), q(), maxSeats, src(0, watches));
    assert.deepEqual(w(9), { seats: 1, finalSeats: 0, additionalLatencyMs: 0 });
    assert.deepEqual(w(25), { seats: 1, finalSeats: 3, additionalLatencyMs: 5 });
    // 200 watches: 20 seats × 5 ms reshaped to the cap of 10 seats × 10 ms
    assert.deepEqual(w(200), { seats: 1, finalSeats: 10, additionalLatencyMs: 10 });
    assert.deepEqual(w(200, '/api/v1/namespaces/a/serviceaccounts/sa/token'), { seats: 1, finalSeats: 0, additionalLatencyMs: 0 }, 'a token request makes no event');
    assert.equal(estimateWork(info('GET', '/api/v1/namespaces/a/pods/p'), q(), 10, src(9999, 999)).seats, 1);
  });

  it("caps a level's requests at 15% of its nominal seats and nominal/handSize (upstream's max seats table)", () => {
    const table: [number, number, number][] = [[5, 6, 1], [10, 6, 1], [15, 6, 2], [20, 6, 3], [35, 6, 5], [100, 6, 15], [200, 6, 30], [10, 1, 2], [100, 20, 5]];
    for (const [nominal, hand, want] of table) assert.equal(maxSeatsOfLevel(nominal, hand), want, `nominal ${nominal} handSize ${hand}`);
    assert.equal(maxSeatsOfLevel(13, undefined), 0, 'a Reject level: the estimator\'s own limit (10) applies');
  });

  it('counts the watches a write reaches: its type, its namespace, its object', () => {
    const t = new WatchTracker();
    const forgets = [t.register(info('GET', '/api/v1/pods', 'watch=1')), t.register(info('GET', '/api/v1/namespaces/a/pods', 'watch=1')), t.register(info('GET', '/api/v1/namespaces/b/pods', 'watch=1')), t.register(info('GET', '/api/v1/namespaces/a/pods', 'watch=1&fieldSelector=metadata.name%3Dp'))];
    assert.equal(t.interested(info('PATCH', '/api/v1/namespaces/a/pods/p')), 3, 'all pods, namespace a, and pod a/p (request-info names a watch by its metadata.name field selector)');
    assert.equal(t.interested(info('POST', '/api/v1/namespaces/c/pods')), 1);
    assert.equal(t.interested(info('POST', '/api/v1/namespaces/a/configmaps')), 0);
    for (const f of forgets) f();
    forgets[0]!();
    assert.equal(t.interested(info('PATCH', '/api/v1/namespaces/a/pods/p')), 0);
  });

  it('counts the stored objects per type; a failed count is stale; a type gone is forgotten', async () => {
    let fail = false;
    let withCrd = true;
    const tracker = new ObjectCountTracker(() => [
      { group: '', resource: 'pods', count: async () => 42 },
      { group: '', resource: 'pods', count: async () => 0 }, // a second version of the same type
      { group: 'apps', resource: 'deployments', count: async () => (fail ? Promise.reject(new Error('x')) : 7) },
      ...(withCrd ? [{ group: 'x.io', resource: 'widgets', count: async () => 3 }] : []),
    ]);
    await tracker.refresh();
    assert.deepEqual([tracker.get('', 'pods'), tracker.get('apps', 'deployments'), tracker.get('x.io', 'widgets'), tracker.get('', 'nope')], [42, 7, 3, undefined]);
    fail = true;
    withCrd = false;
    await tracker.refresh();
    assert.deepEqual([tracker.get('apps', 'deployments'), tracker.get('x.io', 'widgets')], ['stale', undefined]);
  });
});

describe('seats of wide requests (queue-set.ts)', () => {
  it('dispatches a wide request once its seats are free; a write keeps its final seats for the additional latency', async () => {
    const clock = new FakeClock();
    const qs = new QueueSet({ concurrencyLimit: 4, queuing: { queues: 1, handSize: 1, queueLengthLimit: 10 } }, { clock, maxWaitMs: 60_000 });
    const a = qs.acquire(() => 1n, { seats: 3, finalSeats: 0, additionalLatencyMs: 0 }) as Seat;
    assert.equal(qs.seatsInUse, 3);
    const b = qs.acquire(() => 1n, { seats: 2, finalSeats: 0, additionalLatencyMs: 0 });
    assert.ok(isWaiting(b), '3 + 2 > 4');
    const c = qs.acquire(() => 1n);
    assert.ok(isWaiting(c), 'behind b in the queue, though one seat is free');
    a.release();
    const sb = await b.seat;
    const sc = await c.seat;
    assert.equal(qs.seatsInUse, 3);
    sb.release();
    sc.release();
    // a write with 3 final seats for 10 ms: 3 seats held while it runs and for 10 ms after it
    const w = qs.acquire(() => 1n, { seats: 1, finalSeats: 3, additionalLatencyMs: 10 }) as Seat;
    assert.equal(qs.seatsInUse, 3);
    w.release();
    assert.equal(qs.seatsInUse, 3);
    clock.advance(10);
    assert.equal(qs.seatsInUse, 0);
    assert.equal(qs.executing, 0);
    // wider than the limit: runs alone
    const wide = qs.acquire(() => 1n, { seats: 9, finalSeats: 0, additionalLatencyMs: 0 });
    assert.ok(!isWaiting(wide));
  });
});

class FakeRes extends EventEmitter {
  headers: Record<string, string> = {};
  setHeader(k: string, v: string) {
    this.headers[k] = v;
  }
}
const res = () => new FakeRes() as unknown as ServerResponse;
const alice = { username: 'alice', groups: ['system:authenticated'] };
const bob = { username: 'bob', groups: ['system:authenticated'] };
const admin = { username: 'admin', groups: ['system:masters', 'system:authenticated'] };

const level = (name: string, shares: number, lendablePercent: number, borrowingLimitPercent?: number): PriorityLevelConfiguration => ({
  metadata: { name, uid: `uid-${name}` },
  spec: { type: 'Limited', limited: { nominalConcurrencyShares: shares, lendablePercent, borrowingLimitPercent, limitResponse: { type: 'Queue', queuing: { queues: 1, handSize: 1, queueLengthLimit: 200 } } } },
});
const schema = (user: string, pl: string): FlowSchema => ({
  metadata: { name: user, uid: `uid-${user}` },
  spec: { priorityLevelConfiguration: { name: pl }, matchingPrecedence: 100, rules: [{ subjects: [{ kind: 'User', user: { name: user } }], resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true }] }] },
});

describe('borrowing between levels (upstream apf_controller.go updateBorrowing)', () => {
  it('shares the seats by demand within each level\'s bounds', () => {
    // busy wants 80 (nominal 50, may borrow 50), the idle lender has lent down to 25, catch-all 5: 105 in all
    assert.deepEqual(allocate(105, [{ lower: 50, upper: 100, target: 80 }, { lower: 25, upper: 100, target: 25 }, { lower: 5, upper: 110, target: 5 }]).map(Math.round), [75, 25, 5]);
    assert.deepEqual(allocate(105, [{ lower: 50, upper: 100, target: 80 }, { lower: 50, upper: 100, target: 60 }, { lower: 5, upper: 110, target: 5 }]), [50, 50, 5]);
    // demand below the seats: the slack goes by target
    assert.deepEqual(allocate(100, [{ lower: 10, upper: 100, target: 10 }, { lower: 10, upper: 100, target: 30 }]).map(Math.round), [25, 75]);
  });

  it('a busy level borrows an idle lender\'s seats and gives them back when the lender gets busy', async () => {
    const clock = new FakeClock();
    const registry = new MetricsRegistry();
    // 105 server seats: busy 50 (lends none, borrows up to 100%), idle 50 (lends half), catch-all 5
    const apf = new PriorityAndFairness({ serverConcurrencyLimit: 105, maxWaitMs: 120_000, clock, metrics: new FlowControlMetrics(registry) });
    apf.setConfig([...MANDATORY_FLOW_SCHEMAS, schema('alice', 'busy'), schema('bob', 'idle')], [...MANDATORY_PRIORITY_LEVELS, level('busy', 50, 0, 100), level('idle', 50, 50)]);
    const busy = apf.levelState('busy')!;
    const idle = apf.levelState('idle')!;
    // upstream's first current limit: nominal less half the lendable seats
    assert.deepEqual([busy.concurrencyLimit, idle.concurrencyLimit], [50, 38]);
    const list = info('GET', '/api/v1/namespaces/a/configmaps');
    const busyTickets = Array.from({ length: 80 }, () => apf.admit(alice, list, res()));
    assert.deepEqual([busy.executing, busy.waiting], [50, 30]);

    clock.advance(10_000);
    assert.equal(busy.concurrencyLimit, 75, 'borrowed 25 of the idle level');
    assert.equal(idle.concurrencyLimit, 25, 'lent down to nominal − lendable');
    assert.deepEqual([busy.executing, busy.waiting], [75, 5]);
    const text = await registry.metrics();
    assert.match(text, /apiserver_flowcontrol_current_limit_seats\{priority_level="busy"\} 75/);
    assert.match(text, /apiserver_flowcontrol_current_limit_seats\{priority_level="idle"\} 25/);
    assert.match(text, /apiserver_flowcontrol_lower_limit_seats\{priority_level="idle"\} 25/);
    assert.match(text, /apiserver_flowcontrol_upper_limit_seats\{priority_level="busy"\} 100/);
    assert.match(text, /apiserver_flowcontrol_nominal_limit_seats\{priority_level="idle"\} 50/);

    // now the lender is busy too: it gets its nominal seats back, the borrower returns to its own
    const idleTickets = Array.from({ length: 60 }, () => apf.admit(bob, list, res()));
    assert.deepEqual([idle.executing, idle.waiting], [25, 35]);
    clock.advance(10_000);
    assert.deepEqual([busy.concurrencyLimit, idle.concurrencyLimit], [50, 50]);
    assert.deepEqual([idle.executing, idle.waiting], [50, 10]);
    // the borrower's requests over its limit finish; no new ones start until it is under 50
    const running = (await Promise.all(busyTickets.slice(0, 30))) as Ticket[];
    for (const t of running) t.release();
    assert.deepEqual([busy.executing, busy.waiting], [50, 0]);
    for (const t of (await Promise.all(busyTickets.slice(30))) as Ticket[]) t.release();
    for (const t of (await Promise.all(idleTickets.slice(0, 50))) as Ticket[]) t.release();
    for (const t of (await Promise.all(idleTickets.slice(50))) as Ticket[]) t.release();
    assert.deepEqual([busy.seatsInUse, idle.seatsInUse], [0, 0]);
    apf.close();
  });
});

describe('watches and rejections', () => {
  it('a WATCH holds its seat only until its initial events are sent, and counts for writes until it ends', async () => {
    const clock = new FakeClock();
    const apf = new PriorityAndFairness({ serverConcurrencyLimit: 1, maxWaitMs: 60_000, clock });
    apf.setConfig([...MANDATORY_FLOW_SCHEMAS, schema('alice', 'tiny')], [...MANDATORY_PRIORITY_LEVELS, level('tiny', 1000, 0)]);
    const tiny = apf.levelState('tiny')!;
    const watch = apf.admit(alice, info('GET', '/api/v1/namespaces/a/pods', 'watch=1'), res(), q('watch=1')) as Ticket;
    assert.equal(tiny.seatsInUse, 1, 'initializing');
    const list = apf.admit(alice, info('GET', '/api/v1/namespaces/a/pods'), res());
    assert.ok(list instanceof Promise, 'waits for the watch to initialize');
    watch.initialized!();
    const listTicket = await list;
    assert.equal(tiny.seatsInUse, 1, 'the list has the seat now');
    listTicket.release();
    // ten watches (exempt ones too) make a pod write hold a final seat
    const more = Array.from({ length: 9 }, () => apf.admit(admin, info('GET', '/api/v1/pods', 'watch=1'), res(), q('watch=1')) as Ticket);
    assert.deepEqual(apf.estimate(info('POST', '/api/v1/namespaces/a/pods'), q(), 10), { seats: 1, finalSeats: 1, additionalLatencyMs: 5 });
    watch.release();
    for (const t of more) t.release();
    assert.deepEqual(apf.estimate(info('POST', '/api/v1/namespaces/a/pods'), q(), 10).finalSeats, 0);
    assert.equal(tiny.seatsInUse, 0);
    apf.close();
  });

  it("Retry-After grows while a level keeps rejecting and shrinks when it stops (upstream's DroppedRequestsTracker)", () => {
    const clock = new FakeClock();
    const t = new RetryAfterTracker(() => clock.now());
    clock.advance(1000);
    for (let i = 0; i < 3; i++) t.rejected('p');
    assert.equal(t.retryAfter('p'), 1);
    clock.advance(1000);
    t.rejected('p');
    assert.equal(t.retryAfter('p'), 2, '3 rejections in the last second: doubled');
    assert.equal(t.retryAfter('other'), 1, 'per level');
    clock.advance(1000);
    t.rejected('p');
    assert.equal(t.retryAfter('p'), 2, '4 rejections in the last 2 s: kept');
    clock.advance(3000);
    t.rejected('p');
    assert.equal(t.retryAfter('p'), 1, 'fewer than Retry-After rejections in the last Retry-After seconds: one less');
    // a sustained flood: 10 a second
    for (let s = 0; s < 12; s++) {
      clock.advance(1000);
      for (let i = 0; i < 10; i++) t.rejected('p');
    }
    assert.ok(t.retryAfter('p') >= 4, String(t.retryAfter('p')));
    assert.ok(t.retryAfter('p') <= 32);
  });

  it('a rejection carries the level\'s Retry-After', () => {
    const clock = new FakeClock();
    const apf = new PriorityAndFairness({ serverConcurrencyLimit: 1, maxWaitMs: 60_000, clock, borrowingPeriodMs: 0 });
    const reject: PriorityLevelConfiguration = { metadata: { name: 'r', uid: 'r' }, spec: { type: 'Limited', limited: { nominalConcurrencyShares: 1000, limitResponse: { type: 'Reject' } } } };
    apf.setConfig([...MANDATORY_FLOW_SCHEMAS, schema('alice', 'r')], [...MANDATORY_PRIORITY_LEVELS, reject]);
    const list = info('GET', '/api/v1/namespaces/a/pods');
    assert.ok(!(apf.admit(alice, list, res()) instanceof Promise), 'the one seat');
    const retryAfter = (): number => {
      try {
        void apf.admit(alice, list, res());
      } catch (e) {
        if (isHedgeError(e, 'TooManyRequests')) return e.details.retryAfterSeconds as number;
        throw e;
      }
      throw new Error('admitted');
    };
    clock.advance(1000);
    for (let i = 0; i < 3; i++) assert.equal(retryAfter(), 1);
    clock.advance(1000);
    assert.equal(retryAfter(), 2);
    apf.close();
  });
});
