import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apfDump, tabwrite } from './dump.ts';
import { QueueSet } from './queue-set.ts';
import { FakeClock } from './fake-clock.ts';

describe('APF debug dumps', () => {
  it('aligns `cell,` columns as Go\'s tabwriter (minwidth 8, padding 1); the last cell is not padded', () => {
    assert.equal(tabwrite([['a', 'bb', 'x'], ['cccccccc', 'd', 'yyyy']]), 'a,        bb,     x\ncccccccc, d,      yyyy\n');
  });

  it('a queueless level: executing requests at index -1, a rejected one counted; unknown dump paths are undefined', () => {
    const set = new QueueSet({ concurrencyLimit: 1 }, { clock: new FakeClock(), maxWaitMs: 1000 });
    const info = { isResourceRequest: false as const, verb: 'get' as const, path: '/healthz' };
    const seat = set.acquire(() => 0n, undefined, { flowSchema: 'fs', distinguisher: '', user: 'u', info });
    assert.throws(() => set.acquire(() => 0n), /concurrency-limit/);
    const levels = [{ name: 'l', quiescing: false, set }];
    assert.equal(apfDump('/debug/api_priority_and_fairness/dump_priority_levels', new URLSearchParams(), levels)!.split('\n')[1], 'l,                 0,            false,  false,       0,               1,                 1,                  1,                0,                0');
    const rows = apfDump('/debug/api_priority_and_fairness/dump_requests', new URLSearchParams('includeRequestDetails=true'), levels)!.split('\n');
    assert.deepEqual(rows[1]!.split(',').map((c) => c.trim()).filter((_, i) => i !== 5 && i !== 9), ['l', 'fs', '-1', '-1', '', '1', '0', '0s', 'u', 'get', '/healthz', '', '', '', '', '']);
    assert.equal(apfDump('/debug/api_priority_and_fairness/dump_queues', new URLSearchParams(), levels), 'PriorityLevelName, Index,  PendingRequests, ExecutingRequests, SeatsInUse, NextDispatchR, InitialSeatsSum, MaxSeatsSum, TotalWorkSum\n');
    assert.equal(apfDump('/debug/api_priority_and_fairness/nope', new URLSearchParams(), levels), undefined);
    (seat as { release(): void }).release();
    assert.match(apfDump('/debug/api_priority_and_fairness/dump_priority_levels', new URLSearchParams(), levels)!, /\nl, +0, +true, /);
  });
});
