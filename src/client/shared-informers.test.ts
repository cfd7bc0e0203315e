import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../api/object.ts';
import { silentLogger, type Logger } from '../lib/log.ts';
import { FakeClock } from './clock.ts';
import { FakeKubeClient } from './fake-client.ts';
import { Resources } from './resources.ts';
import { SharedInformerFactory, type SharedInformer } from './shared-informers.ts';

const svc = (name: string, labels: Record<string, string> = {}): KubeObject => ({ metadata: { name, namespace: 'default', labels }, spec: { ports: [{ port: 80 }] } });

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const count = (c: FakeKubeClient, verb: 'list' | 'watch', plural: string): number => c.calls.filter((x) => x.verb === verb && x.plural === plural).length;

/** a consumer recording what its handlers saw */
function consumer(f: SharedInformerFactory, name: string, seen: string[], scope: { labelSelector?: string } = {}): SharedInformer<KubeObject> {
  return f.informer<KubeObject>({
    resource: Resources.services,
    ...scope,
    onAdd: (o) => seen.push(`${name} add ${o.metadata.name}`),
    onUpdate: (_, o) => seen.push(`${name} update ${o.metadata.name}`),
    onDelete: (o) => seen.push(`${name} delete ${o.metadata.name}`),
  });
}

test('N consumers of one scope share one list and one watch, and each handler sees every event', async () => {
  const c = new FakeKubeClient();
  await c.create(Resources.services, svc('a'));
  const f = new SharedInformerFactory({ client: c, logger: silentLogger(), clock: new FakeClock() });
  const seen: string[] = [];
  const handles = ['podsync', 'proxy', 'dns'].map((n) => consumer(f, n, seen));
  const ac = new AbortController();
  const runs = handles.map((h) => h.run(ac.signal));
  await Promise.all(handles.map((h) => h.waitForSync()));
  await until(() => c.openWatches === 1, 'the watch');
  assert.equal(count(c, 'list', 'services'), 1);
  assert.equal(count(c, 'watch', 'services'), 1);
  assert.equal(f.running, 1);
  await c.create(Resources.services, svc('b'));
  await c.delete(Resources.services, 'a', { namespace: 'default' });
  await until(() => seen.length === 9, 'events');
  for (const n of ['podsync', 'proxy', 'dns']) assert.deepEqual(seen.filter((s) => s.startsWith(`${n} `)), [`${n} add a`, `${n} add b`, `${n} delete a`]);
  // one cache: the same object for every consumer
  assert.equal(handles[0]!.get('b', 'default'), handles[2]!.get('b', 'default'));
  assert.deepEqual(handles[1]!.list().map((s) => s.metadata.name), ['b']);
  assert.equal(count(c, 'watch', 'services'), 1);
  ac.abort();
  await Promise.all(runs);
  assert.equal(f.running, 0);
  assert.equal(c.openWatches, 0);
});

test('another namespace or selector is another informer; resources named by apiVersion/kind share with refs', async () => {
  const c = new FakeKubeClient();
  await c.create(Resources.services, svc('a', { app: 'x' }));
  await c.create(Resources.services, svc('b'));
  const f = new SharedInformerFactory({ client: c, logger: silentLogger(), clock: new FakeClock() });
  const ac = new AbortController();
  const all = f.informer<KubeObject>({ resource: Resources.services });
  const byKind = f.informer<KubeObject>({ resource: { apiVersion: 'v1', kind: 'Service' } });
  const labelled = f.informer<KubeObject>({ resource: Resources.services, labelSelector: 'app=x' });
  const runs = [all, byKind, labelled].map((h) => h.run(ac.signal));
  await Promise.all([all, byKind, labelled].map((h) => h.waitForSync()));
  assert.equal(f.running, 2);
  assert.equal(count(c, 'list', 'services'), 2);
  assert.deepEqual(labelled.list().map((s) => s.metadata.name), ['a']);
  assert.equal(byKind.size, 2);
  ac.abort();
  await Promise.all(runs);
});

test('a handler added late is given the cache as adds first, then the events after', async () => {
  const c = new FakeKubeClient();
  await c.create(Resources.services, svc('a'));
  await c.create(Resources.services, svc('b'));
  const f = new SharedInformerFactory({ client: c, logger: silentLogger(), clock: new FakeClock() });
  const seen: string[] = [];
  const ac = new AbortController();
  const early = consumer(f, 'early', seen);
  const runs = [early.run(ac.signal)];
  await early.waitForSync();
  await until(() => c.openWatches === 1, 'the watch');
  // a second consumer joining the running informer, and a handler added to the first one
  const late = consumer(f, 'late', seen);
  runs.push(late.run(ac.signal));
  assert.ok(late.hasSynced(), 'joins a synced cache');
  const removeExtra = early.addHandlers({ onAdd: (o) => seen.push(`extra add ${o.metadata.name}`), onDelete: (o) => seen.push(`extra delete ${o.metadata.name}`) });
  assert.deepEqual(seen.filter((s) => !s.startsWith('early')).sort(), ['extra add a', 'extra add b', 'late add a', 'late add b']);
  await c.delete(Resources.services, 'a', { namespace: 'default' });
  await until(() => seen.includes('late delete a') && seen.includes('extra delete a'), 'the delete');
  removeExtra();
  await c.delete(Resources.services, 'b', { namespace: 'default' });
  await until(() => seen.includes('late delete b'), 'the second delete');
  assert.ok(!seen.includes('extra delete b'), 'a removed handler gets nothing more');
  assert.equal(count(c, 'list', 'services'), 1);
  assert.equal(count(c, 'watch', 'services'), 1);
  ac.abort();
  await Promise.all(runs);
});

