import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { runStoreContract } from '../contract.ts';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.ts';

async function tempDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-sqlite-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

runStoreContract('sqlite', async () => {
  const { dir, cleanup } = await tempDir();
  const store = new SqliteStore({ path: join(dir, 'state.db'), watchQueueLimit: 100, compactIntervalMs: 0 });
  return { store, cleanup };
});

async function withStore(
  opts: Omit<SqliteStoreOptions, 'path'>,
  fn: (open: () => SqliteStore, path: string) => Promise<void>,
): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const path = join(dir, 'state.db');
  const opened: SqliteStore[] = [];
  try {
    await fn(() => {
      const s = new SqliteStore({ path, ...opts });
      opened.push(s);
      return s;
    }, path);
  } finally {
    for (const s of opened) await s.close();
    await cleanup();
  }
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

test('revision, values and compacted revision survive close and reopen', async () => {
  await withStore({ compactIntervalMs: 0 }, async (open) => {
    const s1 = open();
    let kv = await s1.create('/r/a', '1');
    kv = await s1.update('/r/a', '2', { expectedRevision: kv.modRevision });
    await s1.create('/r/b', 'b');
    await s1.delete('/r/b');
    await s1.compact(3);
    await s1.close();

    const s2 = open();
    assert.equal(await s2.currentRevision(), 4);
    assert.equal(await s2.compactedRevision(), 3);
    assert.deepEqual(await s2.get('/r/a'), kv);
    assert.equal(await s2.get('/r/b'), undefined);
    const next = await s2.create('/r/c', 'c');
    assert.equal(next.modRevision, 5);
    await assert.rejects(s2.list('/r/', { revision: 2 }), { code: 'Gone' });
  });
});

test('a refused write in a group commit does not fail the others', async () => {
  await withStore({ compactIntervalMs: 0 }, async (open) => {
    const s = open();
    const base = await s.create('/b/x', '0');
    const ac = new AbortController();
    ac.abort();
    const results = await Promise.allSettled([
      s.create('/b/y', 'y'),
      s.create('/b/x', 'dup'),
      s.update('/b/x', 'ok', { expectedRevision: base.modRevision }),
      s.update('/b/x', 'stale', { expectedRevision: base.modRevision }),
      s.delete('/b/missing'),
      s.create('/b/z', 'z'),
    ]);
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value.modRevision : (r.reason as { code: string }).code)),
      [2, 'AlreadyExists', 3, 'Conflict', 'NotFound', 4],
    );
    await assert.rejects(s.create('/b/w', 'w', { signal: ac.signal }));
    assert.equal(await s.currentRevision(), 4);
  });
});

test('automatic compaction and WAL checkpoints keep the log and the WAL bounded', async () => {
  await withStore({ compactKeepRevisions: 200, compactIntervalMs: 100 }, async (open) => {
    const s = open();
    const keys = Array.from({ length: 8 }, (_, i) => `/hot/${i}`);
    const value = 'y'.repeat(4_000);
    const kvs = await Promise.all(keys.map((k) => s.create(k, value)));
    const ac = new AbortController();
    const watcher = s.watch('/hot/', { signal: ac.signal })[Symbol.asyncIterator]();
    let delivered = 0;
    let maxWal = 0;
    for (let round = 0; round < 300; round++) {
      // One write per key per round, committed together.
      const next = await Promise.all(
        kvs.map((kv, i) => s.update(kv.key, `${round}:${value}`, { expectedRevision: kvs[i].modRevision })),
      );
      next.forEach((kv, i) => (kvs[i] = kv));
      maxWal = Math.max(maxWal, s.stats().walBytes);
      if (round % 50 === 0) {
        // Keep the watcher live so it is not the thing being compacted away.
        while (delivered < (round + 1) * keys.length) {
          const r = await watcher.next();
          if (!r.done) delivered++;
        }
      }
    }
    const rev = await s.currentRevision();
    assert.equal(rev, keys.length * 301);
    await waitFor(() => s.stats().compactedRevision >= rev - 200 && s.stats().walBytes === 0, 'compaction + checkpoint');
    const stats = s.stats();
    // At most the kept window plus one row per key (superseded rows are gone).
    assert.ok(stats.rows <= 200 + keys.length + 1, `rows ${stats.rows}`);
    // 2,408 writes of 4 KB are ~10 MB of log; the WAL never held more than a few MB of it.
    assert.ok(maxWal < 6 * 1024 * 1024, `wal peaked at ${maxWal} bytes`);
    assert.deepEqual(
      (await s.list('/hot/')).items.map((kv) => kv.value.split(':')[0]),
      keys.map(() => '299'),
    );
    ac.abort();
  });
});

