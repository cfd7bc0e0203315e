/**
 * The one behaviour suite every KubeClient passes: HttpKubeClient talking to a real in-process
 * hedge apiserver, and FakeKubeClient, the in-memory stand-in most controller and agent tests
 * use. What the fake claims about the apiserver is checked here against the real one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KubeObject } from '../api/object.ts';
import { isHedgeError, type ErrorCode } from '../lib/errors.ts';
import { linkedSignal } from '../lib/signals.ts';
import { Resources } from './resources.ts';
import type { KubeClient, WatchEvent, WatchOptions } from './types.ts';

export interface KubeClientUnderTest {
  client: KubeClient;
  /** forget history up to now: a watch from an older resourceVersion gets 410 Gone */
  compact(): Promise<void>;
  /** make open watches that allow bookmarks get one soon (the real server sends them on a short interval) */
  bookmark(): Promise<void>;
  cleanup(): Promise<void>;
}

const CM = Resources.configmaps;
const PODS = Resources.pods;

function code(c: ErrorCode): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isHedgeError(err, c), `expected HedgeError ${c}, got ${isHedgeError(err) ? err.code : ''} ${String(err)}`);
    return true;
  };
}

const cm = (ns: string, name: string, data: Record<string, string>, labels?: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns, ...(labels ? { labels } : {}) },
  data,
});

const pod = (ns: string, name: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns },
  spec: {
    containers: [
      { name: 'a', image: 'busybox:1', env: [{ name: 'X', value: '1' }] },
      { name: 'b', image: 'busybox:1' },
    ],
  },
});

