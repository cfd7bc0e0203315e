import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import type { KeyValue, WatchEvent, WatchOptions, WatchTrigger } from '../types.ts';
import { lazyEtcd, startEtcd } from './etcd-process.ts';
import { EtcdStore, type EtcdStoreOptions } from './etcd-store.ts';

// One real etcd for the file (a test that kills it starts its own); every test gets its own prefix.
const etcd = lazyEtcd();
const server = etcd.get;
let seq = 0;
after(() => etcd.stop());

async function open(opts: Partial<EtcdStoreOptions> = {}, prefix = `/feed${seq++}`): Promise<EtcdStore> {
  const { endpoint } = await server();
  const store = new EtcdStore({ endpoints: [endpoint], prefix, ...opts });
  await store.currentRevision();
  return store;
}

interface Collected {
  events: Exclude<WatchEvent, { type: 'progress' }>[];
  /** settles when the watch ends: undefined, or what its iterator threw */
  done: Promise<unknown>;
}

/** consumes a watch in the background */
function collect(store: EtcdStore, prefix: string, opts: WatchOptions): Collected {
  const events: Collected['events'] = [];
  const done = (async () => {
    try {
      for await (const ev of store.watch(prefix, opts)) if (ev.type !== 'progress') events.push(ev);
      return undefined;
    } catch (err) {
      return err;
    }
  })();
  return { events, done };
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const summary = (evs: Collected['events']): string[] => evs.map((e) => `${e.type} ${e.kv.key}=${e.kv.value} @${e.kv.modRevision}`);

test('many watchers share one etcd watch per resource; each gets its prefix, read-your-writes holds', async () => {
  const store = await open();
  const ac = new AbortController();
  setMaxListeners(100, ac.signal);
  try {
    const pods = Array.from({ length: 50 }, () => collect(store, '/registry/pods/', { signal: ac.signal }));
    const leases = Array.from({ length: 10 }, () => collect(store, '/registry/leases/', { signal: ac.signal }));
    await until('watchers registered', () => store.stats().feedWatchers === 60);
    assert.deepEqual(store.stats().feeds, ['/registry/pods/', '/registry/leases/']);
    assert.equal(store.stats().etcdWatches, 2);
    assert.equal(store.stats().directWatchers, 0);
    const p = await store.create('/registry/pods/a', 'p1');
    const l = await store.create('/registry/leases/n1', 'l1');
    const p2 = await store.update('/registry/pods/a', 'p2', { expectedRevision: p.modRevision });
    // a watch without fromRevision starts after this client's last write, even if the feed lags
    const fresh = collect(store, '/registry/pods/', { signal: ac.signal });
    const p3 = await store.delete('/registry/pods/a');
    await until('pods delivered', () => pods.every((c) => c.events.length === 3) && fresh.events.length === 1);
    await until('leases delivered', () => leases.every((c) => c.events.length === 1));
    for (const c of pods) {
      assert.deepEqual(c.events, [
        { type: 'put', kv: p },
        { type: 'put', kv: p2, prevKv: p },
        { type: 'delete', kv: p3, prevKv: p2 },
      ]);
    }
    assert.deepEqual(fresh.events, [{ type: 'delete', kv: p3, prevKv: p2 }]);
    for (const c of leases) assert.deepEqual(c.events, [{ type: 'put', kv: l }]);
    assert.equal(store.stats().etcdWatches, 2);
    assert.equal(store.stats().feedStarts, 2);
  } finally {
    ac.abort();
    await store.close();
  }
});

test('an apiserver receives only the resources watched through it; a resource\'s first watch starts its feed at the watch\'s revision', async () => {
  // two apiservers: the one without the controllers has no Lease watcher, so 10,000 nodes' renewals
  // need not reach it at all
  const store = await open();
  const ac = new AbortController();
  try {
    const pods = collect(store, '/registry/core/pods/', { signal: ac.signal });
    await until('feed watcher', () => store.stats().feedWatchers === 1);
    const listed = await store.currentRevision();
    const leases: KeyValue[] = [];
    for (let i = 0; i < 10; i++) leases.push(await store.create(`/registry/coordination.k8s.io/leases/ns/n${i}`, String(i)));
    const p = await store.create('/registry/core/pods/ns/p', 'n1');
    await until('pod delivered', () => pods.events.length === 1);
    assert.deepEqual(pods.events, [{ type: 'put', kv: p }]);
    assert.deepEqual(store.stats().feeds, ['/registry/core/pods/']);
    assert.equal(store.stats().historyEvents, 1, 'the lease writes never reached this store');
    // a lease watch from a revision read before the writes (a LIST's): its feed replays them from etcd
    const leaseWatch = collect(store, '/registry/coordination.k8s.io/leases/ns/', { signal: ac.signal, fromRevision: listed + 1 });
    await until('leases replayed', () => leaseWatch.events.length === 10);
    assert.deepEqual(leaseWatch.events.map((e) => e.kv), leases);
    assert.deepEqual(store.stats().feeds, ['/registry/core/pods/', '/registry/coordination.k8s.io/leases/']);
    assert.equal(store.stats().directWatchers, 0, 'served by the new feed, not an etcd watch of its own');
    assert.equal(store.stats().historyEvents, 11);
  } finally {
    ac.abort();
    await store.close();
  }
});

test('a feed left without watchers is stopped after feedIdleMs; the next watch of its resource starts a new one', async () => {
  // the controllers moved to the other apiserver: this one stops receiving their resources' events
  const store = await open({ feedIdleMs: 100 });
  const ac = new AbortController();
  try {
    const first = new AbortController();
    const w = collect(store, '/registry/coordination.k8s.io/leases/', { signal: first.signal });
    await until('feed watcher', () => store.stats().feedWatchers === 1);
    const a = await store.create('/registry/coordination.k8s.io/leases/ns/a', '1');
    await until('delivered', () => w.events.length === 1);
    first.abort();
    await w.done;
    assert.deepEqual(store.stats().feeds, ['/registry/coordination.k8s.io/leases/'], 'kept while idle for less than feedIdleMs');
    await until('idle feed stopped', () => store.stats().etcdWatches === 0);
    assert.deepEqual(store.stats().feeds, []);
    const b = await store.create('/registry/coordination.k8s.io/leases/ns/b', '2');
    // a watch resuming from the first watcher's last revision: a new feed replays what it missed
    const again = collect(store, '/registry/coordination.k8s.io/leases/', { signal: ac.signal, fromRevision: a.modRevision + 1 });
    await until('replayed', () => again.events.length === 1);
    assert.deepEqual(again.events, [{ type: 'put', kv: b }]);
    assert.equal(store.stats().feedStarts, 2);
    assert.equal(store.stats().directWatchers, 0);
  } finally {
    ac.abort();
    await store.close();
  }
});

test('a watcher with a trigger gets only its value\'s events; values are computed once per event', async () => {
  const store = await open();
  const ac = new AbortController();
  let calls = 0;
  const nodeOf = (v: string): string => v.split(':')[0];
  const values: WatchTrigger['values'] = (ev) => {
    calls++;
    return ev.prevKv ? [nodeOf(ev.kv.value), nodeOf(ev.prevKv.value)] : [nodeOf(ev.kv.value)];
  };
  try {
    const nodes = ['n0', 'n1', 'n2', 'n3'];
    const byNode = nodes.map((n) => collect(store, '/registry/pods/', { signal: ac.signal, trigger: { values, value: n } }));
    const all = collect(store, '/registry/pods/', { signal: ac.signal });
    await until('watchers registered', () => store.stats().feedWatchers === 5);
    const a = await store.create('/registry/pods/a', 'n0:1');
    await store.create('/registry/pods/b', 'n1:1');
    await store.create('/registry/leases/x', 'n0:lease');
    // moves from n0 to n2: both see it
    const a2 = await store.update('/registry/pods/a', 'n2:2', { expectedRevision: a.modRevision });
    await until('all delivered', () => all.events.length === 3);
    await until('n2 delivered', () => byNode[2].events.length === 1);
    assert.deepEqual(summary(byNode[0].events), [`put /registry/pods/a=n0:1 @${a.modRevision}`, `put /registry/pods/a=n2:2 @${a2.modRevision}`]);
    assert.deepEqual(byNode[1].events.map((e) => e.kv.key), ['/registry/pods/b']);
    assert.deepEqual(byNode[2].events.map((e) => e.kv.modRevision), [a2.modRevision]);
    assert.deepEqual(byNode[3].events, []);
    // one call per pod event for the four triggered watchers together, none for the lease
    assert.equal(calls, 3);
    assert.equal(store.stats().etcdWatches, 1);
  } finally {
    ac.abort();
    await store.close();
  }
});

test('a watch from before the feed\'s history gets a direct etcd watch, replayed from etcd', async () => {
  const store = await open();
  const ac = new AbortController();
  try {
    const a = await store.create('/k/a', '1');
    const b = await store.create('/k/b', '2');
    const live = collect(store, '/k/', { signal: ac.signal });
    await until('feed watcher', () => store.stats().feedWatchers === 1);
    const old = collect(store, '/k/', { signal: ac.signal, fromRevision: a.modRevision });
    const c = await store.create('/k/c', '3');
    await until('old delivered', () => old.events.length === 3);
    await until('live delivered', () => live.events.length === 1);
    assert.deepEqual(old.events.map((e) => e.kv), [a, b, c]);
    assert.deepEqual(live.events.map((e) => e.kv), [c]);
    assert.deepEqual({ ...store.stats(), historyBytes: 0 }, {
      etcdWatches: 2,
      feeds: ['/k/'],
      feedWatchers: 1,
      directWatchers: 1,
      feedStarts: 1,
      feedDisconnects: 0,
      historyEvents: 1,
      historyBytes: 0,
      historyFrom: b.modRevision + 1,
    });
  } finally {
    ac.abort();
    await store.close();
  }
});

test('history is bounded: a watch from a trimmed revision goes direct, a feed watcher that falls behind it gets Gone', async () => {
  const store = await open({ watchHistoryEvents: 20, watchQueueLimit: 5 });
  const ac = new AbortController();
  try {
    const first = await store.create('/t/first', '0');
    // subscribed, never read: its live buffer (5) overflows and it must replay from the ring
    const slow = store.watch('/t/', { signal: ac.signal })[Symbol.asyncIterator]();
    const firstEvent = slow.next();
    const second = await store.create('/t/second', '0');
    assert.deepEqual((await firstEvent).value, { type: 'put', kv: second });
    const written: KeyValue[] = [];
    for (let i = 0; i < 40; i++) written.push(await store.create(`/t/${i}`, String(i)));
    await until('ring trimmed', () => store.stats().historyFrom > written[15].modRevision);
    assert.equal(store.stats().historyEvents, 20);
    await assert.rejects(
      (async () => {
        for (;;) if ((await slow.next()).done) return;
      })(),
      (err) => isHedgeError(err, 'Gone'),
    );
    // a new watch from the same old revision is served by etcd's own history instead
    const replay = collect(store, '/t/', { signal: ac.signal, fromRevision: first.modRevision });
    await until('replayed', () => replay.events.length === 42);
    assert.deepEqual(replay.events.map((e) => e.kv), [first, second, ...written]);
    assert.equal(store.stats().directWatchers, 1);
  } finally {
    ac.abort();
    await store.close();
  }
});

test('a watch resuming on a quiet resource stays on the feed while another resource churns past the history bound', async () => {
  // 5,000 nodes renew 500 Leases a second: in one shared ring they pushed the pod events out within
  // seconds, and every node's pod watch resuming from its last bookmark went to etcd on a watch of its own
  const store = await open({ watchHistoryEvents: 5 });
  const ac = new AbortController();
  try {
    const pods = collect(store, '/registry/core/pods/', { signal: ac.signal });
    const leaseWatch = collect(store, '/registry/coordination.k8s.io/leases/', { signal: ac.signal });
    await until('feed watchers', () => store.stats().feedWatchers === 2);
    const p = await store.create('/registry/core/pods/ns/p', 'n1');
    const leases: KeyValue[] = [];
    for (let i = 0; i < 20; i++) leases.push(await store.create(`/registry/coordination.k8s.io/leases/ns/n${i}`, String(i)));
    await until('pod delivered', () => pods.events.length === 1 && leaseWatch.events.length === 20);
    // the node's bookmark said the newest revision: a lease's, after its pod's last change
    const resumed = collect(store, '/registry/core/pods/', { signal: ac.signal, fromRevision: leases[2].modRevision + 1 });
    await until('resumed watcher', () => store.stats().feedWatchers + store.stats().directWatchers === 3);
    assert.equal(store.stats().directWatchers, 0, 'served by the shared feed, not an etcd watch of its own');
    const p2 = await store.update(p.key, 'n1:running', { expectedRevision: p.modRevision });
    await until('delivered', () => resumed.events.length === 1 && pods.events.length === 2);
    assert.deepEqual(resumed.events, [{ type: 'put', kv: p2, prevKv: p }]);
    // the churning resource itself lost its older events: a lease watch from there goes to etcd
    const oldLeases = collect(store, '/registry/coordination.k8s.io/leases/', { signal: ac.signal, fromRevision: leases[2].modRevision });
    await until('lease replay', () => oldLeases.events.length === 18);
    assert.equal(store.stats().directWatchers, 1);
    assert.equal(store.stats().etcdWatches, 3);
  } finally {
    ac.abort();
    await store.close();
  }
});

test('two stores (two apiservers) on one etcd deliver identical event streams under concurrent writes', async () => {
  const prefix = `/feed${seq++}`;
  const a = await open({}, prefix);
  const b = await open({}, prefix);
  const ac = new AbortController();
  try {
    const from = Math.max(await a.currentRevision(), await b.currentRevision()) + 1;
    const onA = collect(a, '/registry/', { signal: ac.signal, fromRevision: from });
    const onB = collect(b, '/registry/', { signal: ac.signal, fromRevision: from });
    await until('feed watchers', () => a.stats().feedWatchers === 1 && b.stats().feedWatchers === 1);
    const writes = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const s = i % 2 === 0 ? a : b;
        const kv = await s.create(`/registry/k${i % 20}/${i}`, `v${i}`);
        return s.update(kv.key, `w${i}`, { expectedRevision: kv.modRevision });
      }),
    );
    await until('all delivered', () => onA.events.length === 400 && onB.events.length === 400);
    assert.deepEqual(onA.events, onB.events);
    const revs = onA.events.map((e) => e.kv.modRevision);
    assert.ok(revs.every((r, i) => i === 0 || r === revs[i - 1] + 1), 'no revision missing or repeated');
    assert.deepEqual(new Set(onA.events.filter((e) => e.kv.value.startsWith('w')).map((e) => e.kv.modRevision)), new Set(writes.map((kv) => kv.modRevision)));
    assert.equal(a.stats().etcdWatches, 1);
    assert.equal(b.stats().etcdWatches, 1);
  } finally {
    ac.abort();
    await a.close();
    await b.close();
  }
});

