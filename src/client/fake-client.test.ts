import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HedgeError, isHedgeError } from '../lib/errors.ts';
import type { KubeObject } from '../api/object.ts';
import { FakeKubeClient } from './fake-client.ts';
import { Resources } from './resources.ts';
import type { WatchEvent } from './types.ts';

const pod = (name: string, extra: Partial<KubeObject> = {}): KubeObject => ({
  metadata: { name, namespace: 'default', labels: { app: 'a' } },
  spec: { containers: [{ name: 'c', image: 'x' }] },
  ...extra,
});

async function take<T>(it: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

test('create assigns uid and increasing resourceVersions; duplicate is AlreadyExists', async () => {
  const c = new FakeKubeClient();
  const a = await c.create(Resources.pods, pod('a'));
  const b = await c.create(Resources.pods, pod('b'));
  assert.ok(a.metadata.uid);
  assert.ok(Number(b.metadata.resourceVersion) > Number(a.metadata.resourceVersion));
  await assert.rejects(c.create(Resources.pods, pod('a')), (e) => isHedgeError(e, 'AlreadyExists'));
});

test('update with a stale resourceVersion is a Conflict', async () => {
  const c = new FakeKubeClient();
  const a = await c.create(Resources.pods, pod('a'));
  await c.update(Resources.pods, { ...a, metadata: { ...a.metadata, labels: { app: 'b' } } });
  await assert.rejects(
    c.update(Resources.pods, { ...a, metadata: { ...a.metadata, labels: { app: 'c' } } }),
    (e) => isHedgeError(e, 'Conflict'),
  );
});

test('update ignores status; updateStatus only changes status', async () => {
  const c = new FakeKubeClient();
  const a = await c.create(Resources.pods, pod('a'));
  const u = await c.update(Resources.pods, { ...a, status: { phase: 'Running' } });
  assert.equal(u.status, undefined);
  const s = await c.updateStatus(Resources.pods, { ...u, spec: { containers: [] }, status: { phase: 'Running' } });
  assert.deepEqual(s.status, { phase: 'Running' });
  assert.deepEqual(s.spec, a.spec);
});

test('list filters by field and label selector and paginates', async () => {
  const c = new FakeKubeClient();
  for (let i = 0; i < 5; i++) await c.create(Resources.pods, pod(`p${i}`, { spec: { nodeName: i % 2 ? 'n1' : '' } }));
  const onN1 = await c.list(Resources.pods, { fieldSelector: 'spec.nodeName=n1' });
  assert.deepEqual(onN1.items.map((p) => p.metadata.name), ['p1', 'p3']);
  const unbound = await c.list(Resources.pods, { fieldSelector: 'spec.nodeName=' });
  assert.equal(unbound.items.length, 3);
  assert.equal((await c.list(Resources.pods, { labelSelector: 'app=b' })).items.length, 0);
  assert.equal((await c.list(Resources.pods, { labelSelector: 'app in (a,b)' })).items.length, 5);
  const p1 = await c.list(Resources.pods, { limit: 2 });
  assert.equal(p1.items.length, 2);
  assert.ok(p1.metadata.continue);
  const p2 = await c.list(Resources.pods, { limit: 10, continue: p1.metadata.continue });
  assert.equal(p2.items.length, 3);
  assert.equal(p2.metadata.continue, undefined);
});

test('watch replays from a resourceVersion, then streams; compaction gives Gone', async () => {
  const c = new FakeKubeClient();
  const a = await c.create(Resources.pods, pod('a'));
  await c.create(Resources.pods, pod('b'));
  const ac = new AbortController();
  const it = c.watch(Resources.pods, { resourceVersion: a.metadata.resourceVersion, signal: ac.signal })[Symbol.asyncIterator]();
  await c.delete(Resources.pods, 'a', { namespace: 'default' });
  const evs = await take(it, 2);
  assert.deepEqual(evs.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED b', 'DELETED a']);
  ac.abort();
  assert.equal((await it.next()).done, true);
  c.compact();
  const it2 = c.watch(Resources.pods, { resourceVersion: a.metadata.resourceVersion })[Symbol.asyncIterator]();
  await assert.rejects(it2.next(), (e) => isHedgeError(e, 'Gone'));
});

test('watch with a field selector sees binding as ADDED and leaving as DELETED', async () => {
  const c = new FakeKubeClient();
  await c.create(Resources.pods, pod('a'));
  const ac = new AbortController();
  const it = c.watch<KubeObject>(Resources.pods, {
    resourceVersion: c.resourceVersion,
    fieldSelector: 'spec.nodeName=n1',
    signal: ac.signal,
  })[Symbol.asyncIterator]();
  await c.bind({ namespace: 'default', name: 'a', nodeName: 'n1' });
  const [ev] = (await take(it, 1)) as WatchEvent[];
  assert.equal(ev.type, 'ADDED');
  assert.equal((ev.object.spec as { nodeName: string }).nodeName, 'n1');
  await assert.rejects(c.bind({ namespace: 'default', name: 'a', nodeName: 'n2' }), (e) => isHedgeError(e, 'Conflict'));
  ac.abort();
});

test('deleting a scheduled pod is graceful; grace 0 removes it; preconditions are checked', async () => {
  const c = new FakeKubeClient();
  const a = await c.create(Resources.pods, pod('a', { spec: { nodeName: 'n1', containers: [] } }));
  await assert.rejects(
    c.delete(Resources.pods, 'a', { namespace: 'default', preconditions: { uid: 'nope' } }),
    (e) => isHedgeError(e, 'Conflict'),
  );
  const terminating = await c.delete(Resources.pods, 'a', { namespace: 'default' });
  assert.ok(terminating?.metadata.deletionTimestamp);
  assert.ok(await c.get(Resources.pods, 'a', { namespace: 'default' }));
  await c.delete(Resources.pods, 'a', { namespace: 'default', gracePeriodSeconds: 0, preconditions: { uid: a.metadata.uid } });
  await assert.rejects(c.get(Resources.pods, 'a', { namespace: 'default' }), (e) => isHedgeError(e, 'NotFound'));
});

test('patch: merge, strategic by merge key, json, and status subresource', async () => {
  const c = new FakeKubeClient();
  await c.create(Resources.nodes, { metadata: { name: 'n1' }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
  const m = await c.patch(Resources.nodes, 'n1', 'merge', { metadata: { labels: { a: 'b' } } });
  assert.deepEqual(m.metadata.labels, { a: 'b' });
  const s = await c.patch(Resources.nodes, 'n1', 'strategic', {
    status: { conditions: [{ type: 'EdgeAutonomy', status: 'True' }] },
  }, { subresource: 'status' });
  // upstream SMP puts items that only the patch has before the live ones (no $setElementOrder)
  assert.deepEqual((s.status as { conditions: { type: string }[] }).conditions.map((x) => x.type), ['EdgeAutonomy', 'Ready']);
  const ignored = await c.patch(Resources.nodes, 'n1', 'merge', { status: { phase: 'x' } });
  assert.equal((ignored.status as { phase?: string }).phase, undefined);
  const j = await c.patch(Resources.nodes, 'n1', 'json', [{ op: 'add', path: '/spec/unschedulable', value: true }]);
  assert.deepEqual(j.spec, { unschedulable: true });
  await assert.rejects(
    c.patch(Resources.nodes, 'n1', 'merge', { metadata: { resourceVersion: '1' }, spec: { podCIDR: 'x' } }),
    (e) => isHedgeError(e, 'Conflict'),
  );
});

test('failNext injects one failure', async () => {
  const c = new FakeKubeClient();
  c.failNext('list', new HedgeError('Unavailable', 'down'));
  await assert.rejects(c.list(Resources.pods), (e) => isHedgeError(e, 'Unavailable'));
  assert.equal((await c.list(Resources.pods)).items.length, 0);
});
