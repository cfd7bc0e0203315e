import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { KubeObject } from '../api/object.ts';
import { FakeKubeClient } from '../client/fake-client.ts';
import { Resources } from '../client/resources.ts';
import { HedgeError, isHedgeError } from '../lib/errors.ts';
import { silentLogger } from '../lib/log.ts';
import { MemoryStore } from '../store/index.ts';
import type { WatchEvent } from '../store/types.ts';
import { HubDb } from './hub-db.ts';
import { localWrite } from './local-writes.ts';
import { Replica } from './replica.ts';
import { replayJournal } from './replay.ts';
import type { ResourceRequestInfo } from '../apiserver/index.ts';

const NODE = 'n1';
const log = silentLogger();

function setup(): { cloud: FakeKubeClient; store: MemoryStore; db: HubDb; replica: Replica } {
  const cloud = new FakeKubeClient();
  const store = new MemoryStore();
  const db = new HubDb(':memory:');
  return { cloud, store, db, replica: new Replica({ store, db, logger: log }) };
}

const pod = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: NODE, containers: [] } });

const statusPatch = (name: string, phase: string): { info: ResourceRequestInfo; body: unknown } => ({
  info: { isResourceRequest: true, verb: 'patch', apiPrefix: 'api', group: '', version: 'v1', namespace: 'default', resource: 'pods', subresource: 'status', name, path: '' },
  body: { status: { phase } },
});

const eventCreate = (reason: string): { info: ResourceRequestInfo; body: unknown } => ({
  info: { isResourceRequest: true, verb: 'create', apiPrefix: 'api', group: '', version: 'v1', namespace: 'default', resource: 'events', subresource: '', name: '', path: '' },
  body: { metadata: { generateName: 'p1.' }, involvedObject: { kind: 'Pod', name: 'p1', namespace: 'default' }, reason, message: reason },
});

/** collects the replica store's events until `stop` */
function record(store: MemoryStore): { events: WatchEvent[]; stop: () => void } {
  const ac = new AbortController();
  const events: WatchEvent[] = [];
  void (async () => {
    for await (const ev of store.watch('/registry/', { signal: ac.signal })) events.push(ev);
  })();
  return { events, stop: () => ac.abort() };
}