test('the feed resumes after etcd is killed and restarted: nothing missed, nothing twice', { timeout: 120_000 }, async () => {
  const own = await startEtcd();
  const store = new EtcdStore({ endpoints: [own.endpoint], prefix: '/r' });
  const ac = new AbortController();
  try {
    await store.currentRevision();
    const watchers = Array.from({ length: 5 }, () => collect(store, '/k/', { signal: ac.signal }));
    await until('feed watchers', () => store.stats().feedWatchers === 5);
    const before = [];
    for (let i = 0; i < 10; i++) before.push(await store.create(`/k/before${i}`, String(i)));
    await until('delivered before', () => watchers.every((w) => w.events.length === 10));
    await own.restart();
    const afterRestart = [];
    for (let i = 0; i < 10; i++) afterRestart.push(await retry(() => store.create(`/k/after${i}`, String(i))));
    await until('delivered after', () => watchers.every((w) => w.events.length === 20), 60_000);
    for (const w of watchers) assert.deepEqual(w.events.map((e) => e.kv), [...before, ...afterRestart]);
    assert.equal(store.stats().feedStarts, 1);
    assert.ok(store.stats().feedDisconnects >= 1, 'the feed saw the connection drop');
  } finally {
    ac.abort();
    await store.close();
    await own.stop();
  }
});

