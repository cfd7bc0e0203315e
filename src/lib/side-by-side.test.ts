import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sideBySide } from './side-by-side.ts';

const deferred = <T = void>(): { promise: Promise<T>; resolve: (v: T) => void } => {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
};

describe('sideBySide', () => {
  it('runs the steps at the same time and returns their values in order', { timeout: 5_000 }, async () => {
    // each step finishes only once the other has started: run one after the other, this never ends
    const a = deferred();
    const b = deferred();
    const out = await sideBySide([
      { run: async () => { a.resolve(); await b.promise; return 1; } },
      { run: async () => { b.resolve(); await a.promise; return 'two'; } },
    ]);
    assert.deepEqual(out, [1, 'two']);
  });

  it('on a failure: waits for every step, undoes those that succeeded, throws the first failure in the order given', async () => {
    const undone: string[] = [];
    const slow = deferred<string>();
    const later = new Error('later step');
    const first = new Error('first step');
    const run = sideBySide([
      { run: async () => 'hub', undo: async (v) => void undone.push(v) },
      { run: () => slow.promise.then(() => Promise.reject(first)), undo: async () => void undone.push('never: it failed') },
      { run: () => Promise.reject(later) },
      { run: async () => 'images', undo: async () => { throw new Error('an undo that fails is ignored'); } },
    ]);
    let settled = false;
    void run.catch(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'a step is still running: nothing is thrown or undone yet');
    assert.deepEqual(undone, []);
    slow.resolve('');
    await assert.rejects(run, (err) => err === first);
    assert.deepEqual(undone, ['hub']);
  });
});
