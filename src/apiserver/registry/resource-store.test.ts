import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { HedgeError } from '../../lib/errors.ts';
import { MemoryStore } from '../../store/memory/memory-store.ts';
import { ObjectCodec } from './object-codec.ts';
import { ResourceStore } from './resource-store.ts';

const leases: ResourceDef = {
  group: 'coordination.k8s.io',
  version: 'v1',
  kind: 'Lease',
  listKind: 'LeaseList',
  plural: 'leases',
  singular: 'lease',
  shortNames: [],
  categories: [],
  namespaced: true,
  verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'],
  subresources: [],
  hasStatus: false,
};

const lease = (renewTime: string): KubeObject =>
  ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'n1', namespace: 'kube-node-lease' }, spec: { renewTime } }) as KubeObject;

/** a store whose reads are counted, and a second writer that goes around this process's decode cache */
async function setup(): Promise<{ rs: ResourceStore; reads: () => number; writeAround: (renewTime: string) => Promise<number> }> {
  const store = new MemoryStore();
  let reads = 0;
  const get = store.get.bind(store);
  store.get = (...a: Parameters<MemoryStore['get']>) => {
    reads++;
    return get(...a);
  };
  const rs = new ResourceStore(leases, store, new ObjectCodec());
  await rs.create(lease('t0'), false);
  const key = rs.key('kube-node-lease', 'n1');
  const writeAround = async (renewTime: string): Promise<number> => {
    const cur = await get(key);
    assert.ok(cur);
    const kv = await store.update(key, JSON.stringify(lease(renewTime)), { expectedRevision: cur.modRevision });
    return kv.modRevision;
  };
  return { rs, reads: () => reads, writeAround };
}

const renewTimeOf = (obj: KubeObject): string | undefined => (obj as KubeObject & { spec?: { renewTime?: string } }).spec?.renewTime;

const renew = (renewTime: string, rv?: string) => (cur: KubeObject) => ({
  kind: 'write' as const,
  obj: { ...cur, metadata: { ...cur.metadata, ...(rv === undefined ? {} : { resourceVersion: rv }) }, spec: { renewTime } } as KubeObject,
});

describe('ResourceStore.guaranteedUpdate from the decode cache', () => {
  it('updates the object this process wrote last without reading the store', async () => {
    const { rs, reads } = await setup();
    const out = await rs.guaranteedUpdate('kube-node-lease', 'n1', renew('t1'), { dryRun: false });
    assert.equal(renewTimeOf(out.obj.obj), 't1');
    const again = await rs.guaranteedUpdate('kube-node-lease', 'n1', renew('t2', out.obj.obj.metadata.resourceVersion), { dryRun: false });
    assert.equal(again.obj.rev, out.obj.rev + 1);
    assert.equal(reads(), 0, 'no store read for either renewal');
  });

  it('a stale cached start is caught by the compare-and-swap and redone on a fresh read', async () => {
    const { rs, reads, writeAround } = await setup();
    const rev = await writeAround('elsewhere');
    const out = await rs.guaranteedUpdate('kube-node-lease', 'n1', renew('t1'), { dryRun: false });
    assert.equal(out.obj.rev, rev + 1, 'written on top of the other writer');
    assert.equal(reads(), 1);
  });

  it('a precondition naming a version newer than the cached one is checked against the store, not refused', async () => {
    const { rs, writeAround } = await setup();
    const rev = await writeAround('elsewhere');
    const out = await rs.guaranteedUpdate('kube-node-lease', 'n1', renew('t1', String(rev)), { dryRun: false });
    assert.equal(out.obj.rev, rev + 1);
    await assert.rejects(rs.guaranteedUpdate('kube-node-lease', 'n1', renew('t2', String(rev)), { dryRun: false }), { code: 'Conflict' }, 'an old precondition is still a 409');
  });

  it('a no-op against a stale cached start is not answered with the stale object', async () => {
    const { rs, writeAround } = await setup();
    const rev = await writeAround('elsewhere');
    // a no-op against the cached (older) object: answered with the store's current one, not the cached
    const out = await rs.guaranteedUpdate('kube-node-lease', 'n1', (cur) => ({ kind: 'write', obj: cur }), { dryRun: false });
    assert.equal(out.obj.rev, rev, 'the current revision, not the cached one');
    assert.equal(renewTimeOf(out.obj.obj), 'elsewhere');
  });

  it('a refusal against a stale cached start is decided again on the current object', async () => {
    const { rs, writeAround } = await setup();
    await writeAround('allowed');
    const out = await rs.guaranteedUpdate(
      'kube-node-lease',
      'n1',
      (cur) => {
        // e.g. validation comparing to the old object: only the current one allows this
        if (renewTimeOf(cur) !== 'allowed') throw new HedgeError('Invalid', 'refused');
        return renew('t1')(cur);
      },
      { dryRun: false },
    );
    assert.equal(renewTimeOf(out.obj.obj), 't1');
  });

  it('an object deleted around the cache is NotFound', async () => {
    const { rs } = await setup();
    await rs.store.delete(rs.key('kube-node-lease', 'n1'));
    await assert.rejects(rs.guaranteedUpdate('kube-node-lease', 'n1', renew('t1'), { dryRun: false }), { code: 'NotFound' });
  });
});

describe('ResourceStore.guaranteedUpdate no-op detection', () => {
  it('the same object with its members in another order is a no-op; a change of the same length is a write', async () => {
    const { rs } = await setup();
    const before = await rs.get('kube-node-lease', 'n1');
    const reordered = await rs.guaranteedUpdate(
      'kube-node-lease',
      'n1',
      (cur) => ({ kind: 'write', obj: { spec: (cur as KubeObject & { spec: unknown }).spec, metadata: cur.metadata, kind: cur.kind, apiVersion: cur.apiVersion } as KubeObject }),
      { dryRun: false },
    );
    assert.equal(reordered.obj.rev, before.rev, 'no write: the resourceVersion stays');
    // t0 -> t9: same length, other characters
    const changed = await rs.guaranteedUpdate('kube-node-lease', 'n1', renew('t9'), { dryRun: false });
    assert.ok(changed.obj.rev > before.rev);
    assert.equal(renewTimeOf(changed.obj.obj), 't9');
    // an anagram of the stored value (same characters, other meaning) is still a write
    const swapped = await rs.guaranteedUpdate('kube-node-lease', 'n1', renew('9t'), { dryRun: false });
    assert.ok(swapped.obj.rev > changed.obj.rev);
    assert.equal(renewTimeOf(swapped.obj.obj), '9t');
  });
});
