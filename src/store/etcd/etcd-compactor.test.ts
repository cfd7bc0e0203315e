import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { compactStep, type CompactorState } from './etcd-compactor.ts';
import { startEtcd, type EtcdProcess } from './etcd-process.ts';
import { EtcdStore } from './etcd-store.ts';

describe('etcd compactor (kube-apiserver algorithm) against a real etcd', () => {
  let etcd: EtcdProcess;
  let a: Etcd3;
  let b: Etcd3;
  let store: EtcdStore;
  before(async () => {
    etcd = await startEtcd();
    a = new Etcd3({ hosts: [etcd.endpoint] });
    b = new Etcd3({ hosts: [etcd.endpoint] });
    store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/c' });
  });
  after(async () => {
    a?.close();
    b?.close();
    await store?.close();
    await etcd?.stop();
  });

  it('compacts to the revision seen one interval earlier, once per interval across apiservers', async () => {
    await store.create('/k0', 'v');
    let sa: CompactorState = { time: 0, revision: 0 };
    let sb: CompactorState = { time: 0, revision: 0 };
    sa = await compactStep(a, sa); // first tick: records the revision, compacts nothing
    const firstSeen = sa.revision;
    assert.equal(sa.time, 1);
    sb = await compactStep(b, sb); // the other apiserver in the same interval: loses the race, adopts the clock
    assert.equal(sb.time, 1);
    for (let i = 1; i <= 5; i++) await store.create(`/k${i}`, 'v');
    const beforeTick = await store.currentRevision();
    // still readable below the first tick's revision: nothing compacted yet
    assert.equal((await store.get('/k0', { revision: firstSeen - 1 }))?.value, 'v');
    sb = await compactStep(b, sb); // next interval, B wins and compacts to what A recorded
    assert.equal(sb.time, 2);
    await assert.rejects(store.get('/k0', { revision: firstSeen - 1 }), (e: Error & { code?: string }) => e.code === 'Gone');
    // history of one interval is kept
    assert.equal((await store.get('/k1', { revision: beforeTick }))?.value, 'v');
    sa = await compactStep(a, sa); // A in the same interval: skips
    assert.equal(sa.time, 2);
  });

  it('reports the member version and refuses to wait forever for an unreachable etcd', async () => {
    const st = await store.status();
    assert.match(st.version, /^3\.\d+\.\d+/);
    assert.ok(st.revision > 0);
    const dead = new EtcdStore({ endpoints: ['http://127.0.0.1:1'] });
    try {
      const started = Date.now();
      await assert.rejects(dead.status({ timeoutMs: 1_500 }), (e: Error & { code?: string }) => e.code === 'Unavailable');
      assert.ok(Date.now() - started < 5_000);
    } finally {
      await dead.close();
    }
  });
});
