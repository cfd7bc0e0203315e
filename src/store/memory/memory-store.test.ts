import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runStoreContract } from '../contract.ts';
import { MemoryStore } from './memory-store.ts';

runStoreContract('memory', async () => ({
  store: new MemoryStore({ historyLimit: 5_000, watchQueueLimit: 100 }),
  cleanup: async () => {},
}));

test('memory store compacts its history automatically at historyLimit', async () => {
  const store = new MemoryStore({ historyLimit: 100 });
  let kv = await store.create('/k', '0');
  for (let i = 1; i < 1_000; i++) kv = await store.update('/k', String(i), { expectedRevision: kv.modRevision });
  const compacted = await store.compactedRevision();
  assert.ok(compacted > 1_000 - 120 && compacted <= 1_000 - 99, `compacted at ${compacted}`);
  assert.equal((await store.get('/k', { revision: compacted }))?.value, String(compacted - 1));
  await assert.rejects(store.get('/k', { revision: compacted - 1 }), { code: 'Gone' });
  await store.close();
});