test('an in-memory file (no WAL to sync) commits writes from turn to turn', async () => {
  const s = new SqliteStore({ path: ':memory:', compactIntervalMs: 0 });
  try {
    let kv = await s.create('/m/a', '0');
    for (let i = 1; i <= 5; i++) {
      kv = await s.update('/m/a', String(i), { expectedRevision: kv.modRevision });
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.equal((await s.get('/m/a'))?.value, '5');
    assert.equal(await s.currentRevision(), 6);
  } finally {
    await s.close();
  }
});

test('automatic compaction is paced: the event loop keeps running beside it, and one runs at a time', async () => {
  await withStore({ compactKeepRevisions: 10, compactIntervalMs: 0 }, async (open) => {
    const s = open();
    let kv = await s.create('/hot/k', '0');
    for (let i = 1; i < 6_000; i += 100) {
      // 100 writes a round, each on the one before (one group commit per round)
      for (let j = 0; j < 100; j++) kv = await s.update('/hot/k', String(i + j), { expectedRevision: kv.modRevision });
    }
    const rev = await s.currentRevision();
    let turns = 0;
    const ticker = setInterval(() => turns++, 1);
    try {
      const first = s.runMaintenance();
      let secondDone = false;
      const second = s.runMaintenance().then(() => (secondDone = true));
      await second;
      assert.ok(secondDone && s.stats().compactedRevision < rev - 10, 'a second maintenance does not wait for or repeat the running one');
      await first;
    } finally {
      clearInterval(ticker);
    }
    assert.equal(s.stats().compactedRevision, rev - 10);
    assert.ok(s.stats().rows <= 11, `rows ${s.stats().rows}`);
    // 6,000 revisions in 1,000-revision chunks, each followed by a pause 9× its length
    assert.ok(turns >= 5, `the loop ran timers ${turns} times during the compaction`);
    assert.equal((await s.get('/hot/k'))?.value, String(kv.value));
  });
});

test('current-state reads match the log, and a file without the current table is rebuilt on open', async () => {
  await withStore({ compactIntervalMs: 0 }, async (open, path) => {
    const s1 = open();
    const kvs = await Promise.all(Array.from({ length: 20 }, (_, i) => s1.create(`/cur/${String(i).padStart(2, '0')}`, `v${i}`)));
    await Promise.all(kvs.slice(0, 10).map((kv) => s1.update(kv.key, 'updated', { expectedRevision: kv.modRevision })));
    await Promise.all(kvs.slice(5, 15).map((kv) => s1.delete(kv.key)));
    await s1.create('/cur/05', 'again');
    const rev = await s1.currentRevision();
    const expected = await s1.list('/cur/');
    assert.deepEqual(expected.items.map((kv) => kv.key), ['/cur/00', '/cur/01', '/cur/02', '/cur/03', '/cur/04', '/cur/05', '/cur/15', '/cur/16', '/cur/17', '/cur/18', '/cur/19']);
    // The same state read from the log: one write later, at the previous revision.
    await s1.create('/other', 'x');
    assert.deepEqual(await s1.list('/cur/', { revision: rev }), expected);
    assert.equal(await s1.count('/cur/'), 11);
    const page = await s1.list('/cur/', { limit: 4, startAfter: '/cur/02' });
    assert.deepEqual([page.items.map((kv) => kv.key), page.more, page.remaining], [['/cur/03', '/cur/04', '/cur/05', '/cur/15'], true, 4]);
    await s1.close();

    // Simulate a file written before `current` existed.
    const raw = new Database(path);
    raw.exec("DROP TABLE current; DELETE FROM meta WHERE key = 'current_table_built'");
    raw.close();
    const s2 = open();
    assert.deepEqual((await s2.list('/cur/')).items, expected.items);
    assert.equal(await s2.count('/cur/'), 11);
    assert.equal(await s2.count(''), 12);
  });
});

test('reads at every readable revision match a replay of the writes: updates, deletes, re-creates, pages, compaction', async () => {
  await withStore({ compactIntervalMs: 0 }, async (open) => {
    const s = open();
    const keys = Array.from({ length: 12 }, (_, i) => `/h/k${String(i).padStart(2, '0')}`);
    // the model: each key's value after every revision (absent = deleted or never created)
    const states: Map<string, string>[] = [];
    const base = await s.currentRevision();
    let state = new Map<string, string>();
    const live = new Map<string, number>();
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return Math.floor(seed / 65_536) % n;
    };
    for (let i = 0; i < 400; i++) {
      const key = keys[rand(keys.length)];
      const mod = live.get(key);
      state = new Map(state);
      if (mod === undefined) {
        live.set(key, (await s.create(key, `c${i}`)).modRevision);
        state.set(key, `c${i}`);
      } else if (rand(4) === 0) {
        await s.delete(key, { expectedRevision: mod });
        live.delete(key);
        state.delete(key);
      } else {
        live.set(key, (await s.update(key, `u${i}`, { expectedRevision: mod })).modRevision);
        state.set(key, `u${i}`);
      }
      // a write under another prefix between some of them: revisions the range did not see move on
      if (i % 5 === 0) await s.create(`/z/${i}`, 'x');
      while (states.length < (await s.currentRevision()) - base) states.push(state);
    }
    const check = async (from: number): Promise<void> => {
      const rev = await s.currentRevision();
      for (let at = from; at <= rev; at++) {
        const want = [...(states[at - base - 1] ?? new Map<string, string>())].sort((a, b) => a[0].localeCompare(b[0]));
        const all = await s.list('/h/', { revision: at });
        assert.deepEqual(all.items.map((kv) => [kv.key, kv.value]), want, `list at ${at}`);
        assert.equal(all.revision, at);
        for (const key of keys) {
          assert.equal((await s.get(key, { revision: at }))?.value, want.find(([k]) => k === key)?.[1], `get ${key} at ${at}`);
        }
        // pages of 5 at that revision: the same keys, `remaining` counted at it too
        const paged: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await s.list('/h/', { revision: at, limit: 5, startAfter: after });
          paged.push(...page.items.map((kv) => kv.key));
          assert.equal(page.remaining, page.more ? want.length - paged.length : 0, `remaining at ${at}`);
          if (!page.more) break;
          after = page.items.at(-1)?.key;
        }
        assert.deepEqual(paged, want.map(([k]) => k), `pages at ${at}`);
        // an item's modRevision is the row that held it then
        for (const kv of all.items) assert.ok(kv.modRevision <= at && kv.createRevision <= kv.modRevision);
      }
    };
    await check(base + 1);
    const rev = await s.currentRevision();
    await s.compact(rev - 150);
    await check(rev - 150);
    await assert.rejects(s.list('/h/', { revision: rev - 151 }), (err: Error & { code?: string }) => err.code === 'Gone');
  });
});

test('a file written with the log key index loses it on open, its reads unchanged', async () => {
  await withStore({ compactIntervalMs: 0 }, async (open, path) => {
    const s1 = open();
    const a = await s1.create('/i/a', '1');
    await s1.update('/i/a', '2', { expectedRevision: a.modRevision });
    await s1.create('/i/b', '1');
    await s1.close();
    const raw = new Database(path);
    raw.exec('CREATE INDEX log_name_id ON log (name, id)');
    raw.close();
    const s2 = open();
    assert.deepEqual((await s2.list('/i/', { revision: a.modRevision })).items.map((kv) => kv.value), ['1']);
    assert.deepEqual((await s2.list('/i/')).items.map((kv) => kv.value), ['2', '1']);
    await s2.close();
    const check = new Database(path, { readonly: true });
    assert.deepEqual(check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'log'").all(), []);
    check.close();
  });
});
