import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryQueue, type SyncOutcome } from './retry-queue.ts';

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('RetryQueue', () => {
  it('syncs an item added twice while queued once, and retries a failing one with growing waits', async () => {
    const ac = new AbortController();
    const seen: { item: string; at: number }[] = [];
    const failFor = new Map([['b', 3]]);
    const q = new RetryQueue<string>({
      key: (s) => s,
      signal: ac.signal,
      backoff: { initialMs: 20, maxMs: 1000 },
      maxRetries: 10,
      sync: async (item): Promise<SyncOutcome> => {
        seen.push({ item, at: Date.now() });
        const left = failFor.get(item) ?? 0;
        if (left === 0) return 'done';
        failFor.set(item, left - 1);
        return 'retry';
      },
    });
    q.add('a');
    q.add('a');
    q.add('b');
    q.start();
    await until('b to succeed', () => seen.filter((s) => s.item === 'b').length === 4);
    assert.equal(seen.filter((s) => s.item === 'a').length, 1);
    const bAt = seen.filter((s) => s.item === 'b').map((s) => s.at);
    const waits = bAt.slice(1).map((t, i) => t - bAt[i]);
    assert.ok(waits[0] >= 18 && waits[1] >= 38 && waits[2] >= 78, `waits ${JSON.stringify(waits)}`);
    await q.drained();
    assert.equal(q.pending, 0);
    ac.abort();
    await q.stopped();
  });

  it('gives an item up after maxRetries, until it is added again; a throwing sync is a retry', async () => {
    const ac = new AbortController();
    let calls = 0;
    const gaveUp: number[] = [];
    const q = new RetryQueue<string>({
      key: (s) => s,
      signal: ac.signal,
      backoff: { initialMs: 1, maxMs: 2 },
      maxRetries: 3,
      sync: async () => {
        calls++;
        throw new Error('store down');
      },
      onGiveUp: (_i, failures) => gaveUp.push(failures),
    });
    q.start();
    q.add('x');
    await until('the give-up', () => gaveUp.length === 1);
    assert.equal(calls, 4, 'the first try and three retries');
    assert.deepEqual(gaveUp, [3]);
    q.add('x');
    await until('the second give-up', () => gaveUp.length === 2);
    assert.equal(calls, 8);
    ac.abort();
    await q.stopped();
  });
});
