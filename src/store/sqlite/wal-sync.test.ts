import assert from 'node:assert/strict';
import { fdatasync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import type { KeyValue, WatchEvent } from '../types.ts';
import { SqliteStore } from './sqlite-store.ts';

/** A WAL sync the test releases (or fails) by hand; each call is recorded. */
class HeldSync {
  readonly calls: { fd: number; release: () => void; fail: (err: Error) => void }[] = [];
  readonly sync = (fd: number): Promise<void> =>
    new Promise((resolve, reject) => {
      this.calls.push({
        fd,
        // the real fdatasync still runs, so the file is as durable as in production once released
        release: () => fdatasync(fd, (err) => (err ? reject(err) : resolve())),
        fail: reject,
      });
    });
  async next(n: number): Promise<HeldSync['calls'][number]> {
    while (this.calls.length < n) await new Promise((r) => setImmediate(r));
    return this.calls[n - 1];
  }
}

async function withStore(fn: (store: SqliteStore, held: HeldSync, path: string) => Promise<void>, opts: { acknowledgeAtCommit?: boolean } = {}): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-walsync-'));
  const held = new HeldSync();
  const path = join(dir, 'state.db');
  const store = new SqliteStore({ path, compactIntervalMs: 0, syncWal: held.sync, ...opts });
  try {
    await fn(store, held, path);
  } finally {
    for (const c of held.calls) c.release();
    await store.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

function settled<T>(p: Promise<T>): { done: () => boolean; value: () => T | undefined } {
  let done = false;
  let value: T | undefined;
  p.then(
    (v) => {
      done = true;
      value = v;
    },
    () => {
      done = true;
    },
  );
  return { done: () => done, value: () => value };
}

test('a write is acknowledged and published only after its WAL sync; writes during a sync share the next one', async () => {
  await withStore(async (store, held) => {
    const ac = new AbortController();
    const seen: WatchEvent[] = [];
    const watching = (async () => {
      for await (const ev of store.watch('/k/', { signal: ac.signal })) seen.push(ev);
    })();
    const first = settled(store.create('/k/a', '1'));
    const sync1 = await held.next(1);
    // committed but not yet synced: neither acknowledged nor sent to watchers
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(first.done(), false);
    assert.equal(seen.length, 0);
    // writes arriving while the first sync is in flight are committed, then wait for one more sync
    const more = [store.create('/k/b', '2'), store.create('/k/c', '3')].map(settled);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(held.calls.length, 1, 'one sync at a time');
    sync1.release();
    while (!first.done()) await new Promise((r) => setImmediate(r));
    assert.equal(first.value()?.modRevision, 1);
    assert.ok(more.every((m) => !m.done()), 'later writes wait for their own sync');
    const sync2 = await held.next(2);
    sync2.release();
    while (!more.every((m) => m.done())) await new Promise((r) => setImmediate(r));
    assert.deepEqual(more.map((m) => (m.value() as KeyValue).modRevision), [2, 3]);
    while (seen.length < 3) await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen.map((e) => (e.type === 'progress' ? -1 : e.kv.modRevision)), [1, 2, 3], 'in order, once each');
    assert.equal(held.calls.length, 2);
    ac.abort();
    await watching;
  });
});

test('a watch started while a batch awaits its sync gets that batch live, not twice', async () => {
  await withStore(async (store, held) => {
    const w = settled(store.create('/k/a', '1'));
    const sync1 = await held.next(1);
    // the table already holds revision 1; the hub has not published it
    const ac = new AbortController();
    const seen: WatchEvent[] = [];
    const watching = (async () => {
      for await (const ev of store.watch('/k/', { signal: ac.signal, fromRevision: 1 })) seen.push(ev);
    })();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(seen.length, 0, 'history stops at the published revision');
    sync1.release();
    while (!w.done() || seen.length < 1) await new Promise((r) => setImmediate(r));
    const more = settled(store.create('/k/b', '2'));
    (await held.next(2)).release();
    while (!more.done() || seen.length < 2) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen.map((e) => (e.type === 'progress' ? -1 : e.kv.modRevision)), [1, 2]);
    ac.abort();
    await watching;
  });
});

test('a failed WAL sync refuses the writes it covered and everything after (the store stops)', async () => {
  await withStore(async (store, held) => {
    const ok = store.create('/k/ok', '1');
    (await held.next(1)).release();
    await ok;
    const ac = new AbortController();
    const watching = (async () => {
      let n = 0;
      for await (const _ of store.watch('/k/', { signal: ac.signal })) n++;
      return n;
    })();
    const lost = store.create('/k/lost', '2');
    (await held.next(2)).fail(new Error('EIO'));
    await assert.rejects(lost, (err: unknown) => isHedgeError(err, 'Unavailable'));
    await assert.rejects(store.create('/k/after', '3'), (err: unknown) => isHedgeError(err, 'Unavailable'));
    await assert.rejects(store.get('/k/ok'), (err: unknown) => isHedgeError(err, 'Unavailable'));
    assert.equal(await watching, 0, 'watchers end instead of missing the unsynced revision');
    ac.abort();
  });
});

test('close waits for the sync in flight and acknowledges what it covered', async () => {
  await withStore(async (store, held, path) => {
    const w = store.create('/k/a', '1');
    const sync1 = await held.next(1);
    const closing = store.close();
    sync1.release();
    await closing;
    assert.equal((await w).modRevision, 1);
    const reopened = new SqliteStore({ path, compactIntervalMs: 0 });
    try {
      assert.equal((await reopened.get('/k/a'))?.value, '1');
    } finally {
      await reopened.close();
    }
  });
});

test('acknowledgeAtCommit: writes settle and are published at commit, the sync runs behind them, a failed one still stops the store', async () => {
  await withStore(
    async (store, held, path) => {
      const ac = new AbortController();
      const seen: WatchEvent[] = [];
      const watching = (async () => {
        for await (const ev of store.watch('/k/', { signal: ac.signal })) seen.push(ev);
      })();
      const a = await store.create('/k/a', '1');
      assert.equal(a.modRevision, 1, 'acknowledged with its sync still held');
      while (seen.length < 1) await new Promise((r) => setImmediate(r));
      const sync1 = await held.next(1);
      // commits during the held sync are acknowledged too, and share one later sync
      await Promise.all([store.update('/k/a', '2', { expectedRevision: 1 }), store.create('/k/b', '3')]);
      assert.equal(held.calls.length, 1, 'one sync at a time');
      sync1.release();
      const sync2 = await held.next(2);
      sync2.release();
      while (seen.length < 3) await new Promise((r) => setImmediate(r));
      assert.deepEqual(seen.map((e) => (e.type === 'progress' ? -1 : e.kv.modRevision)), [1, 2, 3], 'in order, once each');
      // a refused write is still refused at commit
      await assert.rejects(store.create('/k/b', 'again'), (err: unknown) => isHedgeError(err, 'AlreadyExists'));
      const reopened = new SqliteStore({ path, compactIntervalMs: 0 });
      try {
        assert.equal((await reopened.get('/k/a'))?.value, '2');
      } finally {
        await reopened.close();
      }
      store.create('/k/c', '4').catch(() => undefined);
      (await held.next(3)).fail(new Error('EIO'));
      while (seen.length < 4) await new Promise((r) => setImmediate(r));
      await watching;
      await assert.rejects(store.create('/k/after', '5'), (err: unknown) => isHedgeError(err, 'Unavailable'));
      ac.abort();
    },
    { acknowledgeAtCommit: true },
  );
});
