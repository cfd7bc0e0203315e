import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from './memory/memory-store.ts';
import type { WatchEvent, WatchTrigger } from './types.ts';
import { WatchHub, type ChangeEvent } from './watch-hub.ts';

type Change = Extract<WatchEvent, { type: 'put' | 'delete' }>;

/** the node a stored "pod" names, and the previous value's for an update */
let calls = 0;
const nodeOf = (value: string): string => (JSON.parse(value) as { node: string }).node;
const values: WatchTrigger['values'] = (ev: Change) => {
  calls++;
  return ev.prevKv ? [nodeOf(ev.kv.value), nodeOf(ev.prevKv.value)] : [nodeOf(ev.kv.value)];
};

/** collects what a watch delivers until aborted */
function collect(store: MemoryStore, signal: AbortSignal, trigger?: WatchTrigger): string[] {
  const seen: string[] = [];
  void (async () => {
    for await (const ev of store.watch('/pods/', { signal, trigger })) {
      if (ev.type !== 'progress') seen.push(`${ev.type} ${ev.kv.key} ${ev.kv.modRevision}`);
    }
  })();
  return seen;
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

test('a watcher with a trigger gets only the events of its value (the old value included); one without gets all', async () => {
  const store = new MemoryStore();
  const ac = new AbortController();
  const onA = collect(store, ac.signal, { values, value: 'a' });
  const onB = collect(store, ac.signal, { values, value: 'b' });
  const all = collect(store, ac.signal);
  await settle();
  const p1 = await store.create('/pods/p1', JSON.stringify({ node: 'a' }));
  const p2 = await store.create('/pods/p2', JSON.stringify({ node: 'b' }));
  await store.create('/other/x', JSON.stringify({ node: 'a' }));
  // moves from a to b: both watchers see it (the watcher turns it into DELETED / ADDED)
  const p1b = await store.update('/pods/p1', JSON.stringify({ node: 'b' }), { expectedRevision: p1.modRevision });
  const d2 = await store.delete('/pods/p2');
  await settle();
  ac.abort();
  assert.deepEqual(onA, [`put /pods/p1 ${p1.modRevision}`, `put /pods/p1 ${p1b.modRevision}`], 'node a: its pod, and the update that moved it away');
  assert.deepEqual(onB, [`put /pods/p2 ${p2.modRevision}`, `put /pods/p1 ${p1b.modRevision}`, `delete /pods/p2 ${d2.modRevision}`], 'node b');
  assert.equal(all.length, 4, 'the plain watcher: every pod event');
  await store.close();
});

test('the trigger values are computed once per event, whatever the number of watchers', async () => {
  const store = new MemoryStore();
  const ac = new AbortController();
  const seen = Array.from({ length: 50 }, (_, i) => collect(store, ac.signal, { values, value: `n${i}` }));
  await settle();
  calls = 0;
  for (let i = 0; i < 10; i++) await store.create(`/pods/p${i}`, JSON.stringify({ node: `n${i}` }));
  await settle();
  ac.abort();
  assert.equal(calls, 10, 'one call per event');
  assert.deepEqual(seen.map((s) => s.length), Array.from({ length: 50 }, (_, i) => (i < 10 ? 1 : 0)));
  await store.close();
});

test('a triggered watcher past its queue limit catches up from history with only its events, none lost', async () => {
  const store = new MemoryStore({ watchQueueLimit: 2 });
  const ac = new AbortController();
  const seen: string[] = [];
  const it = store.watch('/pods/', { signal: ac.signal, trigger: { values, value: 'a' } })[Symbol.asyncIterator]();
  const first = it.next(); // registers the watcher; nothing is consumed until we pull again
  await settle();
  const revs: number[] = [];
  for (let i = 0; i < 8; i++) {
    const kv = await store.create(`/pods/p${i}`, JSON.stringify({ node: i % 2 === 0 ? 'a' : 'b' }));
    if (i % 2 === 0) revs.push(kv.modRevision);
  }
  for (let r = await first; !r.done; r = await it.next()) {
    if (r.value.type !== 'progress') seen.push(String(r.value.kv.modRevision));
    if (seen.length === revs.length) break;
  }
  ac.abort();
  assert.deepEqual(seen, revs.map(String), 'node a\'s four events in order, none of node b\'s');
  await store.close();
});

test('watchers catching up through a history of shared events compute each event\'s trigger values once', async () => {
  // the etcd feed's ring hands every reader the same event objects; 5,000 node watches resuming
  // through the pod history must not each decode every pod event
  const events: ChangeEvent[] = Array.from({ length: 20 }, (_, i) => ({
    type: 'put',
    kv: { key: `/pods/p${i}`, value: JSON.stringify({ node: `n${i % 4}` }), createRevision: i + 1, modRevision: i + 1 },
  }));
  const hub = new WatchHub({ revision: 20, history: { readHistory: (_p, from, to) => events.filter((e) => e.kv.modRevision >= from && e.kv.modRevision <= to) } });
  const ac = new AbortController();
  calls = 0;
  const got = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      const it = hub.watch('/pods/', { signal: ac.signal, fromRevision: 1, trigger: { values, value: `n${i % 4}` } })[Symbol.asyncIterator]();
      const revs: number[] = [];
      while (revs.length < 5) {
        const r = await it.next();
        if (!r.done && r.value.type !== 'progress') revs.push(r.value.kv.modRevision);
      }
      return revs;
    }),
  );
  ac.abort();
  assert.deepEqual(got[1], [2, 6, 10, 14, 18]);
  assert.equal(calls, 20, 'one call per event, not one per event and watcher');
});

