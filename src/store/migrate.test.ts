import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isHedgeError } from '../lib/errors.ts';
import { MemoryStore } from './memory/memory-store.ts';
import { checksumOf, migrateStore } from './migrate.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';

async function seeded(): Promise<MemoryStore> {
  const s = new MemoryStore();
  await s.create('/registry/b', 'b0');
  const a = await s.create('/registry/a', 'a0');
  await s.create('/registry/gone', 'x');
  await s.create('/other/z', 'z');
  await s.update('/registry/a', 'a1', { expectedRevision: a.modRevision });
  await s.delete('/registry/gone');
  await s.create('/registry/c', 'c'.repeat(10_000));
  return s;
}

describe('migrateStore', () => {
  it('copies live keys byte for byte in source revision order and verifies them', async () => {
    const from = await seeded();
    const to = new MemoryStore();
    // a non-empty revision history in the target first: revisions differ, order must not
    await to.create('/x', '1');
    await to.delete('/x');
    const r = await migrateStore(from, to, { pageSize: 2 });
    assert.equal(r.count, 4);
    const src = (await from.list('')).items;
    const dst = (await to.list('')).items;
    assert.deepEqual(dst.map((kv) => [kv.key, kv.value]), src.map((kv) => [kv.key, kv.value]));
    assert.equal(checksumOf(dst), r.checksum);
    const order = (items: typeof src) => [...items].sort((x, y) => x.modRevision - y.modRevision).map((kv) => kv.key);
    assert.deepEqual(order(dst), ['/registry/b', '/other/z', '/registry/a', '/registry/c']);
    assert.deepEqual(order(dst), order(src));
    assert.ok(r.targetRevisions.first > 2 && r.targetRevisions.last === r.targetRevisions.first + 3);
  });

  it('copies only a prefix when asked', async () => {
    const to = new MemoryStore();
    const r = await migrateStore(await seeded(), to, { prefix: '/registry/' });
    assert.equal(r.count, 3);
    assert.equal(await to.count('/other/'), 0);
  });

  it('refuses a target that is not empty, and a source that changes during the copy', async () => {
    const to = new MemoryStore();
    await to.create('/registry/a', 'mine');
    await assert.rejects(migrateStore(await seeded(), to), (e) => isHedgeError(e, 'AlreadyExists') && /already holds 1 keys/.test(e.message));
    assert.equal((await to.get('/registry/a'))?.value, 'mine');

    const from = await seeded();
    let wrote = false;
    await assert.rejects(
      migrateStore(from, new MemoryStore(), {
        onProgress: () => {
          if (!wrote) void from.create('/registry/late', 'x');
          wrote = true;
        },
      }),
      (e) => isHedgeError(e, 'Conflict') && /source changed during the migration/.test(e.message),
    );
  });

  it('the checksum tells different contents apart', () => {
    const kv = (key: string, value: string) => ({ key, value, createRevision: 1, modRevision: 1 });
    assert.equal(checksumOf([kv('/a', 'b'), kv('/c', 'd')]), checksumOf([kv('/c', 'd'), kv('/a', 'b')]));
    assert.notEqual(checksumOf([kv('/a', 'bc')]), checksumOf([kv('/ab', 'c')]));
    assert.notEqual(checksumOf([kv('/a', 'b')]), checksumOf([kv('/a', 'c')]));
  });
});

describe('migrateStore with values encrypted at rest', () => {
  it('copies encrypted values as their bytes, still encrypted, from one SQLite file to another', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hedge-migrate-enc-'));
    const from = new SqliteStore({ path: join(dir, 'a.db') });
    const to = new SqliteStore({ path: join(dir, 'b.db') });
    try {
      const key = '/registry/core/secrets/default/s1';
      // what the apiserver stores for an encrypted Secret: upstream's prefix, then raw cipher bytes
      const sealed = `k8s:enc:aesgcm:v1:key1:${randomBytes(200).toString('latin1')}`;
      await from.create(key, sealed);
      await from.create('/registry/core/configmaps/default/c', '{"data":{"ü":"✓"}}');
      const r = await migrateStore(from, to);
      assert.equal(r.count, 2);
      assert.equal((await to.get(key))?.value, sealed);
      assert.equal(checksumOf((await to.list('')).items), r.checksum);
      assert.notEqual(checksumOf([{ key, value: sealed, createRevision: 1, modRevision: 1 }]), checksumOf([{ key, value: `${sealed.slice(0, -1)}x`, createRevision: 1, modRevision: 1 }]));
    } finally {
      await from.close();
      await to.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
