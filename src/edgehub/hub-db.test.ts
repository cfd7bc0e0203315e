import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HubDb } from './hub-db.ts';

describe('HubDb cloud versions recorded without a synchronous fsync', () => {
  it('reads them back at once, keeps them across a reopen, and forgets them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hub-db-'));
    try {
      const path = join(dir, 'hub.db');
      let db = new HubDb(path);
      // many at once share the WAL syncs; each resolves, and each is readable before it does
      const writes = Array.from({ length: 20 }, (_, i) => {
        const p = db.recordCloudVersion(`/k/${i}`, { hubRev: i + 1, cloudRv: String(100 + i), dirty: false });
        assert.deepEqual(db.cloudVersion(`/k/${i}`), { hubRev: i + 1, cloudRv: String(100 + i), dirty: false });
        return p;
      });
      await Promise.all(writes);
      await db.forgetCloudVersion('/k/3');
      // the journal still syncs at each append (synchronous=FULL is back after each record)
      db.append({ kind: 'create', resource: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true }, namespace: 'n', object: { metadata: { name: 'a' } } });
      db.close();
      db = new HubDb(path);
      assert.deepEqual(db.cloudVersion('/k/19'), { hubRev: 20, cloudRv: '119', dirty: false });
      assert.equal(db.cloudVersion('/k/3'), undefined);
      assert.equal(db.pendingCount(), 1);
      db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps a token answer without a synchronous fsync: readable at once, on disk when it resolves', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hub-db-'));
    try {
      const path = join(dir, 'hub.db');
      let db = new HubDb(path);
      const kept = db.setToken('ns/sa/aud', '{"status":{"token":"t"}}', 2_000);
      assert.equal(db.token('ns/sa/aud', 1_000), '{"status":{"token":"t"}}');
      await kept;
      db.close();
      db = new HubDb(path);
      assert.equal(db.token('ns/sa/aud', 1_000), '{"status":{"token":"t"}}');
      assert.equal(db.token('ns/sa/aud', 2_000), undefined, 'an expired answer is not served');
      db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a token copy on a full disk as a rejection, not a throw', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hub-db-'));
    try {
      const db = new HubDb(join(dir, 'hub.db'), { maxPageCount: 13 });
      const big = 'x'.repeat(64 * 1024);
      const kept = db.setToken('ns/sa/aud', big, 2_000);
      await assert.rejects(kept);
      db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('closes with a sync in flight: the record settles, nothing throws', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hub-db-'));
    try {
      const db = new HubDb(join(dir, 'hub.db'));
      const a = db.recordCloudVersion('/k/a', { hubRev: 1, cloudRv: '1', dirty: false });
      const b = db.recordCloudVersion('/k/b', { hubRev: 2, cloudRv: '2', dirty: false });
      db.close();
      await a;
      // queued behind the first: the store closed before it ran
      await assert.rejects(b, /closed/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