test('when etcd ends the feed (compacted while cut off) its watchers get Gone and the next watch starts a new feed', { timeout: 120_000 }, async () => {
  const { endpoint } = await server();
  const proxy = await startProxy(Number(new URL(endpoint).port));
  const prefix = `/feed${seq++}`;
  const cutOff = new EtcdStore({ endpoints: [`http://127.0.0.1:${proxy.port}`], prefix });
  const other = new EtcdStore({ endpoints: [endpoint], prefix });
  const ac = new AbortController();
  try {
    await cutOff.currentRevision();
    const w = collect(cutOff, '/k/', { signal: ac.signal });
    await until('feed watcher', () => cutOff.stats().feedWatchers === 1);
    const a = await other.create('/k/a', '1');
    await until('delivered', () => w.events.length === 1);
    proxy.cut();
    await until('feed disconnected', () => cutOff.stats().feedDisconnects >= 1);
    // the feed's next revision (b's) compacted away: etcd keeps the compaction revision itself
    await other.create('/k/b', '2');
    await other.create('/k/b2', '2');
    await other.compact(await other.currentRevision());
    proxy.open();
    const err = await w.done;
    assert.ok(isHedgeError(err, 'Gone'), `expected Gone, got ${String(err)}`);
    assert.deepEqual(w.events.map((e) => e.kv), [a]);
    assert.equal(cutOff.stats().etcdWatches, 0);
    // the client re-lists and re-watches: a new feed
    const list = await retry(() => cutOff.list('/k/'));
    const again = collect(cutOff, '/k/', { signal: ac.signal, fromRevision: list.revision + 1 });
    await until('new feed watcher', () => cutOff.stats().feedWatchers === 1);
    const c = await other.create('/k/c', '3');
    await until('delivered on the new feed', () => again.events.length === 1);
    assert.deepEqual(again.events.map((e) => e.kv), [c]);
    assert.equal(cutOff.stats().feedStarts, 2);
    assert.equal(cutOff.stats().etcdWatches, 1);
  } finally {
    ac.abort();
    await cutOff.close();
    await other.close();
    await proxy.close();
  }
});

