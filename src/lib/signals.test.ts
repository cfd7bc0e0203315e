import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { followerCount, linkedSignal, timeoutSignal, whenAborted } from './signals.ts';

describe('linkedSignal', () => {
  it('leaves nothing on a long-lived source once cleared: one listener for its life, no followers', () => {
    const stop = new AbortController();
    for (let i = 0; i < 1_000; i++) {
      const op = new AbortController();
      const s = linkedSignal([stop.signal, op.signal]);
      assert.equal(s.aborted, false);
      s.clear();
    }
    assert.equal(followerCount(stop.signal), 0);
    assert.equal(getEventListeners(stop.signal, 'abort').length, 1);
  });

  it('a cleared signal no longer follows its sources', () => {
    const stop = new AbortController();
    const s = linkedSignal([stop.signal]);
    s.clear();
    stop.abort();
    assert.equal(s.aborted, false);
  });

  it('aborts with the source reason, ignoring absent sources, and is forgotten by the others', () => {
    const a = new AbortController();
    const stop = new AbortController();
    const s = linkedSignal([undefined, a.signal, stop.signal]);
    const reason = new Error('stopping');
    a.abort(reason);
    assert.equal(s.aborted, true);
    assert.equal(s.reason, reason);
    assert.equal(followerCount(stop.signal), 0, 'aborted by one source: the long-lived one forgets it without clear()');
  });

  it('is aborted at once when a source already is', () => {
    const s = linkedSignal([new AbortController().signal, AbortSignal.abort('gone')]);
    assert.equal(s.aborted, true);
    assert.equal(s.reason, 'gone');
  });

  it('thousands in flight on one source: one listener, every follower aborted with it', () => {
    const stop = new AbortController();
    const live = Array.from({ length: 5_000 }, () => linkedSignal([stop.signal]));
    assert.equal(getEventListeners(stop.signal, 'abort').length, 1);
    assert.equal(followerCount(stop.signal), 5_000);
    stop.abort('bye');
    assert.ok(live.every((s) => s.aborted && s.reason === 'bye'));
    assert.equal(followerCount(stop.signal), 0);
  });
});

describe('timeoutSignal', () => {
  it('aborts with a TimeoutError after ms, and its source forgets it', async () => {
    const caller = new AbortController();
    const s = timeoutSignal(caller.signal, 10);
    await new Promise((r) => s.addEventListener('abort', r, { once: true }));
    assert.equal((s.reason as DOMException).name, 'TimeoutError');
    assert.equal(followerCount(caller.signal), 0);
    s.clear();
  });

  it('follows the caller signal, and clear() stops the timer', async () => {
    const caller = new AbortController();
    const s = timeoutSignal(caller.signal, 20);
    s.clear();
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(s.aborted, false);
    assert.equal(followerCount(caller.signal), 0);
    const t = timeoutSignal(caller.signal, 60_000);
    caller.abort('bye');
    assert.equal(t.reason, 'bye');
    t.clear();
  });
});

describe('whenAborted', () => {
  it('many waits on one signal: one listener on it, each wait run once on abort, a forgotten one not at all', () => {
    const stop = new AbortController();
    const ran: number[] = [];
    const forgets = Array.from({ length: 50 }, (_, i) => whenAborted(stop.signal, () => ran.push(i)));
    assert.equal(getEventListeners(stop.signal, 'abort').length, 1);
    assert.equal(followerCount(stop.signal), 50);
    forgets[7]();
    stop.abort();
    assert.equal(ran.length, 49);
    assert.equal(ran.includes(7), false);
    assert.equal(followerCount(stop.signal), 0);
  });

  it('runs at once on a signal that has already aborted', () => {
    let ran = 0;
    whenAborted(AbortSignal.abort(), () => ran++);
    assert.equal(ran, 1);
  });
});
