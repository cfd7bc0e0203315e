import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../store/index.ts';
import { startTestServer, type TestServer } from './testing/test-server.ts';
import { openWatch } from './testing/watch-reader.ts';

/** The same server on the default production store: the paths that lean hardest on store semantics. */
describe('apiserver on the sqlite store', () => {
  let t: TestServer;
  let dir: string;
  const JSON_CT = { 'content-type': 'application/json' };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-apiserver-sqlite-'));
    t = await startTestServer({ store: await openStore({ kind: 'sqlite', path: join(dir, 'state.db') }) });
  });
  after(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates, conflicts, paginates and watches', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await t.json('/api/v1/namespaces/default/configmaps', { method: 'POST', headers: JSON_CT, body: JSON.stringify({ metadata: { name: `c${i}` } }) });
      assert.equal(r.status, 201);
    }
    const first = await t.json<{ metadata: { continue?: string; resourceVersion: string }; items: { metadata: { name: string } }[] }>(
      '/api/v1/namespaces/default/configmaps?limit=3',
    );
    assert.deepEqual(first.body.items.map((i) => i.metadata.name), ['c0', 'c1', 'c2']);
    const w = await openWatch(t, `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${first.body.metadata.resourceVersion}`);
    try {
      await t.json('/api/v1/namespaces/default/configmaps', { method: 'POST', headers: JSON_CT, body: JSON.stringify({ metadata: { name: 'late' } }) });
      const second = await t.json<{ items: { metadata: { name: string } }[] }>(
        `/api/v1/namespaces/default/configmaps?limit=3&continue=${encodeURIComponent(first.body.metadata.continue ?? '')}`,
      );
      // a continued list is consistent with the first page: the later object is not in it
      assert.deepEqual(second.body.items.map((i) => i.metadata.name), ['c3', 'c4']);
      const ev = await w.next();
      assert.equal(ev.type, 'ADDED');
      assert.equal(ev.object.metadata?.name, 'late');
    } finally {
      w.close();
    }
    const cur = await t.json<{ metadata: { resourceVersion: string } }>('/api/v1/namespaces/default/configmaps/c0');
    const ok = await t.json('/api/v1/namespaces/default/configmaps/c0', {
      method: 'PUT',
      headers: JSON_CT,
      body: JSON.stringify({ ...cur.body, data: { a: '1' } }),
    });
    assert.equal(ok.status, 200);
    const stale = await t.json('/api/v1/namespaces/default/configmaps/c0', {
      method: 'PUT',
      headers: JSON_CT,
      body: JSON.stringify({ ...cur.body, data: { a: '2' } }),
    });
    assert.equal(stale.status, 409);
  });
});
