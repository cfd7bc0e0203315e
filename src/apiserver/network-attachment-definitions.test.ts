import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './testing/test-server.ts';

/** The Multus NetworkAttachmentDefinition served built in, and the pods/status annotation write the node uses. */
describe('NetworkAttachmentDefinitions', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });
  const PATH = '/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions';
  const send = (path: string, method: string, body: unknown, type = 'application/json') =>
    t.json<{ kind?: string; reason?: string; details?: { causes?: { field?: string; reason?: string }[] }; metadata?: { annotations?: Record<string, string> } }>(path, {
      method,
      headers: { 'content-type': type },
      body: JSON.stringify(body),
    });

  it('is in discovery with its short name', async () => {
    const r = await t.json<{ resources: { name: string; kind: string; namespaced: boolean; shortNames?: string[] }[] }>('/apis/k8s.cni.cncf.io/v1');
    assert.equal(r.status, 200);
    const nad = r.body.resources.find((x) => x.name === 'network-attachment-definitions');
    assert.deepEqual({ kind: nad?.kind, namespaced: nad?.namespaced, shortNames: nad?.shortNames }, { kind: 'NetworkAttachmentDefinition', namespaced: true, shortNames: ['net-attach-def'] });
  });

  it('accepts a CNI config and refuses one that is not, with a 422 naming spec.config', async () => {
    const ok = await send(PATH, 'POST', { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name: 'lan' }, spec: { config: '{"cniVersion":"1.0.0","type":"macvlan","master":"eth0","ipam":{"type":"host-local","subnet":"10.9.0.0/24"}}' } });
    assert.equal(ok.status, 201);
    const bad = await send(PATH, 'POST', { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name: 'bad' }, spec: { config: '{"master":"eth0"}' } });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.kind, 'Status');
    assert.equal(bad.body.reason, 'Invalid');
    assert.deepEqual(bad.body.details?.causes?.map((c) => [c.field, c.reason]), [['spec.config', 'FieldValueInvalid']]);
    assert.equal((await t.json(`${PATH}/bad`)).status, 404, 'nothing half-written');
    const patched = await send(`${PATH}/lan`, 'PATCH', { spec: { config: 'not json' } }, 'application/merge-patch+json');
    assert.equal(patched.status, 422);
  });

  it('pods/status may set annotations (network-status) but not labels or spec', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    assert.equal((await send('/api/v1/namespaces/default/pods', 'POST', pod)).status, 201);
    const r = await send(
      '/api/v1/namespaces/default/pods/p/status',
      'PATCH',
      { metadata: { labels: { a: 'changed' }, annotations: { 'k8s.v1.cni.cncf.io/network-status': '[]' } }, status: { podIP: '10.0.0.9' } },
      'application/merge-patch+json',
    );
    assert.equal(r.status, 200);
    const got = await t.json<{ metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; status: { podIP?: string } }>('/api/v1/namespaces/default/pods/p');
    assert.equal(got.body.metadata.annotations?.['k8s.v1.cni.cncf.io/network-status'], '[]');
    assert.deepEqual(got.body.metadata.labels, { a: 'b' });
    assert.equal(got.body.status.podIP, '10.0.0.9');
  });
});
