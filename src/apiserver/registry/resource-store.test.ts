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

describe('ObjectCodec.encodeWrite / decodeWritten', () => {
  /** what a read of the written value gives: parsed from the store's text, resourceVersion set */
  const readBack = (codec: ObjectCodec, key: string, value: string, rev: number) => codec.decodeUncached(key, value, rev);

  const objects: Array<[string, KubeObject]> = [
    ['resourceVersion in the middle of metadata', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', resourceVersion: '7', namespace: 'ns', labels: { '2': 'x', b: 'y', '1': 'z' } }, data: { k: 'é "quoted" \u0000' } } as KubeObject],
    ['without resourceVersion', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } } as KubeObject],
    ['metadata empty', { apiVersion: 'v1', kind: 'ConfigMap', metadata: {}, data: {} } as KubeObject],
    ['resourceVersion the only field', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { resourceVersion: '3' } } as KubeObject],
    ['undefined members and a nested resourceVersion', { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', uid: undefined }, involvedObject: { resourceVersion: '5', kind: 'Pod' } } as unknown as KubeObject],
  ];
  for (const [name, obj] of objects) {
    it(`stores what encode does and reads back as a decode of it: ${name}`, () => {
      const codec = new ObjectCodec();
      const before = JSON.stringify(obj);
      const enc = codec.encodeWrite(obj);
      assert.equal(enc.value, codec.encode(obj));
      assert.ok(enc.read);
      // the caller's object is as encode leaves it
      codec.encode(obj);
      assert.equal(JSON.stringify(obj).length, before.length);
      const d = codec.decodeWritten({ key: '/k', value: enc.value, createRevision: 40, modRevision: 42 }, enc);
      const want = readBack(codec, '/k', enc.value, 42);
      assert.equal(d.buf().toString(), want.buf().toString());
      assert.equal(d.json(), want.json());
      assert.deepEqual(d.obj, want.obj);
      assert.equal(d.obj, d.obj, 'parsed once');
      assert.deepEqual(d.copy(), want.obj);
      assert.notEqual(d.copy(), d.obj);
      assert.equal(d.raw, enc.value);
      assert.equal(d.obj.metadata.resourceVersion, '42');
    });
  }

  it('encodes plainly when the served apiVersion differs (decode sets it)', () => {
    const codec = new ObjectCodec({ apiVersion: 'example.com/v2' });
    const obj = { apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 't', resourceVersion: '1' } } as KubeObject;
    const enc = codec.encodeWrite(obj);
    assert.equal(enc.read, undefined);
    const d = codec.decodeWritten({ key: '/t', value: enc.value, createRevision: 2, modRevision: 2 }, enc);
    assert.equal(d.obj.apiVersion, 'example.com/v2');
    assert.equal(JSON.parse(d.json()).apiVersion, 'example.com/v2');
  });

  it('peek reads a cached value without keeping a parse; once parsed (or decoded from the store), it is the shared object', async () => {
    const { rs } = await setup();
    await rs.guaranteedUpdate('kube-node-lease', 'n1', renew('p1'), { dryRun: false });
    const kv = await rs.store.get(rs.key('kube-node-lease', 'n1'));
    assert.ok(kv);
    const a = rs.codec.peek(kv);
    const b = rs.codec.peek(kv);
    assert.equal(renewTimeOf(a), 'p1');
    assert.equal(a.metadata.resourceVersion, String(kv.modRevision));
    assert.notEqual(a, b, 'a written value not yet parsed: each peek parses afresh, none kept');
    assert.deepEqual(a, b);
    const shared = rs.codec.decode(kv).obj;
    assert.notEqual(shared, a);
    assert.equal(rs.codec.peek(kv), shared, 'once parsed, peek gives the shared object');
    // a revision not in the cache: decoded, not cached
    rs.codec.forget(kv.key);
    const c = rs.codec.peek(kv);
    assert.deepEqual(c, shared);
    assert.equal(rs.codec.latest(kv.key), undefined, 'peek caches nothing');
    // a value another writer stored: decode parses eagerly, and peek then gives that parse
    const fromStore = rs.codec.decode(kv);
    assert.equal(rs.codec.peek(kv), fromStore.obj);
  });

  it('a written object is cached: a decode of the same revision is it', async () => {
    const { rs } = await setup();
    const out = await rs.guaranteedUpdate('kube-node-lease', 'n1', renew('t1'), { dryRun: false });
    const kv = await rs.store.get(rs.key('kube-node-lease', 'n1'));
    assert.ok(kv);
    assert.equal(rs.codec.decode(kv), out.obj);
    assert.deepEqual(JSON.parse(kv.value), { ...lease('t1'), metadata: { name: 'n1', namespace: 'kube-node-lease' } });
  });
});