test('closeAll with an error fails the watchers\' iterators with it; without one they finish', async () => {
  const events: ChangeEvent[] = [];
  const hub = new WatchHub({ revision: 0, history: { readHistory: (_p, from, to) => events.filter((e) => e.kv.modRevision >= from && e.kv.modRevision <= to) } });
  const ac = new AbortController();
  const failing = hub.watch('/pods/', { signal: ac.signal })[Symbol.asyncIterator]();
  const pending = failing.next();
  const ev: ChangeEvent = { type: 'put', kv: { key: '/pods/a', value: 'x', createRevision: 1, modRevision: 1 } };
  events.push(ev);
  hub.publish([ev]);
  assert.deepEqual((await pending).value, ev);
  const next = failing.next();
  const boom = new Error('source failed');
  hub.closeAll(boom);
  await assert.rejects(next, (err) => err === boom);
  assert.equal(hub.watcherCount, 0);

  const ending = hub.watch('/pods/', { signal: ac.signal })[Symbol.asyncIterator]();
  const last = ending.next();
  await settle();
  hub.closeAll();
  assert.deepEqual(await last, { done: true, value: undefined });
  ac.abort();
});

test('an event whose trigger values cannot be computed (an undecryptable value) goes to every triggered watcher; the write is not disturbed', async () => {
  const store = new MemoryStore();
  const ac = new AbortController();
  const onA = collect(store, ac.signal, { values, value: 'a' });
  const onB = collect(store, ac.signal, { values, value: 'b' });
  await settle();
  const ok = await store.create('/pods/p1', JSON.stringify({ node: 'a' }));
  const bad = await store.create('/pods/p2', 'k8s:enc:aescbc:v1:gone:\u0001\u0002');
  await settle();
  ac.abort();
  assert.deepEqual(onA, [`put /pods/p1 ${ok.modRevision}`, `put /pods/p2 ${bad.modRevision}`]);
  assert.deepEqual(onB, [`put /pods/p2 ${bad.modRevision}`]);
  // a watch replaying history past it: the same
  const ac2 = new AbortController();
  const it = store.watch('/pods/', { signal: ac2.signal, fromRevision: 1, trigger: { values, value: 'b' } })[Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(first.value?.type === 'put' && first.value.kv.key, '/pods/p2');
  ac2.abort();
  await store.close();
});
