import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { linkedSignal, timeoutSignal } from './signals.ts';

describe('linkedSignal', () => {
  it('leaves nothing on a long-lived source once cleared', () => {
    const stop = new AbortController();
    for (let i = 0; i < 1_000; i++) {
      const op = new AbortController();
      const s = linkedSignal([stop.signal, op.signal]);
      assert.equal(s.aborted, false);
      s.clear();
    }
    assert.equal(getEventListeners(stop.signal, 'abort').length, 0);
  });

  it('aborts with the source reason, ignoring absent sources', () => {
    const a = new AbortController();
    const s = linkedSignal([undefined, a.signal]);
    const reason = new Error('stopping');
    a.abort(reason);
    assert.equal(s.aborted, true);
    assert.equal(s.reason, reason);
    s.clear();
  });

  it('is aborted at once when a source already is', () => {
    const s = linkedSignal([new AbortController().signal, AbortSignal.abort('gone')]);
    assert.equal(s.aborted, true);
    assert.equal(s.reason, 'gone');
  });

  it('holds one listener per operation in flight without a max-listeners warning', async () => {
    const stop = new AbortController();
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    const live = Array.from({ length: 50 }, () => linkedSignal([stop.signal]));
    assert.equal(getEventListeners(stop.signal, 'abort').length, 50);
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    for (const s of live) s.clear();
    assert.deepEqual(warnings.map((w) => w.name), []);
  });
});

describe('timeoutSignal', () => {
  it('aborts with a TimeoutError after ms', async () => {
    const s = timeoutSignal(undefined, 10);
    await new Promise((r) => s.addEventListener('abort', r, { once: true }));
    assert.equal((s.reason as DOMException).name, 'TimeoutError');
    s.clear();
  });

  it('follows the caller signal, and clear() stops the timer', async () => {
    const caller = new AbortController();
    const s = timeoutSignal(caller.signal, 20);
    s.clear();
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(s.aborted, false);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    const t = timeoutSignal(caller.signal, 60_000);
    caller.abort('bye');
    assert.equal(t.reason, 'bye');
    t.clear();
  });
});
