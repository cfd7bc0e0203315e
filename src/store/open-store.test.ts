import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MemoryStore, SqliteStore, openStore } from './index.ts';

test('openStore builds the configured kind', async () => {
  const mem = await openStore({ kind: 'memory' });
  assert.ok(mem instanceof MemoryStore);
  await mem.close();

  const dir = await mkdtemp(join(tmpdir(), 'hedge-open-store-'));
  try {
    const path = join(dir, 'state.db');
    const sql = await openStore({ kind: 'sqlite', path, compactIntervalMs: 0 });
    assert.ok(sql instanceof SqliteStore);
    await sql.create('/k', 'v');
    await sql.close();
    const again = await openStore({ kind: 'sqlite', path });
    assert.equal((await again.get('/k'))?.value, 'v');
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
