import assert from 'node:assert/strict';
import { test } from 'node:test';
import { afterExit, afterPullFailure, afterPullSuccess, crashLoopMessage, initialBackoff, mayRetry, type BackoffState } from './restart-backoff.ts';

const p = { baseMs: 10_000, maxMs: 300_000, resetMs: 600_000 };

test('restart back-off: first crash restarts at once, then 10s, 20s, 40s... capped at 5 min', () => {
  let s: BackoffState = initialBackoff;
  const delays: number[] = [];
  let t = 1_000_000;
  for (let i = 0; i < 8; i++) {
    s = afterExit(s, { startedAt: t, finishedAt: t + 1000 }, p);
    delays.push(s.retryAt - (t + 1000));
    assert.equal(s.waitingDelayMs, delays[i]);
    t = s.retryAt;
  }
  assert.deepEqual(delays, [0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
});

test('restart back-off: runs from the finish time, and a long run resets it', () => {
  let s = afterExit(initialBackoff, { startedAt: 0, finishedAt: 1000 }, p);
  s = afterExit(s, { startedAt: 2000, finishedAt: 3000 }, p);
  assert.equal(s.retryAt, 13_000, 'finish + 10 s');
  assert.equal(mayRetry(s, 12_999), false);
  assert.equal(mayRetry(s, 13_000), true);
  s = afterExit(s, { startedAt: 20_000, finishedAt: 20_000 + p.resetMs }, p);
  assert.equal(s.waitingDelayMs, 0, 'ran for resetMs: restart at once');
  assert.equal(s.backoffMs, p.baseMs);
  // unknown start time: no reset
  const again = afterExit({ ...s, backoffMs: 40_000 }, { finishedAt: 10 ** 9 }, p);
  assert.equal(again.waitingDelayMs, 40_000);
});

test('pull back-off: 10s, 20s, 40s... capped; a success clears the count', () => {
  let s: BackoffState = initialBackoff;
  const waits: number[] = [];
  for (let i = 0; i < 7; i++) {
    s = afterPullFailure(s, 0, p);
    waits.push(s.retryAt);
  }
  assert.deepEqual(waits, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
  assert.equal(afterPullSuccess(s).pullFailures, 0);
});

test('crash loop message names the delay, container and pod as the kubelet does', () => {
  const s = { ...initialBackoff, waitingDelayMs: 20_000 };
  assert.equal(crashLoopMessage(s, 'app', { name: 'p', namespace: 'ns', uid: 'u' }), 'back-off 20s restarting failed container=app pod=p_ns(u)');
});