test('store close ends feed watchers and the feed', async () => {
  const store = await open();
  const ac = new AbortController();
  const ws = Array.from({ length: 3 }, () => collect(store, '/', { signal: ac.signal }));
  await until('feed watchers', () => store.stats().feedWatchers === 3);
  await store.close();
  for (const w of ws) assert.equal(await w.done, undefined);
  ac.abort();
});

/** retries a call while etcd comes back (Unavailable) */
async function retry<T>(fn: () => Promise<T>): Promise<T> {
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isHedgeError(err, 'Unavailable') || Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** a loopback TCP proxy to etcd that a test can cut (all connections dropped, new ones refused) and open again */
async function startProxy(target: number): Promise<{ port: number; cut(): void; open(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let srv: Server | undefined;
  let port = 0;
  const listen = (): Promise<void> =>
    new Promise((resolve) => {
      srv = createServer((down) => {
        const up = connect(target, '127.0.0.1');
        for (const s of [down, up]) {
          sockets.add(s);
          s.on('error', () => undefined);
          s.on('close', () => {
            sockets.delete(s);
            down.destroy();
            up.destroy();
          });
        }
        down.pipe(up);
        up.pipe(down);
      });
      srv.listen(port, '127.0.0.1', () => {
        const addr = srv?.address();
        port = typeof addr === 'object' && addr !== null ? addr.port : 0;
        resolve();
      });
    });
  await listen();
  const cut = (): void => {
    srv?.close();
    srv = undefined;
    for (const s of sockets) s.destroy();
  };
  return {
    port,
    cut,
    open: () => void listen(),
    close: async () => cut(),
  };
}
