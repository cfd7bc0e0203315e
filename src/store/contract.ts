import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isHedgeError, type ErrorCode } from '../lib/errors.ts';
import type { KeyValue, Store, WatchEvent } from './types.ts';

export interface StoreUnderTest {
  store: Store;
  cleanup(): Promise<void>;
}

/**
 * The one behaviour suite every Store passes. `make` must give a fresh, empty
 * store whose watch queue limit is small (about 100 events) and whose automatic
 * history bound is large (at least 5,000 revisions), so the slow-watcher tests
 * exercise the fall-back from the live buffer to history replay.
 *
 * Revisions are checked relative to the store's revision when the test starts
 * (`base`): an empty memory or SQLite store is at 0, while an etcd store shares
 * etcd's global revision, which starts at 1 and is moved by other prefixes too.
 */
export function runStoreContract(name: string, make: () => Promise<StoreUnderTest>): void {
  const it = (title: string, fn: (store: Store, base: number) => Promise<void>): void => {
    test(title, { timeout: 20_000 }, async () => {
      const { store, cleanup } = await make();
      try {
        await fn(store, await store.currentRevision());
      } finally {
        await store.close();
        await cleanup();
      }
    });
  };

  describe(`Store contract: ${name}`, () => {
    it('revisions increase by one per write across all keys', async (s, base) => {
      const a = await s.create('/a', '1');
      const b = await s.create('/b', '1');
      const a2 = await s.update('/a', '2', { expectedRevision: a.modRevision });
      const bd = await s.delete('/b');
      assert.deepEqual(
        [a.modRevision, b.modRevision, a2.modRevision, bd.modRevision],
        [1, 2, 3, 4].map((n) => base + n),
      );
      assert.equal(a2.createRevision, a.createRevision);
      assert.equal(await s.currentRevision(), base + 4);
      await assert.rejects(s.create('/a', 'x'), code('AlreadyExists'));
      assert.equal(await s.currentRevision(), base + 4, 'a refused write does not use a revision');
    });

    it('get and list by prefix in key order; prefix does not match siblings', async (s, base) => {
      for (const k of ['/registry/pods/ns/b', '/registry/podsx/ns/a', '/registry/pods/ns/a', '/registry/pods/aa/z', '/registry/pod']) {
        await s.create(k, `v${k}`);
      }
      const r = await s.list('/registry/pods/');
      assert.deepEqual(keys(r.items), ['/registry/pods/aa/z', '/registry/pods/ns/a', '/registry/pods/ns/b']);
      assert.equal(r.revision, await s.currentRevision());
      assert.equal(r.more, false);
      assert.equal(r.remaining, 0);
      assert.equal(r.items[1].value, 'v/registry/pods/ns/a');
      assert.equal(await s.count('/registry/pods/'), 3);
      assert.equal(await s.count('/registry/'), 5);
      assert.equal(await s.count('/nothing/'), 0);
      assert.deepEqual(keys((await s.list('')).items).length, 5);
      const got = await s.get('/registry/pods/ns/a');
      assert.equal(got?.value, 'v/registry/pods/ns/a');
      assert.equal(got?.createRevision, base + 3);
      assert.equal(got?.modRevision, base + 3);
      assert.equal(await s.get('/registry/pods/ns/zz'), undefined);
      await s.delete('/registry/pods/ns/a');
      assert.equal(await s.get('/registry/pods/ns/a'), undefined);
      assert.deepEqual(keys((await s.list('/registry/pods/')).items), ['/registry/pods/aa/z', '/registry/pods/ns/b']);
    });

    it('paginates with limit and startAfter, reporting more and remaining', async (s) => {
      for (let i = 0; i < 7; i++) await s.create(`/p/k${i}`, String(i));
      await s.create('/q/k0', 'other');
      const seen: string[] = [];
      const p1 = await s.list('/p/', { limit: 3 });
      assert.deepEqual(keys(p1.items), ['/p/k0', '/p/k1', '/p/k2']);
      assert.equal(p1.more, true);
      assert.equal(p1.remaining, 4);
      seen.push(...keys(p1.items));
      // A write between pages is not seen when reading at the first page's revision.
      await s.create('/p/k3a', 'late');
      const p2 = await s.list('/p/', { limit: 3, startAfter: '/p/k2', revision: p1.revision });
      assert.deepEqual(keys(p2.items), ['/p/k3', '/p/k4', '/p/k5']);
      assert.equal(p2.revision, p1.revision);
      assert.equal(p2.more, true);
      assert.equal(p2.remaining, 1);
      const p3 = await s.list('/p/', { limit: 3, startAfter: '/p/k5', revision: p1.revision });
      assert.deepEqual(keys(p3.items), ['/p/k6']);
      assert.equal(p3.more, false);
      assert.equal(p3.remaining, 0);
      const exact = await s.list('/p/', { limit: 8 });
      assert.equal(exact.items.length, 8);
      assert.equal(exact.more, false);
      const now = await s.list('/p/', { startAfter: '/p/k3', limit: 1 });
      assert.deepEqual(keys(now.items), ['/p/k3a']);
      assert.equal(now.remaining, 3);
      const before = await s.list('/p/', { startAfter: '/a' });
      assert.equal(before.items.length, 8, 'a cursor before the prefix lists the whole prefix');
    });

    it('lists and gets at an older revision until it is compacted', async (s, base) => {
      const a = await s.create('/o/a', 'a1');
      await s.create('/o/b', 'b1');
      const r1 = await s.currentRevision();
      await s.update('/o/a', 'a2', { expectedRevision: a.modRevision });
      await s.delete('/o/b');
      await s.create('/o/c', 'c1');
      const old = await s.list('/o/', { revision: r1 });
      assert.deepEqual(old.items.map((kv) => [kv.key, kv.value, kv.modRevision]), [['/o/a', 'a1', base + 1], ['/o/b', 'b1', base + 2]]);
      assert.equal(old.revision, r1);
      assert.equal((await s.get('/o/a', { revision: r1 }))?.value, 'a1');
      assert.equal(await s.get('/o/c', { revision: r1 }), undefined);
      const cur = await s.list('/o/');
      assert.deepEqual(cur.items.map((kv) => [kv.key, kv.value]), [['/o/a', 'a2'], ['/o/c', 'c1']]);
      const paged = await s.list('/o/', { revision: r1, limit: 1 });
      assert.deepEqual([keys(paged.items), paged.more, paged.remaining], [['/o/a'], true, 1]);

      await s.compact(base + 4);
      assert.equal(await s.compactedRevision(), base + 4);
      await assert.rejects(s.list('/o/', { revision: r1 }), code('Gone'));
      await assert.rejects(s.get('/o/a', { revision: base + 3 }), code('Gone'));
      const at4 = await s.list('/o/', { revision: base + 4 });
      assert.deepEqual(at4.items.map((kv) => [kv.key, kv.value]), [['/o/a', 'a2']]);
      assert.deepEqual((await s.list('/o/')).items.map((kv) => kv.value), ['a2', 'c1']);
      await assert.rejects(s.list('/o/', { revision: base + 99 }), code('BadRequest'));
      await assert.rejects(s.compact(base + 99), code('BadRequest'));
    });

    it('create is create-if-absent; a deleted key can be created again', async (s) => {
      const first = await s.create('/c/x', 'one');
      await assert.rejects(s.create('/c/x', 'two'), code('AlreadyExists'));
      assert.equal((await s.get('/c/x'))?.value, 'one');
      await s.delete('/c/x');
      const again = await s.create('/c/x', 'three');
      assert.equal(again.createRevision, again.modRevision);
      assert.ok(again.createRevision > first.createRevision);
      await assert.rejects(s.create('', 'x'), code('BadRequest'));
    });

    it('update compares modRevision: Conflict on mismatch, NotFound when absent', async (s) => {
      const v1 = await s.create('/u/x', '1');
      const v2 = await s.update('/u/x', '2', { expectedRevision: v1.modRevision });
      assert.deepEqual(v2, { key: '/u/x', value: '2', createRevision: v1.createRevision, modRevision: v1.modRevision + 1 });
      await assert.rejects(s.update('/u/x', 'stale', { expectedRevision: v1.modRevision }), code('Conflict'));
      assert.equal((await s.get('/u/x'))?.value, '2');
      await assert.rejects(s.update('/u/missing', 'x', { expectedRevision: 1 }), code('NotFound'));
      await s.delete('/u/x');
      await assert.rejects(s.update('/u/x', 'x', { expectedRevision: v2.modRevision }), code('NotFound'));
    });

    it('delete returns the deleted value at the delete revision; honours expectedRevision', async (s, base) => {
      const v = await s.create('/d/x', 'payload');
      await s.create('/d/y', 'y');
      await assert.rejects(s.delete('/d/x', { expectedRevision: v.modRevision + 1 }), code('Conflict'));
      assert.ok(await s.get('/d/x'));
      const del = await s.delete('/d/x', { expectedRevision: v.modRevision });
      assert.deepEqual(del, { key: '/d/x', value: 'payload', createRevision: v.createRevision, modRevision: base + 3 });
      assert.equal(await s.currentRevision(), base + 3);
      await assert.rejects(s.delete('/d/x'), code('NotFound'));
      const y = await s.delete('/d/y');
      assert.equal(y.value, 'y');
      assert.equal(y.modRevision, base + 4);
    });

    it('keeps values byte for byte: UTF-8 JSON and encrypted (k8s:enc:) binary strings', async (s, base) => {
      // an encrypted value is a binary string: one char per byte, every byte value possible
      const binary = `k8s:enc:aescbc:v1:key1:${String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i))}`;
      const json = '{"data":"ünïcødé ✓ 🌲"}';
      const ac = new AbortController();
      const w = iter(s.watch('/bin/', { fromRevision: base + 1, signal: ac.signal }));
      const a = await s.create('/bin/a', binary);
      const b = await s.create('/bin/b', json);
      const a2 = await s.update('/bin/a', `${binary}2`, { expectedRevision: a.modRevision });
      assert.equal((await s.get('/bin/a'))?.value, `${binary}2`);
      assert.equal((await s.get('/bin/a', { revision: a.modRevision }))?.value, binary);
      assert.deepEqual((await s.list('/bin/')).items.map((kv) => kv.value), [`${binary}2`, json]);
      const del = await s.delete('/bin/a');
      assert.equal(del.value, `${binary}2`);
      const evs = await take(w, 4);
      assert.deepEqual(evs, [
        { type: 'put', kv: a },
        { type: 'put', kv: b },
        { type: 'put', kv: a2, prevKv: a },
        { type: 'delete', kv: del, prevKv: a2 },
      ]);
      ac.abort();
    });

    it('watch replays history from a revision, then live events, only for its prefix', async (s, base) => {
      const a = await s.create('/w/a', 'a1');
      await s.create('/x/a', 'other');
      const a2 = await s.update('/w/a', 'a2', { expectedRevision: a.modRevision });
      const ac = new AbortController();
      const w = iter(s.watch('/w/', { fromRevision: base + 1, signal: ac.signal }));
      const x = iter(s.watch('/x/', { fromRevision: base + 2, signal: ac.signal }));
      const replay = await take(w, 2);
      assert.deepEqual(replay[0], { type: 'put', kv: a });
      assert.deepEqual(replay[1], { type: 'put', kv: a2, prevKv: a });

      await s.create('/wx', 'sibling');
      const b = await s.create('/w/b', 'b1');
      const del = await s.delete('/w/a');
      await s.delete('/x/a');
      const live = await take(w, 2);
      assert.deepEqual(live[0], { type: 'put', kv: b });
      assert.deepEqual(live[1], { type: 'delete', kv: del, prevKv: a2 });
      assert.equal(del.value, 'a2');

      const xs = await take(x, 2);
      assert.deepEqual(xs.map((e) => [e.type, eventRevision(e)]), [['put', base + 2], ['delete', base + 7]]);

      // Without fromRevision, only writes after the watch call are delivered.
      const fresh = iter(s.watch('/w/', { signal: ac.signal }));
      const future = iter(s.watch('/w/', { signal: ac.signal, fromRevision: (await s.currentRevision()) + 2 }));
      const futureFirst = future.next();
      const c = await s.create('/w/c', 'c1');
      assert.deepEqual(await take(fresh, 1), [{ type: 'put', kv: c }]);
      const d = await s.create('/w/d', 'd1');
      assert.deepEqual((await futureFirst).value, { type: 'put', kv: d }, 'nothing before fromRevision');
      ac.abort();
    });

    it('watch from a compacted revision throws Gone from the iterator', async (s, base) => {
      let kv = await s.create('/g/a', '0');
      for (let i = 1; i < 5; i++) kv = await s.update('/g/a', String(i), { expectedRevision: kv.modRevision });
      await s.compact(base + 4);
      const ac = new AbortController();
      const gone = iter(s.watch('/g/', { fromRevision: base + 2, signal: ac.signal }));
      await assert.rejects(gone.next(), code('Gone'));
      const ok = iter(s.watch('/g/', { fromRevision: base + 4, signal: ac.signal }));
      const evs = await take(ok, 2);
      assert.deepEqual(evs.map(eventRevision), [base + 4, base + 5]);
      ac.abort();
    });

    it('watch ends cleanly when its signal aborts, leaving no timers', async (s) => {
      const timersBefore = countTimers();
      const ac = new AbortController();
      const w = iter(s.watch('/a/', { signal: ac.signal, progressIntervalMs: 60_000 }));
      const pending = w.next();
      await s.create('/zz', 'unrelated');
      ac.abort();
      assert.deepEqual(await pending, { done: true, value: undefined });
      assert.deepEqual(await w.next(), { done: true, value: undefined });
      await timersSettle(timersBefore);

      const pre = new AbortController();
      pre.abort();
      assert.deepEqual(await iter(s.watch('/a/', { signal: pre.signal })).next(), { done: true, value: undefined });

      // Breaking out of for-await also releases the watcher.
      const ac2 = new AbortController();
      const loop = (async () => {
        for await (const ev of s.watch('/a/', { signal: ac2.signal })) {
          if (ev.type === 'put') break;
        }
      })();
      await s.create('/a/x', '1');
      await loop;
      await timersSettle(timersBefore);
    });

    it('emits progress events when idle', async (s, base) => {
      await s.create('/idle/a', '1');
      const ac = new AbortController();
      const w = iter(s.watch('/busy/', { signal: ac.signal, progressIntervalMs: 20 }));
      await s.create('/elsewhere', 'x');
      // A progress revision may lag (etcd learns it from its progress notifications), never lead.
      let seen = 0;
      for (let i = 0; seen < base + 2; i++) {
        assert.ok(i < 200, `progress never reached revision ${base + 2} (last ${seen})`);
        const [ev] = await take(w, 1);
        assert.equal(ev.type, 'progress');
        assert.ok(ev.type === 'progress' && ev.revision >= seen && ev.revision <= (await s.currentRevision()));
        if (ev.type === 'progress') seen = ev.revision;
      }
      const put = await s.create('/busy/a', '1');
      const next = await take(w, 2);
      assert.deepEqual(next[0], { type: 'put', kv: put });
      assert.equal(next[1].type, 'progress');
      ac.abort();
    });

    it('500 concurrent creates get distinct revisions and are all visible', async (s, base) => {
      const ac = new AbortController();
      const w = iter(s.watch('/many/', { fromRevision: base + 1, signal: ac.signal }));
      const results = await Promise.all(
        Array.from({ length: 500 }, (_, i) => s.create(`/many/${String(i).padStart(3, '0')}`, `v${i}`)),
      );
      const revs = new Set(results.map((kv) => kv.modRevision));
      assert.equal(revs.size, 500);
      assert.equal(Math.max(...revs), base + 500);
      assert.equal(await s.currentRevision(), base + 500);
      const all = await s.list('/many/');
      assert.equal(all.items.length, 500);
      assert.equal(await s.count('/many/'), 500);
      const events = await take(w, 500);
      assert.deepEqual(events.map(eventRevision), Array.from({ length: 500 }, (_, i) => base + i + 1));

      // Concurrent updates racing on one key: exactly one wins each round.
      const first = results[0];
      const race = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => s.update(first.key, `r${i}`, { expectedRevision: first.modRevision })),
      );
      assert.equal(race.filter((r) => r.status === 'fulfilled').length, 1);
      assert.ok(race.every((r) => r.status === 'fulfilled' || isHedgeError(r.reason, 'Conflict')));
      ac.abort();
    });

    it('a slow watcher loses no events beyond its live buffer', async (s, base) => {
      const ac = new AbortController();
      const w = iter(s.watch('/slow/', { signal: ac.signal }));
      const first = w.next();
      let kv = await s.create('/slow/k', '0');
      assert.deepEqual((await first).value, { type: 'put', kv });
      kv = await s.update('/slow/k', '1', { expectedRevision: kv.modRevision });
      // Far more than the watcher's live buffer, interleaved with other prefixes.
      const created = await writeConcurrently(s, 1_000, (i) => `/slow/n${String(i).padStart(4, '0')}`);
      await writeConcurrently(s, 300, (i) => `/other/${i}`);
      kv = await s.update('/slow/k', '2', { expectedRevision: kv.modRevision });
      const rest = await take(w, 1_002);
      assert.deepEqual(rest[0], { type: 'put', kv: { ...kv, value: '1', modRevision: base + 2 }, prevKv: (await s.get('/slow/k', { revision: base + 1 })) });
      const revs = rest.map(eventRevision);
      assert.ok(revs.every((r, i) => i === 0 || r > revs[i - 1]), 'events arrive in revision order');
      assert.deepEqual(
        rest.slice(1, -1).map((e) => (e.type === 'put' ? e.kv : undefined)).sort((a, b) => (a?.modRevision ?? 0) - (b?.modRevision ?? 0)),
        [...created].sort((a, b) => a.modRevision - b.modRevision),
      );
      assert.deepEqual(rest[rest.length - 1], { type: 'put', kv, prevKv: { ...kv, value: '1', modRevision: base + 2 } });
      ac.abort();
    });

    it('a watcher that falls behind the live buffer and then compaction gets Gone', async (s) => {
      const ac = new AbortController();
      const w = iter(s.watch('/lag/', { signal: ac.signal }));
      const first = w.next();
      await s.create('/lag/first', '0');
      await first;
      await writeConcurrently(s, 500, (i) => `/lag/${i}`);
      await s.compact(await s.currentRevision());
      await assert.rejects(
        (async () => {
          for (;;) if ((await w.next()).done) return;
        })(),
        code('Gone'),
      );
      ac.abort();
    });

    it('ends watches and refuses calls after close', async (s) => {
      const ac = new AbortController();
      const w = iter(s.watch('/', { signal: ac.signal }));
      const pending = w.next();
      await s.close();
      assert.deepEqual(await pending, { done: true, value: undefined });
      await assert.rejects(s.get('/x'), code('Unavailable'));
      await assert.rejects(s.create('/x', '1'), code('Unavailable'));
      ac.abort();
    });
  });
}