test('the informer runs while any consumer does: the last one leaving stops its watch and drops the cache', async () => {
  const c = new FakeKubeClient();
  await c.create(Resources.services, svc('a'));
  const f = new SharedInformerFactory({ client: c, logger: silentLogger(), clock: new FakeClock() });
  const seen: string[] = [];
  const one = consumer(f, 'one', seen);
  const two = consumer(f, 'two', seen);
  const ac1 = new AbortController();
  const ac2 = new AbortController();
  const run1 = one.run(ac1.signal);
  const run2 = two.run(ac2.signal);
  await two.waitForSync();
  await until(() => c.openWatches === 1, 'the watch');
  ac1.abort();
  await run1;
  // the one that left reads nothing and hears nothing; the other one goes on
  assert.equal(one.hasSynced(), false);
  assert.deepEqual(one.list(), []);
  assert.equal(c.openWatches, 1);
  await c.create(Resources.services, svc('b'));
  await until(() => seen.includes('two add b'), 'two hears b');
  assert.ok(!seen.includes('one add b'));
  ac2.abort();
  await run2;
  assert.equal(f.running, 0);
  assert.equal(c.openWatches, 0);
  // a consumer starting afterwards gets a fresh informer: a new list, then a watch
  const ac3 = new AbortController();
  const three = consumer(f, 'three', seen);
  const run3 = three.run(ac3.signal);
  await three.waitForSync();
  assert.equal(count(c, 'list', 'services'), 2);
  assert.deepEqual(seen.filter((s) => s.startsWith('three')).sort(), ['three add a', 'three add b']);
  ac3.abort();
  await run3;
});

test('shutdown stops every informer and ends its consumers; a consumer run afterwards returns at once', async () => {
  const c = new FakeKubeClient();
  const f = new SharedInformerFactory({ client: c, logger: silentLogger(), clock: new FakeClock() });
  const never = new AbortController();
  const services = f.informer<KubeObject>({ resource: Resources.services });
  const slices = f.informer<KubeObject>({ resource: Resources.endpointslices });
  const runs = [services.run(never.signal), slices.run(never.signal)];
  await Promise.all([services.waitForSync(), slices.waitForSync()]);
  await until(() => c.openWatches === 2, 'the watches');
  await f.shutdown();
  await Promise.all(runs);
  assert.equal(c.openWatches, 0);
  assert.equal(f.running, 0);
  await f.informer<KubeObject>({ resource: Resources.nodes }).run(never.signal);
  assert.equal(count(c, 'list', 'nodes'), 0);
});

test('waitForSync before run waits for run to join; an abort ends the wait', async () => {
  const c = new FakeKubeClient();
  const f = new SharedInformerFactory({ client: c, logger: silentLogger(), clock: new FakeClock() });
  const h = f.informer<KubeObject>({ resource: Resources.services });
  const ac = new AbortController();
  const gone = new AbortController();
  const aborted = h.waitForSync(gone.signal);
  gone.abort(new Error('gave up'));
  await assert.rejects(aborted, /gave up/);
  const synced = h.waitForSync(ac.signal);
  const run = h.run(ac.signal);
  await synced;
  assert.ok(h.hasSynced());
  await assert.rejects(h.run(ac.signal), /running already/);
  ac.abort();
  await run;
});

test('a handler that throws does not keep the others from their events, nor the cache from updating', async () => {
  const c = new FakeKubeClient();
  await c.create(Resources.services, svc('a'));
  const errors: unknown[] = [];
  const logger = silentLogger();
  const recording: Logger = Object.assign(Object.create(logger) as Logger, {
    child: () => recording,
    error: (o: { err?: unknown }) => void errors.push(o.err),
  });
  const f = new SharedInformerFactory({ client: c, logger: recording, clock: new FakeClock() });
  const seen: string[] = [];
  const ac = new AbortController();
  const bad = f.informer<KubeObject>({
    resource: Resources.services,
    onAdd: () => {
      throw new Error('bad add');
    },
    onDelete: () => {
      throw new Error('bad delete');
    },
  });
  const good = consumer(f, 'good', seen);
  const runs = [bad.run(ac.signal), good.run(ac.signal)];
  await good.waitForSync();
  // and one joining late, whose replay throws
  const late = f.informer<KubeObject>({
    resource: Resources.services,
    onAdd: () => {
      throw new Error('bad replay');
    },
  });
  runs.push(late.run(ac.signal));
  await c.create(Resources.services, svc('b'));
  await c.delete(Resources.services, 'a', { namespace: 'default' });
  await until(() => seen.length === 3, 'the good handler');
  assert.deepEqual(seen, ['good add a', 'good add b', 'good delete a']);
  assert.deepEqual(good.list().map((s) => s.metadata.name), ['b']);
  assert.deepEqual(
    errors.map((e) => (e as Error).message),
    ['bad add', 'bad replay', 'bad add', 'bad replay', 'bad delete'],
  );
  ac.abort();
  await Promise.all(runs);
});