describe('edgehub journal and replay', () => {
  it('offline writes are journaled before the replica changes and replayed in order', async () => {
    const { cloud, db, replica } = setup();
    const p1 = await cloud.create(Resources.pods, pod('p1'));
    await replica.putFromCloud(Resources.pods, p1);
    const deps = { nodeName: NODE, replica, db, now: () => Date.parse('2026-01-01T00:00:00Z') };
    for (const phase of ['Pending', 'Running', 'Succeeded']) {
      const r = statusPatch('p1', phase);
      const out = await localWrite(deps, { ...r, res: Resources.pods, contentType: 'application/merge-patch+json' });
      assert.equal((out.body as { status: { phase: string } }).status.phase, phase);
    }
    const ev = await localWrite(deps, { ...eventCreate('Started'), res: Resources.events, contentType: 'application/json' });
    assert.equal(ev.code, 201);
    assert.equal(db.pendingCount(), 4);
    assert.equal(((await replica.get(Resources.pods, 'default', 'p1'))?.status as { phase: string }).phase, 'Succeeded');

    const result = await replayJournal({ db, cloud, replica, nodeName: NODE, logger: log }, AbortSignal.timeout(5_000));
    assert.deepEqual(result, { applied: 4, dropped: 0, conflicts: 0 });
    assert.equal(db.pendingCount(), 0);
    assert.equal(((await cloud.get(Resources.pods, 'p1', { namespace: 'default' })).status as { phase: string }).phase, 'Succeeded');
    const patches = cloud.calls.filter((c) => c.verb === 'patch').length;
    assert.equal(patches, 3, 'every journaled write is sent, in order');
    assert.equal((await cloud.list(Resources.events, { namespace: 'default' })).items[0]?.metadata.name, (ev.body as KubeObject).metadata.name);
  });

  it('a cloud-side change meanwhile is a conflict: node-owned fields re-applied, reported as an Event', async () => {
    const { cloud, db, replica } = setup();
    await replica.putFromCloud(Resources.pods, await cloud.create(Resources.pods, pod('p1')));
    const deps = { nodeName: NODE, replica, db, now: () => Date.now() };
    await localWrite(deps, { ...statusPatch('p1', 'Running'), res: Resources.pods, contentType: 'application/merge-patch+json' });
    await localWrite(deps, { ...statusPatch('p1', 'Failed'), res: Resources.pods, contentType: 'application/merge-patch+json' });
    await cloud.patch(Resources.pods, 'p1', 'merge', { metadata: { labels: { by: 'cloud' } } }, { namespace: 'default' });
    const result = await replayJournal({ db, cloud, replica, nodeName: NODE, logger: log }, AbortSignal.timeout(5_000));
    // one conflict (the first write); the second is based on our own replayed write
    assert.equal(result.conflicts, 1);
    const p = await cloud.get(Resources.pods, 'p1', { namespace: 'default' });
    assert.equal(p.metadata.labels?.by, 'cloud');
    assert.equal((p.status as { phase: string }).phase, 'Failed');
    const events = (await cloud.list(Resources.events, { namespace: 'default' })).items as (KubeObject & { reason?: string })[];
    assert.deepEqual(events.map((e) => e.reason), ['OfflineWriteConflict']);
  });

  it('killed mid-replay: the rest stays journaled in order; a write sent twice is not applied twice', async () => {
    const { cloud, db, replica } = setup();
    await replica.putFromCloud(Resources.pods, await cloud.create(Resources.pods, pod('p1')));
    const deps = { nodeName: NODE, replica, db, now: () => Date.now() };
    await localWrite(deps, { ...eventCreate('A'), res: Resources.events, contentType: 'application/json' });
    await localWrite(deps, { ...statusPatch('p1', 'Running'), res: Resources.pods, contentType: 'application/merge-patch+json' });
    await localWrite(deps, { ...eventCreate('B'), res: Resources.events, contentType: 'application/json' });
    // the link dies on the second entry's write
    cloud.failNext('patch', new HedgeError('Unavailable', 'connection reset'));
    await assert.rejects(replayJournal({ db, cloud, replica, nodeName: NODE, logger: log }, AbortSignal.timeout(5_000)), (err: unknown) => isHedgeError(err, 'Unavailable'));
    assert.equal(db.pendingCount(), 2);
    // a crash after the cloud accepted an entry but before it was marked done: it is sent again
    const [first] = db.pending();
    assert.equal(first?.entry.kind, 'patch');
    const again = await replayJournal({ db, cloud, replica, nodeName: NODE, logger: log }, AbortSignal.timeout(5_000));
    assert.equal(again.applied, 2);
    const reasons = ((await cloud.list(Resources.events, { namespace: 'default' })).items as (KubeObject & { reason?: string })[]).map((e) => e.reason).sort();
    assert.deepEqual(reasons, ['A', 'B']);
    // re-sending an already delivered event (crash before `done`) finds it there: nothing doubled
    const evA = (await cloud.list(Resources.events, { namespace: 'default' })).items.find((e) => (e as { reason?: string }).reason === 'A')!;
    db.append({ kind: 'create', resource: Resources.events, namespace: 'default', object: { ...evA, metadata: { name: evA.metadata.name, namespace: 'default' } } });
    await replayJournal({ db, cloud, replica, nodeName: NODE, logger: log }, AbortSignal.timeout(5_000));
    assert.equal((await cloud.list(Resources.events, { namespace: 'default' })).items.length, 2);
  });

  it('a write the cloud refuses for good is dropped, not retried forever', async () => {
    const { cloud, db, replica } = setup();
    await replica.putFromCloud(Resources.pods, await cloud.create(Resources.pods, pod('p1')));
    const deps = { nodeName: NODE, replica, db, now: () => Date.now() };
    await localWrite(deps, { ...statusPatch('p1', 'Running'), res: Resources.pods, contentType: 'application/merge-patch+json' });
    await cloud.delete(Resources.pods, 'p1', { namespace: 'default', gracePeriodSeconds: 0 });
    const r = await replayJournal({ db, cloud, replica, nodeName: NODE, logger: log }, AbortSignal.timeout(5_000));
    assert.deepEqual(r, { applied: 0, dropped: 1, conflicts: 0 });
    assert.equal(db.pendingCount(), 0);
  });

  it('writes the node has no business making offline are refused with 503, never faked', async () => {
    const { db, replica, cloud } = setup();
    await replica.putFromCloud(Resources.pods, await cloud.create(Resources.pods, { ...pod('other'), spec: { nodeName: 'someone-else', containers: [] } }));
    const deps = { nodeName: NODE, replica, db, now: () => Date.now() };
    const base = statusPatch('other', 'Running');
    await assert.rejects(localWrite(deps, { ...base, res: Resources.pods, contentType: 'application/merge-patch+json' }), (err: unknown) => isHedgeError(err, 'Unavailable'));
    await assert.rejects(
      localWrite(deps, { info: { ...base.info, verb: 'create', resource: 'configmaps', subresource: '', name: '' }, body: {}, res: Resources.configmaps, contentType: 'application/json' }),
      (err: unknown) => isHedgeError(err, 'Unavailable'),
    );
    await assert.rejects(
      localWrite(deps, { info: { ...base.info, verb: 'update', apiPrefix: 'apis', group: 'coordination.k8s.io', namespace: 'kube-node-lease', resource: 'leases', subresource: '', name: NODE }, body: {}, res: Resources.leases, contentType: 'application/json' }),
      (err: unknown) => isHedgeError(err, 'Unavailable'),
    );
    assert.equal(db.pendingCount(), 0);
  });

  it('disk full while journaling: a clear error, the replica unchanged, the journal intact', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgehub-full-'));
    try {
      const db = new HubDb(join(dir, 'hub.db'), { maxPageCount: 13 });
      const store = new MemoryStore();
      const replica = new Replica({ store, db, logger: log });
      const cloud = new FakeKubeClient();
      await replica.putFromCloud(Resources.pods, await cloud.create(Resources.pods, pod('p1')));
      const deps = { nodeName: NODE, replica, db, now: () => Date.now() };
      let refused: unknown;
      let accepted = 0;
      for (let i = 0; i < 200 && !refused; i++) {
        try {
          await localWrite(deps, { ...statusPatch('p1', `Phase-${i}-${'x'.repeat(2_000)}`), res: Resources.pods, contentType: 'application/merge-patch+json' });
          accepted++;
        } catch (err) {
          refused = err;
        }
      }
      assert.ok(isHedgeError(refused, 'Unavailable') && /journal/.test(refused.message), String(refused));
      assert.equal(db.pendingCount(), accepted);
      const phase = ((await replica.get(Resources.pods, 'default', 'p1'))?.status as { phase: string }).phase;
      assert.ok(phase.startsWith(`Phase-${accepted - 1}-`), 'the refused write is not in the replica');
      const sent = await replayJournal({ db, cloud, replica, nodeName: NODE, logger: log }, AbortSignal.timeout(5_000));
      assert.equal(sent.applied, accepted);
      db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('edgehub journal on a full disk', () => {
  /** a replica store on a disk that fills up: its writes fail the way SQLite's do */
  class FullDiskStore extends MemoryStore {
    full = false;
    private refuse(): void {
      if (this.full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    }
    override async update(...args: Parameters<MemoryStore['update']>): ReturnType<MemoryStore['update']> {
      this.refuse();
      return super.update(...args);
    }
    override async create(...args: Parameters<MemoryStore['create']>): ReturnType<MemoryStore['create']> {
      this.refuse();
      return super.create(...args);
    }
  }

  it('the journal takes the write but the replica cannot: the entry is taken back and the client gets a 503, never a half-write', async () => {
    const cloud = new FakeKubeClient();
    const store = new FullDiskStore();
    const db = new HubDb(':memory:');
    const replica = new Replica({ store, db, logger: log });
    await replica.putFromCloud(Resources.pods, await cloud.create(Resources.pods, pod('p1')));
    const deps = { nodeName: NODE, replica, db, now: () => Date.now() };
    const write = (phase: string): Promise<unknown> => localWrite(deps, { ...statusPatch('p1', phase), res: Resources.pods, contentType: 'application/merge-patch+json' });
    await write('Pending');
    store.full = true;
    await assert.rejects(write('Running'), (err: unknown) => isHedgeError(err, 'Unavailable') && /disk is full/.test(err.message) && err.details.retryAfterSeconds === 5);
    assert.equal(db.pendingCount(), 1, 'only the recorded write is journaled');
    assert.equal(((await replica.get(Resources.pods, 'default', 'p1'))?.status as { phase: string }).phase, 'Pending');
    store.full = false;
    await write('Succeeded');
    const sent = await replayJournal({ db, cloud, replica, nodeName: NODE, logger: log }, AbortSignal.timeout(5_000));
    assert.equal(sent.applied, 2);
    assert.equal(cloud.calls.filter((c) => c.verb === 'patch').length, 2, 'the refused write is never sent');
    assert.equal(((await cloud.get(Resources.pods, 'p1', { namespace: 'default' })).status as { phase: string }).phase, 'Succeeded');
  });
});

describe('edgehub replica', () => {
  it('reconcile after a relist yields exactly the bridging events: changed, added, deleted; unchanged untouched', async () => {
    const { cloud, store, replica } = setup();
    const a = await cloud.create(Resources.pods, pod('a'));
    const b = await cloud.create(Resources.pods, pod('b'));
    const c = await cloud.create(Resources.pods, pod('c'));
    await replica.reconcile(Resources.pods, { matches: () => true }, [a, b, c]);
    const rec = record(store);
    await new Promise((r) => setImmediate(r));
    // meanwhile in the cloud: b changed, c deleted, d added
    const b2 = await cloud.patch(Resources.pods, 'b', 'merge', { metadata: { labels: { v: '2' } } }, { namespace: 'default' });
    const d = await cloud.create(Resources.pods, pod('d'));
    await replica.reconcile(Resources.pods, { matches: () => true }, [a, b2, d]);
    // and the same list again: nothing
    await replica.reconcile(Resources.pods, { matches: () => true }, [a, b2, d]);
    await replica.idle();
    await new Promise((r) => setImmediate(r));
    rec.stop();
    const seen = rec.events.map((e) => (e.type === 'progress' ? 'progress' : `${e.type} ${e.kv.key.split('/').pop()}`)).sort();
    assert.deepEqual(seen, ['delete c', 'put b', 'put d']);
  });

  it('an older cloud answer never rolls the replica back; a hub resourceVersion maps back to the cloud one', async () => {
    const { cloud, replica } = setup();
    const v1 = await cloud.create(Resources.pods, pod('a'));
    const v2 = await cloud.patch(Resources.pods, 'a', 'merge', { metadata: { labels: { v: '2' } } }, { namespace: 'default' });
    const stored = await replica.putFromCloud(Resources.pods, v2);
    const again = await replica.putFromCloud(Resources.pods, v1);
    assert.equal(again.metadata.labels?.v, '2');
    assert.equal(again.metadata.resourceVersion, stored.metadata.resourceVersion);
    const key = replica.key(Resources.pods, 'default', 'a');
    assert.equal(replica.cloudRvFor(key, Number(stored.metadata.resourceVersion)), v2.metadata.resourceVersion);
    assert.equal(replica.cloudRvFor(key, Number(stored.metadata.resourceVersion) - 1), undefined);
  });
});
