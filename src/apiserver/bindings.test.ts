/** `POST namespaces/{ns}/bindings`: one Binding as upstream, and hedge's List of Bindings (HttpKubeClient bindBatchSize). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../api/object.ts';
import { HttpKubeClient } from '../client/http-client.ts';
import { Resources } from '../client/resources.ts';
import { startTestServer, testAuthenticator, testToken, type TestServer } from './testing/test-server.ts';

type Pod = KubeObject & { spec: { nodeName?: string }; status?: { conditions?: { type: string; status: string }[] } };

const pod = (name: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { containers: [{ name: 'c', image: 'busybox' }] },
});
const binding = (name: string, node: string, uid?: string): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Binding',
  metadata: { name, ...(uid ? { uid } : {}) },
  target: { apiVersion: 'v1', kind: 'Node', name: node },
});
const post = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('bindings', () => {
  let ts: TestServer;
  let client: HttpKubeClient;
  /** request paths the server saw */
  const seen: string[] = [];
  before(async () => {
    const auth = testAuthenticator();
    ts = await startTestServer({
      authenticator: {
        authenticate: (req) => {
          seen.push(`${req.method} ${req.url}`);
          return auth.authenticate(req);
        },
      },
    });
    client = new HttpKubeClient({ server: ts.url, token: testToken, bindBatchSize: 100 });
  });
  after(async () => {
    await client.close();
    await ts.close();
  });
  const get = (name: string): Promise<Pod> => client.get<Pod>(Resources.pods, name, { namespace: 'default' });

  it('one Binding binds as pods/binding does', async () => {
    await client.create(Resources.pods, pod('single'));
    const r = await ts.json('/api/v1/namespaces/default/bindings', post(binding('single', 'node-1')));
    assert.equal(r.status, 201);
    assert.equal(r.body.status, 'Success');
    const p = await get('single');
    assert.equal(p.spec.nodeName, 'node-1');
    assert.ok(p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'True'));
    const again = await ts.json('/api/v1/namespaces/default/bindings', post(binding('single', 'node-2')));
    assert.equal(again.status, 409);
  });

  it('a List answers one Status per Binding, in order; a refused one does not hold back the others', async () => {
    const a = await client.create(Resources.pods, pod('la'));
    await client.create(Resources.pods, pod('lb'));
    await client.create(Resources.pods, pod('lc'));
    await client.bind({ namespace: 'default', name: 'lc', nodeName: 'node-9' });
    const r = await ts.json<{ kind: string; items: { status: string; code: number; reason?: string }[] }>(
      '/api/v1/namespaces/default/bindings',
      post({ apiVersion: 'v1', kind: 'List', items: [binding('la', 'node-1', a.metadata.uid), binding('lb', 'node-2', 'other-uid'), binding('lc', 'node-3'), binding('nope', 'node-1')] }),
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.kind, 'List');
    assert.deepEqual(r.body.items.map((s) => [s.status, s.code]), [['Success', 201], ['Failure', 409], ['Failure', 409], ['Failure', 404]]);
    assert.equal((await get('la')).spec.nodeName, 'node-1');
    assert.equal((await get('lb')).spec.nodeName, undefined);
    assert.equal((await get('lc')).spec.nodeName, 'node-9');
  });

  it('a malformed item refuses the whole List before any pod is bound', async () => {
    await client.create(Resources.pods, pod('ma'));
    const r = await ts.json('/api/v1/namespaces/default/bindings', post({ apiVersion: 'v1', kind: 'List', items: [binding('ma', 'node-1'), { kind: 'Pod', metadata: { name: 'x' } }] }));
    assert.equal(r.status, 400);
    assert.equal((await get('ma')).spec.nodeName, undefined);
    const otherNs = await ts.json('/api/v1/namespaces/default/bindings', post({ apiVersion: 'v1', kind: 'List', items: [{ ...binding('ma', 'node-1'), metadata: { name: 'ma', namespace: 'kube-system' } }] }));
    assert.equal(otherNs.status, 400);
    assert.equal((await get('ma')).spec.nodeName, undefined);
  });

  it('only create: other verbs are 405', async () => {
    assert.equal((await ts.request('/api/v1/namespaces/default/bindings')).status, 405);
  });

  it('HttpKubeClient with bindBatchSize sends one turn\'s binds as one request, each settling with its own outcome', async () => {
    const names = ['b0', 'b1', 'b2', 'b3', 'b4'];
    for (const n of names) await client.create(Resources.pods, pod(n));
    await client.bind({ namespace: 'default', name: 'b4', nodeName: 'node-0' });
    seen.length = 0;
    const results = await Promise.allSettled([
      ...names.map((n, i) => client.bind({ namespace: 'default', name: n, nodeName: `node-${i}` })),
      client.bind({ namespace: 'default', name: 'missing', nodeName: 'node-1' }),
    ]);
    assert.deepEqual(seen, ['POST /api/v1/namespaces/default/bindings']);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
    assert.match(String((results[4] as PromiseRejectedResult).reason), /already assigned/);
    assert.match(String((results[5] as PromiseRejectedResult).reason), /not found/);
    for (const [i, n] of names.slice(0, 4).entries()) assert.equal((await get(n)).spec.nodeName, `node-${i}`);
  });
});