/** creates n keys, 100 writes in flight at a time (so group-committing stores stay quick) */
async function writeConcurrently(s: Store, n: number, key: (i: number) => string): Promise<KeyValue[]> {
  const out: KeyValue[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, (_, j) => s.create(key(i + j), `v${i + j}`));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

function code(c: ErrorCode): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(isHedgeError(err), `expected HedgeError(${c}), got ${String(err)}`);
    assert.equal(err.code, c, err.message);
    return true;
  };
}

function keys(items: readonly KeyValue[]): string[] {
  return items.map((kv) => kv.key);
}

function iter(it: AsyncIterable<WatchEvent>): AsyncIterator<WatchEvent> {
  return it[Symbol.asyncIterator]();
}

async function take(it: AsyncIterator<WatchEvent>, n: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) throw new Error(`watch ended after ${out.length} of ${n} events`);
    out.push(r.value);
  }
  return out;
}

function eventRevision(ev: WatchEvent): number {
  return ev.type === 'progress' ? ev.revision : ev.kv.modRevision;
}

/** Waits (bounded) for timers to drop back to `before`; client libraries may clear their own a tick later. */
async function timersSettle(before: number): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (countTimers() > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(countTimers() <= before, `timers left behind: ${countTimers()} > ${before}`);
}

function countTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}
