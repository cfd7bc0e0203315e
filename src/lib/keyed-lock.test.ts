import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedLock } from './keyed-lock.ts';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('KeyedLock', () => {
  it('serializes runs per key in call order, runs other keys concurrently, survives failures, forgets idle keys', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    let open = (): void => undefined;
    const gate = new Promise<void>((r) => (open = r));
    const a1 = lock.run('a', async () => {
      log.push('a1 start');
      await gate;
      log.push('a1 end');
      throw new Error('a1 failed');
    });
    const a2 = lock.run('a', async () => {
      log.push('a2');
      return 2;
    });
    const b1 = lock.run('b', async () => {
      log.push('b1');
      return 'b';
    });
    assert.equal(await b1, 'b');
    await tick();
    assert.deepEqual(log, ['a1 start', 'b1'], 'b ran while a1 held a; a2 waits');
    open();
    await assert.rejects(a1, /a1 failed/);
    assert.equal(await a2, 2);
    assert.deepEqual(log, ['a1 start', 'b1', 'a1 end', 'a2']);
    await tick();
    await tick();
    assert.equal(lock.size, 0);
  });
});
