import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

describe('ServiceAccount admission', () => {
  let t: TestServer;
  const create = async (body: unknown, ns = 'default'): Promise<Pod> => {
    const r = await t.json<Pod>(`/api/v1/namespaces/${ns}/pods`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  const pod = (name: string, spec: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'x' }], ...spec } });

  before(async () => {
    t = await startTestServer();
  });
  after(() => t?.close());

  it('mounts the token, kube-root-ca.crt and the namespace at /var/run/secrets/kubernetes.io/serviceaccount in every container', async () => {
    const p = await create(pod('plain', { initContainers: [{ name: 'i', image: 'x' }] }));
    const vol = p.spec?.volumes?.find((v) => v.name.startsWith('kube-api-access-'));
    assert.match(vol?.name ?? '', /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.deepEqual(vol?.projected?.sources, [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ]);
    assert.equal(vol?.projected?.defaultMode, 0o644);
    for (const c of [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])]) {
      assert.deepEqual(c.volumeMounts, [{ name: vol?.name, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }], c.name);
    }
    assert.equal(p.spec?.serviceAccountName, 'default');
  });

  it('not when the pod or its service account says automountServiceAccountToken: false, nor for a container with its own mount there', async () => {
    assert.equal((await create(pod('opted-out', { automountServiceAccountToken: false }))).spec?.volumes, undefined);
    const sa = await t.json('/api/v1/namespaces/default/serviceaccounts', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'quiet' }, automountServiceAccountToken: false }) });
    assert.equal(sa.status, 201);
    assert.equal((await create(pod('quiet-sa', { serviceAccountName: 'quiet' }))).spec?.volumes, undefined);
    // the pod's own true wins over the account's false
    assert.equal((await create(pod('asks', { serviceAccountName: 'quiet', automountServiceAccountToken: true }))).spec?.volumes?.length, 1);
    const own = await create(pod('own', {
      volumes: [{ name: 'mine', emptyDir: {} }],
      containers: [{ name: 'has', image: 'x', volumeMounts: [{ name: 'mine', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }] }, { name: 'lacks', image: 'x' }],
    }));
    assert.deepEqual(own.spec?.containers?.[0].volumeMounts?.map((m) => m.name), ['mine']);
    assert.match(own.spec?.containers?.[1].volumeMounts?.[0].name ?? '', /^kube-api-access-/);
  });
});
