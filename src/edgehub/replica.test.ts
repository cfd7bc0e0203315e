import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { KubeObject } from '../api/object.ts';
import { Resources } from '../client/resources.ts';
import { silentLogger } from '../lib/log.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { WatchEvent } from '../store/types.ts';
import { HubDb } from './hub-db.ts';
import { Replica } from './replica.ts';

const log = silentLogger();
const pod = (rv: string, phase: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: 'default', resourceVersion: rv }, spec: { nodeName: 'n1', containers: [] }, status: { phase } });

async function withReplica(fn: (r: { replica: Replica; store: SqliteStore; db: HubDb; dir: string; syncs: { release: () => void }[] }) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hub-replica-'));
  // the replica's WAL syncs are held until the test ends: nothing below may wait for them
  const syncs: { release: () => void }[] = [];
  const store = new SqliteStore({ path: join(dir, 'replica.db'), compactIntervalMs: 0, acknowledgeAtCommit: true, syncWal: () => new Promise<void>((release) => syncs.push({ release })) });
  const db = new HubDb(join(dir, 'hub.db'));
  try {
    await fn({ replica: new Replica({ store, db, logger: log }), store, db, dir, syncs });
  } finally {
    let closed = false;
    const closing = store.close().then(() => (closed = true));
    // release the held syncs, and any queued behind them, until the store has closed
    while (!closed) {
      for (const s of syncs.splice(0)) s.release();
      await new Promise((r) => setImmediate(r));
    }
    await closing;
    db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('edgehub replica: no fsync between the cloud and a local watch', () => {
  it('a cloud write is stored, its cloud resourceVersion known and its event delivered with the WAL sync still held', { timeout: 10_000 }, async () => {
    await withReplica(async ({ replica, store, syncs }) => {
      const ac = new AbortController();
      const seen: WatchEvent[] = [];
      const watching = (async () => {
        for await (const ev of store.watch('/registry/', { signal: ac.signal })) seen.push(ev);
      })();
      const stored = await replica.putFromCloud(Resources.pods, pod('10', 'Pending'));
      assert.equal(syncs.length, 1, 'the sync runs, held');
      const key = replica.key(Resources.pods, 'default', 'p1');
      // a local client's write at the revision it just saw translates to the cloud's at once
      assert.equal(replica.cloudRvFor(key, Number(stored.metadata.resourceVersion)), '10');
      while (seen.length < 1) await new Promise((r) => setImmediate(r));
      assert.equal(seen[0]!.type === 'put' && seen[0]!.kv.modRevision, Number(stored.metadata.resourceVersion));
      // the same version again (the write's answer after its watch event): no write, no event
      const again = await replica.putFromCloud(Resources.pods, pod('10', 'Pending'));
      assert.equal(again.metadata.resourceVersion, stored.metadata.resourceVersion);
      ac.abort();
      await watching;
      assert.equal(seen.length, 1);
    });
  });

  it('repairs what a power cut between commit and sync can leave: either file behind the other', async () => {
    await withReplica(async ({ replica, store, db }) => {
      const key = replica.key(Resources.pods, 'default', 'p1');
      const first = await replica.putFromCloud(Resources.pods, pod('10', 'Pending'));
      const rev1 = Number(first.metadata.resourceVersion);
      // hub.db kept a newer cloud version than the replica (the replica's tail lost): a relist writes the object again
      db.setCloudVersion(key, { hubRev: rev1 + 5, cloudRv: '12', dirty: false });
      const relisted = await replica.putFromCloud(Resources.pods, pod('12', 'Running'));
      assert.ok(Number(relisted.metadata.resourceVersion) > rev1);
      assert.equal((relisted.status as { phase: string }).phase, 'Running');
      assert.equal(replica.cloudRvFor(key, Number(relisted.metadata.resourceVersion)), '12');
      // the replica kept a write whose cloud version hub.db lost: a relist records it without writing
      const rev2 = Number(relisted.metadata.resourceVersion);
      db.setCloudVersion(key, { hubRev: rev1, cloudRv: '10', dirty: false });
      const before = await store.currentRevision();
      const repaired = await replica.putFromCloud(Resources.pods, pod('12', 'Running'));
      assert.equal(Number(repaired.metadata.resourceVersion), rev2);
      assert.equal(await store.currentRevision(), before, 'nothing written, no event');
      assert.equal(replica.cloudRvFor(key, rev2), '12');
    });
  });
});
