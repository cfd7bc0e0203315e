import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forEachConcurrent } from './concurrent.ts';

describe('forEachConcurrent', () => {
  it('runs every item once, in order of start, at most `limit` at once', async () => {
    let inFlight = 0;
    let max = 0;
    const started: number[] = [];
    await forEachConcurrent([...Array(20).keys()], 3, async (item, i) => {
      assert.equal(item, i);
      started.push(i);
      max = Math.max(max, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
    });
    assert.deepEqual(started, [...Array(20).keys()]);
    assert.equal(max, 3);
  });

  it('starts nothing more once the signal aborts, and rejects with an error fn threw', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    await forEachConcurrent([1, 2, 3, 4], 1, async (n) => {
      seen.push(n);
      if (n === 2) ac.abort();
    }, ac.signal);
    assert.deepEqual(seen, [1, 2]);
    await assert.rejects(forEachConcurrent([1, 2], 2, async (n) => {
      if (n === 2) throw new Error('boom');
    }), /boom/);
    await forEachConcurrent([], 4, async () => assert.fail('no items'));
  });

  it('rejects with the first error only after the items still running have ended (no write left in flight)', async () => {
    let slowEnded = false;
    await assert.rejects(
      forEachConcurrent([0, 1, 2], 3, async (n) => {
        if (n === 0) {
          await new Promise((r) => setTimeout(r, 30));
          slowEnded = true;
          return;
        }
        await new Promise((r) => setTimeout(r, n));
        throw new Error(`fail ${n}`);
      }),
      /^Error: fail 1$/,
    );
    assert.equal(slowEnded, true);
  });
});
