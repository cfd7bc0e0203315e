import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HedgeError } from '../lib/errors.ts';
import { silentLogger } from '../lib/log.ts';
import type { KubeObject } from '../api/object.ts';
import { FakeClock } from './clock.ts';
import { FakeKubeClient } from './fake-client.ts';
import { Informer, stripManagedFields } from './informer.ts';
import { Resources } from './resources.ts';

const node = (name: string, labels: Record<string, string> = {}): KubeObject => ({ metadata: { name, labels } });

/** Yield to the event loop until `cond` holds (bounded so a broken test fails instead of hanging). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function setup(c: FakeKubeClient, clock = new FakeClock()) {
  const seen: string[] = [];
  const inf = new Informer<KubeObject>({
    client: c,
    resource: Resources.nodes,
    logger: silentLogger(),
    clock,
    onAdd: (o) => seen.push(`add ${o.metadata.name}`),
    onUpdate: (_, o) => seen.push(`update ${o.metadata.name}`),
    onDelete: (o) => seen.push(`delete ${o.metadata.name}`),
  });
  const ac = new AbortController();
  const done = inf.run(ac.signal);
  return { inf, seen, ac, done, clock };
}

test('lists, syncs, then follows watch events', async () => {
  const c = new FakeKubeClient();
  await c.create(Resources.nodes, node('a'));
  const { inf, seen, ac, done } = setup(c);
  await inf.waitForSync();
  assert.ok(inf.hasSynced());
  await until(() => c.openWatches === 1, 'watch');
  await c.create(Resources.nodes, node('b'));
  await c.patch(Resources.nodes, 'a', 'merge', { metadata: { labels: { x: 'y' } } });
  await c.delete(Resources.nodes, 'b');
  await until(() => seen.length === 4, 'events');
  assert.deepEqual(seen, ['add a', 'add b', 'update a', 'delete b']);
  assert.deepEqual(inf.get('a')?.metadata.labels, { x: 'y' });
  assert.equal(inf.size, 1);
  ac.abort();
  await done;
});

test('bookmarks advance the resourceVersion; a closed watch resumes without relisting', async () => {
  const c = new FakeKubeClient();
  const { inf, seen, ac, done } = setup(c);
  await inf.waitForSync();
  await until(() => c.openWatches === 1, 'watch');
  await c.create(Resources.leases, { metadata: { name: 'l', namespace: 'default' } });
  c.sendBookmarks();
  await until(() => inf.resourceVersion === c.resourceVersion, 'bookmark');
  const lists = c.calls.filter((x) => x.verb === 'list').length;
  c.closeWatches();
  await until(() => c.calls.filter((x) => x.verb === 'watch').length === 2 && c.openWatches === 1, 'rewatch');
  await c.create(Resources.nodes, node('n'));
  await until(() => seen.length === 1, 'add after rewatch');
  assert.equal(c.calls.filter((x) => x.verb === 'list').length, lists);
  ac.abort();
  await done;
});

test('Gone relists and reports objects deleted meanwhile', async () => {
  const c = new FakeKubeClient();
  await c.create(Resources.nodes, node('a'));
  await c.create(Resources.nodes, node('b'));
  const { inf, seen, ac, done } = setup(c);
  await inf.waitForSync();
  await until(() => c.openWatches === 1, 'watch');
  c.breakWatches(new HedgeError('Gone', 'too old'));
  // Mutations the watch never delivered: only the relist can reveal them.
  await c.delete(Resources.nodes, 'a');
  await c.create(Resources.nodes, node('c'));
  await until(() => seen.includes('delete a') && seen.includes('add c'), 'relist diff');
  assert.deepEqual(inf.list().map((n) => n.metadata.name).sort(), ['b', 'c']);
  ac.abort();
  await done;
});

test('errors back off on the clock; stop clears the pending timer', async () => {
  const c = new FakeKubeClient();
  c.failNext('list', new HedgeError('Unavailable', 'down'));
  c.failNext('list', new HedgeError('Unavailable', 'down'));
  const clock = new FakeClock();
  const { inf, ac, done } = setup(c, clock);
  await until(() => clock.pending === 1, 'first back-off');
  assert.equal(inf.hasSynced(), false);
  clock.advance(60_000);
  await until(() => clock.pending === 1 && c.calls.filter((x) => x.verb === 'list').length === 2, 'second back-off');
  ac.abort();
  await done;
  assert.equal(clock.pending, 0);
  assert.equal(inf.hasSynced(), false);
});

test('listNamespace: the namespace index follows adds, deletes and a relist', async () => {
  const c = new FakeKubeClient();
  for (const ns of ['a', 'b']) await c.create(Resources.namespaces, { metadata: { name: ns } });
  const cm = (name: string, namespace: string): KubeObject => ({ metadata: { name, namespace } });
  await c.create(Resources.configmaps, cm('x', 'a'));
  await c.create(Resources.configmaps, cm('y', 'a'));
  await c.create(Resources.configmaps, cm('x', 'b'));
  const inf = new Informer<KubeObject>({ client: c, resource: Resources.configmaps, logger: silentLogger() });
  const ac = new AbortController();
  const done = inf.run(ac.signal);
  const names = (ns: string): string[] => inf.listNamespace(ns).map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort();
  await inf.waitForSync();
  assert.deepEqual([names('a'), names('b'), names('c')], [['a/x', 'a/y'], ['b/x'], []]);
  await until(() => c.openWatches === 1, 'watch');
  await c.delete(Resources.configmaps, 'x', { namespace: 'b' });
  await c.create(Resources.configmaps, cm('z', 'a'));
  await until(() => inf.size === 3, 'events');
  assert.deepEqual([names('a'), names('b')], [['a/x', 'a/y', 'a/z'], []]);
  c.breakWatches(new HedgeError('Gone', 'too old'));
  await c.delete(Resources.configmaps, 'y', { namespace: 'a' });
  await c.create(Resources.configmaps, cm('w', 'b'));
  await until(() => names('b').length === 1 && names('a').length === 2, 'relist');
  assert.deepEqual([names('a'), names('b')], [['a/x', 'a/z'], ['b/w']]);
  ac.abort();
  await done;
});

test('a transform (stripManagedFields) shapes what is cached and handed to handlers, listed or watched', async () => {
  const c = new FakeKubeClient();
  const managed = [{ manager: 'kubectl', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': {} } }];
  await c.create(Resources.nodes, { metadata: { name: 'a', managedFields: managed } });
  const handed: KubeObject[] = [];
  const inf = new Informer<KubeObject>({ client: c, resource: Resources.nodes, logger: silentLogger(), transform: stripManagedFields, onAdd: (o) => handed.push(o), onUpdate: (_, o) => handed.push(o) });
  const ac = new AbortController();
  const done = inf.run(ac.signal);
  await inf.waitForSync();
  await until(() => c.openWatches === 1, 'watch');
  await c.create(Resources.nodes, { metadata: { name: 'b', managedFields: managed } });
  await c.patch(Resources.nodes, 'a', 'merge', { metadata: { labels: { x: 'y' } } });
  await until(() => handed.length === 3, 'events');
  for (const o of [...handed, inf.get('a'), inf.get('b')]) assert.equal(o?.metadata.managedFields, undefined, o?.metadata.name);
  assert.deepEqual(inf.get('a')?.metadata.labels, { x: 'y' });
  // the stored object keeps them: the transform changed only the informer's own copy
  assert.equal((await c.get(Resources.nodes, 'a')).metadata.managedFields?.length, 1);
  ac.abort();
  await done;
});
