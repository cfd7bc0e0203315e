import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './testing/test-server.ts';

describe('Secret stringData (write-only, as upstream)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());
  const post = (body: unknown) => s.json<Record<string, unknown>>('/api/v1/namespaces/default/secrets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('is merged into data on create, update and patch, its keys winning, and never stored or returned', async () => {
    const c = await post({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sd' }, data: { a: Buffer.from('old').toString('base64'), k: 'aw==' }, stringData: { a: 'new', b: 'pass word' } });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const want = { a: Buffer.from('new').toString('base64'), k: 'aw==', b: Buffer.from('pass word').toString('base64') };
    assert.deepEqual(c.body.data, want);
    assert.equal('stringData' in c.body, false);
    const g = await s.json<Record<string, unknown>>('/api/v1/namespaces/default/secrets/sd');
    assert.deepEqual([g.body.data, 'stringData' in g.body], [want, false]);
    const p = await s.json<Record<string, unknown>>('/api/v1/namespaces/default/secrets/sd', {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ stringData: { b: 'changed' } }),
    });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal((p.body.data as Record<string, string>).b, Buffer.from('changed').toString('base64'));
    assert.equal('stringData' in p.body, false);
  });

  it('refuses a stringData value that is not a string at decode, naming the field (400, as upstream)', async () => {
    const r = await post({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bad' }, stringData: { n: 5 } });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(JSON.stringify(r.body), /stringData\.n in body must be of type string/);
  });
});
