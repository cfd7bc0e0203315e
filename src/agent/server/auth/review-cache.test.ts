import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReviewCache } from './review-cache.ts';

describe('ReviewCache', () => {
  const setup = (maxEntries = 100) => {
    let t = 0;
    const cache = new ReviewCache<boolean>({ maxEntries, now: () => t });
    let loads = 0;
    const ask = (key: string, answer = true): Promise<boolean> =>
      cache.get(
        key,
        async () => {
          loads++;
          return answer;
        },
        (v) => (v ? 300 : 30),
      );
    return { cache, ask, loads: () => loads, advance: (ms: number) => (t += ms) };
  };

  it('keeps a positive answer its TTL and a negative one its shorter TTL', async () => {
    const c = setup();
    assert.equal(await c.ask('yes'), true);
    assert.equal(await c.ask('no', false), false);
    c.advance(29);
    await c.ask('yes');
    await c.ask('no', false);
    assert.equal(c.loads(), 2);
    c.advance(1);
    await c.ask('no', false);
    assert.equal(c.loads(), 3, 'the negative answer expired at 30');
    c.advance(269);
    await c.ask('yes');
    assert.equal(c.loads(), 3);
    c.advance(1);
    await c.ask('yes');
    assert.equal(c.loads(), 4, 'the positive answer expired at 300');
  });

  it('asks once for callers waiting on the same key', async () => {
    const c = setup();
    const all = await Promise.all([c.ask('k'), c.ask('k'), c.ask('k'), c.ask('other')]);
    assert.deepEqual(all, [true, true, true, true]);
    assert.equal(c.loads(), 2);
  });

  it('keeps no failure: the next caller asks again', async () => {
    const c = setup();
    let calls = 0;
    const failing = () =>
      c.cache.get(
        'k',
        async () => {
          calls++;
          throw new Error('offline');
        },
        () => 1000,
      );
    await assert.rejects(Promise.all([failing(), failing()]), /offline/);
    assert.equal(calls, 1);
    await assert.rejects(failing(), /offline/);
    assert.equal(calls, 2);
    assert.equal(c.cache.size, 0);
  });

  it('is bounded: the least recently used answer goes first', async () => {
    const c = setup(2);
    await c.ask('a');
    await c.ask('b');
    await c.ask('a'); // a is now the most recently used
    await c.ask('c');
    assert.equal(c.cache.size, 2);
    assert.equal(c.loads(), 3);
    await c.ask('a');
    assert.equal(c.loads(), 3, 'a was kept');
    await c.ask('b');
    assert.equal(c.loads(), 4, 'b was dropped');
  });

  it('does not keep an answer whose TTL is 0', async () => {
    const cache = new ReviewCache<string>({ maxEntries: 10, now: () => 0 });
    await cache.get('k', async () => 'v', () => 0);
    assert.equal(cache.size, 0);
  });
});