/** reads a watch into an array until `stop` says enough (or the timeout) */
async function collect(client: KubeClient, opts: WatchOptions, stop: (evs: WatchEvent[]) => boolean, res = CM): Promise<WatchEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 10_000);
  const out: WatchEvent[] = [];
  try {
    // ac is always aborted below, which also unhooks the link from opts.signal
    for await (const ev of client.watch(res, { ...opts, signal: linkedSignal([ac.signal, opts.signal]) })) {
      out.push(ev);
      if (stop(out)) break;
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return out;
}

const rvNum = (o: KubeObject | { metadata: { resourceVersion?: string } }): number => Number(o.metadata?.resourceVersion);

export function runKubeClientContract(name: string, make: () => Promise<KubeClientUnderTest>, opts: { skip?: string } = {}): void {
  describe(`KubeClient contract: ${name}`, { skip: opts.skip ?? false, concurrency: false }, () => {
    let t: KubeClientUnderTest | undefined;
    let n = 0;
    let ns = '';
    const c = (): KubeClient => {
      assert.ok(t, 'fixture made');
      return t.client;
    };
    const it = (title: string, fn: () => Promise<void>): void => {
      test(title, { timeout: 30_000 }, async () => {
        // a namespace per test: lists and watches see only that test's objects
        ns = `contract-${++n}`;
        await c().create(Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
        await fn();
      });
    };

    before(async () => {
      t = await make();
    });
    after(async () => {
      await t?.cleanup();
    });

    it('create fills in server fields; get returns it; a second create is AlreadyExists; a missing one is NotFound', async () => {
      const made = await c().create(CM, cm(ns, 'one', { k: 'v' }));
      assert.equal(made.apiVersion, 'v1');
      assert.equal(made.kind, 'ConfigMap');
      assert.match(made.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
      assert.ok(rvNum(made) > 0, 'numeric resourceVersion');
      assert.match(made.metadata.creationTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const got = await c().get(CM, 'one', { namespace: ns });
      assert.deepEqual(got.metadata.uid, made.metadata.uid);
      assert.equal(got.metadata.resourceVersion, made.metadata.resourceVersion);
      assert.deepEqual((got as KubeObject & { data: unknown }).data, { k: 'v' });
      await assert.rejects(c().create(CM, cm(ns, 'one', {})), code('AlreadyExists'));
      await assert.rejects(c().get(CM, 'missing', { namespace: ns }), code('NotFound'));
      const gen = await c().create<KubeObject>(CM, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'gen-', namespace: ns } });
      assert.match(gen.metadata.name ?? '', /^gen-[a-z0-9]+$/);
      await assert.rejects(c().create(CM, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: ns } }), code('Invalid'));
    });

    it('update needs the current resourceVersion: a stale one is Conflict, a missing object NotFound; a no-op keeps the version', async () => {
      const v1 = await c().create(CM, cm(ns, 'u', { a: '1' }));
      const v2 = await c().update(CM, { ...v1, data: { a: '2' } } as KubeObject);
      assert.ok(rvNum(v2) > rvNum(v1));
      assert.equal(v2.metadata.uid, v1.metadata.uid);
      await assert.rejects(c().update(CM, { ...v1, data: { a: '3' } } as KubeObject), code('Conflict'));
      assert.deepEqual((await c().get<KubeObject & { data: unknown }>(CM, 'u', { namespace: ns })).data, { a: '2' }, 'the stale write changed nothing');
      const same = await c().update(CM, v2);
      assert.equal(same.metadata.resourceVersion, v2.metadata.resourceVersion, 'a write that changes nothing does not bump the version');
      await assert.rejects(c().update(CM, cm(ns, 'nope', {})), code('NotFound'));
    });

    it('patch: merge, strategic (lists merged by key) and JSON patch; a stale resourceVersion in the patch is Conflict', async () => {
      await c().create(CM, cm(ns, 'p', { a: '1', b: '2' }));
      const m = await c().patch<KubeObject & { data: unknown }>(CM, 'p', 'merge', { data: { b: null, c: '3' } }, { namespace: ns });
      assert.deepEqual(m.data, { a: '1', c: '3' });
      const j = await c().patch<KubeObject & { data: unknown }>(CM, 'p', 'json', [{ op: 'replace', path: '/data/a', value: 'x' }, { op: 'add', path: '/data/d', value: '4' }], { namespace: ns });
      assert.deepEqual(j.data, { a: 'x', c: '3', d: '4' });
      await assert.rejects(c().patch(CM, 'p', 'json', [{ op: 'test', path: '/data/a', value: 'not-x' }], { namespace: ns }));
      await assert.rejects(c().patch(CM, 'p', 'merge', { metadata: { resourceVersion: '1' }, data: { a: 'y' } }, { namespace: ns }), code('Conflict'));
      await assert.rejects(c().patch(CM, 'missing', 'merge', { data: {} }, { namespace: ns }), code('NotFound'));

      await c().create(PODS, pod(ns, 'sp'));
      type PodLike = KubeObject & { spec: { containers: { name: string; image: string; env?: unknown[] }[] } };
      const sp = await c().patch<PodLike>(PODS, 'sp', 'strategic', { spec: { containers: [{ name: 'b', image: 'busybox:2' }] } }, { namespace: ns });
      assert.deepEqual(
        sp.spec.containers.map((x) => [x.name, x.image]),
        [
          ['a', 'busybox:1'],
          ['b', 'busybox:2'],
        ],
        'containers merged by name, not replaced',
      );
      assert.deepEqual(sp.spec.containers[0]?.env, [{ name: 'X', value: '1' }]);
    });

    it('status is its own subresource for pods: update keeps status, updateStatus keeps spec', async () => {
      const p = await c().create(PODS, pod(ns, 'st'));
      const s1 = await c().updateStatus(PODS, { ...p, status: { phase: 'Running' } } as KubeObject);
      assert.equal((s1.status as { phase?: string }).phase, 'Running');
      const u = await c().update(PODS, { ...s1, metadata: { ...s1.metadata, labels: { x: 'y' } }, status: { phase: 'Failed' } } as KubeObject);
      assert.equal((u.status as { phase?: string }).phase, 'Running', 'update ignores status');
      assert.deepEqual(u.metadata.labels, { x: 'y' });
      const s2 = await c().updateStatus(PODS, { ...u, metadata: { ...u.metadata, labels: { x: 'z' } }, status: { phase: 'Succeeded' } } as KubeObject);
      assert.deepEqual(s2.metadata.labels, { x: 'y' }, 'updateStatus ignores metadata and spec');
      assert.equal((s2.status as { phase?: string }).phase, 'Succeeded');
    });

    it('delete: preconditions on uid and resourceVersion are Conflict; finalizers hold the object; a missing one is NotFound', async () => {
      const d = await c().create(CM, cm(ns, 'd', {}));
      await assert.rejects(c().delete(CM, 'd', { namespace: ns, preconditions: { uid: '00000000-0000-0000-0000-000000000000' } }), code('Conflict'));
      await assert.rejects(c().delete(CM, 'd', { namespace: ns, preconditions: { resourceVersion: '1' } }), code('Conflict'));
      await c().delete(CM, 'd', { namespace: ns, preconditions: { uid: d.metadata.uid, resourceVersion: d.metadata.resourceVersion } });
      await assert.rejects(c().get(CM, 'd', { namespace: ns }), code('NotFound'));
      await assert.rejects(c().delete(CM, 'd', { namespace: ns }), code('NotFound'));

      const f = await c().create(CM, { ...cm(ns, 'f', {}), metadata: { name: 'f', namespace: ns, finalizers: ['example.com/hold'] } });
      await c().delete(CM, 'f', { namespace: ns });
      const held = await c().get(CM, 'f', { namespace: ns });
      assert.ok(held.metadata.deletionTimestamp, 'terminating');
      assert.ok(rvNum(held) > rvNum(f));
      await c().update(CM, { ...held, metadata: { ...held.metadata, finalizers: [] } });
      await assert.rejects(c().get(CM, 'f', { namespace: ns }), code('NotFound'), 'the last finalizer gone ends the delete');
    });

    it('list: namespace scoping, label and field selectors, resourceVersion, limit and continue', async () => {
      await c().create(CM, cm(ns, 'a', {}, { app: 'web', tier: 'front' }));
      await c().create(CM, cm(ns, 'b', {}, { app: 'web', tier: 'back' }));
      await c().create(CM, cm(ns, 'c', {}, { app: 'db' }));
      const names = async (o: { labelSelector?: string; fieldSelector?: string }): Promise<string[]> =>
        (await c().list(CM, { namespace: ns, ...o })).items.map((i) => i.metadata.name ?? '').sort();
      assert.deepEqual(await names({}), ['a', 'b', 'c']);
      assert.deepEqual(await names({ labelSelector: 'app=web' }), ['a', 'b']);
      assert.deepEqual(await names({ labelSelector: 'app!=web' }), ['c']);
      assert.deepEqual(await names({ labelSelector: 'app in (db,nothing)' }), ['c']);
      assert.deepEqual(await names({ labelSelector: 'tier' }), ['a', 'b']);
      assert.deepEqual(await names({ labelSelector: '!tier' }), ['c']);
      assert.deepEqual(await names({ labelSelector: 'app=web,tier=back' }), ['b']);
      assert.deepEqual(await names({ fieldSelector: 'metadata.name=c' }), ['c']);
      assert.deepEqual(await names({ fieldSelector: 'metadata.name!=c' }), ['a', 'b']);
      const all = await c().list(CM, {});
      assert.ok(all.items.some((i) => i.metadata.namespace === ns), 'no namespace lists every namespace');
      const l = await c().list(CM, { namespace: ns });
      assert.equal(l.kind, 'ConfigMapList');
      assert.ok(rvNum({ metadata: l.metadata }) >= Math.max(...l.items.map(rvNum)));
      const p1 = await c().list(CM, { namespace: ns, limit: 2 });
      assert.equal(p1.items.length, 2);
      assert.ok(p1.metadata.continue, 'a continue token');
      const p2 = await c().list(CM, { namespace: ns, limit: 2, continue: p1.metadata.continue });
      assert.deepEqual([...p1.items, ...p2.items].map((i) => i.metadata.name), ['a', 'b', 'c']);
      assert.equal(p2.metadata.continue || undefined, undefined);
    });

    it('watch from a resourceVersion: ADDED, MODIFIED, DELETED in order, each with its new version', async () => {
      const start = (await c().list(CM, { namespace: ns })).metadata.resourceVersion;
      const a = await c().create(CM, cm(ns, 'w', { v: '1' }));
      const b = await c().patch(CM, 'w', 'merge', { data: { v: '2' } }, { namespace: ns });
      await c().delete(CM, 'w', { namespace: ns });
      const evs = await collect(c(), { namespace: ns, resourceVersion: start }, (e) => e.length >= 3);
      assert.deepEqual(
        evs.map((e) => [e.type, e.object.metadata.name]),
        [
          ['ADDED', 'w'],
          ['MODIFIED', 'w'],
          ['DELETED', 'w'],
        ],
      );
      assert.equal(evs[0]?.object.metadata.resourceVersion, a.metadata.resourceVersion);
      assert.equal(evs[1]?.object.metadata.resourceVersion, b.metadata.resourceVersion);
      assert.ok(rvNum(evs[2]?.object ?? { metadata: {} }) > rvNum(b), 'a delete has a version of its own');
      assert.deepEqual((evs[1]?.object as KubeObject & { data: unknown }).data, { v: '2' });
    });

    it('watch without a resourceVersion starts with the current objects as ADDED; selectors filter and an object leaving one is DELETED', async () => {
      await c().create(CM, cm(ns, 'x', {}, { app: 'web' }));
      await c().create(CM, cm(ns, 'y', {}, { app: 'db' }));
      const initial = await collect(c(), { namespace: ns, labelSelector: 'app=web' }, (e) => e.length >= 1);
      assert.deepEqual(initial.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'x']]);

      const from = (await c().list(CM, { namespace: ns })).metadata.resourceVersion;
      await c().patch(CM, 'y', 'merge', { metadata: { labels: { app: 'web' } } }, { namespace: ns });
      await c().patch(CM, 'x', 'merge', { metadata: { labels: { app: 'db' } } }, { namespace: ns });
      await c().create(CM, cm(ns, 'z', {}, { app: 'web' }));
      const evs = await collect(c(), { namespace: ns, labelSelector: 'app=web', resourceVersion: from }, (e) => e.length >= 3);
      assert.deepEqual(
        evs.map((e) => [e.type, e.object.metadata.name]),
        [
          ['ADDED', 'y'],
          ['DELETED', 'x'],
          ['ADDED', 'z'],
        ],
      );
      const byName = await collect(c(), { namespace: ns, fieldSelector: 'metadata.name=z' }, (e) => e.length >= 1);
      assert.deepEqual(byName.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'z']]);
    });

    it('a watch from a compacted resourceVersion fails with Gone (410)', async () => {
      const old = (await c().list(CM, { namespace: ns })).metadata.resourceVersion;
      await c().create(CM, cm(ns, 'g1', {}));
      await c().create(CM, cm(ns, 'g2', {}));
      assert.ok(t);
      await t.compact();
      await assert.rejects(collect(c(), { namespace: ns, resourceVersion: old }, () => true), code('Gone'));
    });

    it('names are validated and the namespace must exist', async () => {
      await assert.rejects(c().create(CM, cm(ns, 'Bad_Name', {})), code('Invalid'));
      await assert.rejects(c().create(CM, cm(`${ns}-nowhere`, 'fine', {})), code('NotFound'));
      assert.deepEqual((await c().list(CM, { namespace: ns })).items, [], 'nothing written');
    });

    it('dryRun writes nothing: create and patch answer as if they had', async () => {
      const dry = await c().create(CM, cm(ns, 'dry', { a: '1' }), { dryRun: true });
      assert.equal(dry.metadata.name, 'dry');
      await assert.rejects(c().get(CM, 'dry', { namespace: ns }), code('NotFound'));
      const real = await c().create(CM, cm(ns, 'real', { a: '1' }));
      const p = await c().patch<KubeObject & { data: unknown }>(CM, 'real', 'merge', { data: { a: '2' } }, { namespace: ns, dryRun: true });
      assert.deepEqual(p.data, { a: '2' });
      const after = await c().get<KubeObject & { data: unknown }>(CM, 'real', { namespace: ns });
      assert.deepEqual(after.data, { a: '1' });
      assert.equal(after.metadata.resourceVersion, real.metadata.resourceVersion);
    });

    it('a watch ends (without an error) at timeoutSeconds', async () => {
      const t0 = Date.now();
      const ac = new AbortController();
      const guard = setTimeout(() => ac.abort(), 10_000);
      const seen: WatchEvent[] = [];
      try {
        for await (const ev of c().watch(CM, { namespace: ns, timeoutSeconds: 1, signal: ac.signal })) seen.push(ev);
      } finally {
        clearTimeout(guard);
      }
      assert.equal(ac.signal.aborted, false, 'ended by the server, not by the guard');
      assert.ok(Date.now() - t0 >= 900, 'not before the timeout');
      assert.deepEqual(seen, []);
    });

    it('bookmarks, when allowed, carry the kind and a current resourceVersion', async () => {
      const made = await c().create(CM, cm(ns, 'bm', {}));
      const ac = new AbortController();
      const guard = setTimeout(() => ac.abort(), 10_000);
      let bookmark: WatchEvent | undefined;
      try {
        const watch = c().watch(CM, { namespace: ns, resourceVersion: made.metadata.resourceVersion, allowWatchBookmarks: true, signal: ac.signal });
        const it = watch[Symbol.asyncIterator]();
        const first = it.next();
        assert.ok(t);
        await t.bookmark();
        const r = await first;
        bookmark = r.done ? undefined : r.value;
        await it.return?.();
      } finally {
        clearTimeout(guard);
        ac.abort();
      }
      assert.equal(bookmark?.type, 'BOOKMARK');
      assert.equal(bookmark?.object.kind, 'ConfigMap');
      assert.equal(bookmark?.object.apiVersion, 'v1');
      assert.ok(rvNum(bookmark?.object ?? { metadata: {} }) >= rvNum(made));
    });

    it('a pod bound to a node is deleted gracefully: it stays, terminating, until deleted with grace 0', async () => {
      await c().create(PODS, pod(ns, 'gp'));
      await c().bind({ namespace: ns, name: 'gp', nodeName: 'node-1' });
      await c().delete(PODS, 'gp', { namespace: ns });
      const term = await c().get(PODS, 'gp', { namespace: ns });
      assert.ok(term.metadata.deletionTimestamp);
      assert.equal(term.metadata.deletionGracePeriodSeconds, 30);
      await c().delete(PODS, 'gp', { namespace: ns, gracePeriodSeconds: 0 });
      await assert.rejects(c().get(PODS, 'gp', { namespace: ns }), code('NotFound'));
    });

    it('bind sets the node and PodScheduled; binding a bound pod is Conflict', async () => {
      const p = await c().create(PODS, pod(ns, 'bp'));
      await c().bind({ namespace: ns, name: 'bp', nodeName: 'node-1', uid: p.metadata.uid });
      const bound = await c().get<KubeObject & { spec: { nodeName?: string }; status?: { conditions?: { type: string; status: string }[] } }>(PODS, 'bp', { namespace: ns });
      assert.equal(bound.spec.nodeName, 'node-1');
      assert.ok(bound.status?.conditions?.some((x) => x.type === 'PodScheduled' && x.status === 'True'));
      await assert.rejects(c().bind({ namespace: ns, name: 'bp', nodeName: 'node-2' }), code('Conflict'));
      await assert.rejects(c().bind({ namespace: ns, name: 'nope', nodeName: 'node-2' }), code('NotFound'));
    });
  });
}
