import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

interface PodOut {
  message?: string;
  metadata?: { annotations?: Record<string, string> };
  spec?: { overhead?: Record<string, string>; nodeSelector?: Record<string, string>; tolerations?: { key: string }[] };
}

describe('RuntimeClass admission and default RuntimeClasses', () => {
  let t: TestServer;
  const create = (path: string, body: unknown) =>
    t.json<PodOut>(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const pod = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec },
  });

  before(async () => {
    t = await startTestServer({ runtimeClasses: [{ name: 'runc', handler: 'runc' }, { name: 'gvisor', handler: 'gvisor', podFixed: { cpu: '50m', memory: '20Mi' } }] });
    const r = await create('/apis/node.k8s.io/v1/runtimeclasses', {
      apiVersion: 'node.k8s.io/v1',
      kind: 'RuntimeClass',
      metadata: { name: 'edge' },
      handler: 'gvisor',
      scheduling: { nodeSelector: { zone: 'edge' }, tolerations: [{ key: 'edge', operator: 'Exists', effect: 'NoSchedule' }] },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  });
  after(() => t.close());

  it('creates the configured RuntimeClasses at startup', async () => {
    const r = await t.json<{ items: { metadata: { name: string }; handler: string; overhead?: unknown }[] }>('/apis/node.k8s.io/v1/runtimeclasses');
    const byName = Object.fromEntries(r.body.items.map((i) => [i.metadata.name, i]));
    assert.equal(byName.runc.handler, 'runc');
    assert.equal(byName.runc.overhead, undefined);
    assert.deepEqual(byName.gvisor.overhead, { podFixed: { cpu: '50m', memory: '20Mi' } });
  });

  it("copies the class's hedge.io/default-network to the pod unless the pod names one", async () => {
    const rc = await create('/apis/node.k8s.io/v1/runtimeclasses', {
      apiVersion: 'node.k8s.io/v1',
      kind: 'RuntimeClass',
      metadata: { name: 'lan', annotations: { 'hedge.io/default-network': 'infra/lan' } },
      handler: 'runc',
    });
    assert.equal(rc.status, 201, JSON.stringify(rc.body));
    const r = await create('/api/v1/namespaces/default/pods', pod('net-a', { runtimeClassName: 'lan' }));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.metadata?.annotations?.['v1.multus-cni.io/default-network'], 'infra/lan');
    const own = { ...pod('net-b', { runtimeClassName: 'lan' }), metadata: { name: 'net-b', annotations: { 'v1.multus-cni.io/default-network': 'mine' } } };
    const r2 = await create('/api/v1/namespaces/default/pods', own);
    assert.equal(r2.body.metadata?.annotations?.['v1.multus-cni.io/default-network'], 'mine');
    const r3 = await create('/api/v1/namespaces/default/pods', pod('net-c', { runtimeClassName: 'runc' }));
    assert.equal(r3.body.metadata?.annotations?.['v1.multus-cni.io/default-network'], undefined);
  });

  it('sets the overhead from the class', async () => {
    const r = await create('/api/v1/namespaces/default/pods', pod('a', { runtimeClassName: 'gvisor' }));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(r.body.spec?.overhead, { cpu: '50m', memory: '20Mi' });
    // the same amount written differently is the same overhead
    const same = await create('/api/v1/namespaces/default/pods', pod('a2', { runtimeClassName: 'gvisor', overhead: { cpu: '0.05', memory: '20971520' } }));
    assert.equal(same.status, 201, JSON.stringify(same.body));
  });

  it('refuses an unknown class and a different overhead with 403', async () => {
    const unknown = await create('/api/v1/namespaces/default/pods', pod('b', { runtimeClassName: 'kata' }));
    assert.equal(unknown.status, 403);
    assert.equal(unknown.body.message, 'pods "b" is forbidden: pod rejected: RuntimeClass "kata" not found');
    const other = await create('/api/v1/namespaces/default/pods', pod('c', { runtimeClassName: 'gvisor', overhead: { cpu: '1' } }));
    assert.equal(other.status, 403);
    assert.equal(other.body.message, `pods "c" is forbidden: pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead`);
    const noClassOverhead = await create('/api/v1/namespaces/default/pods', pod('c2', { runtimeClassName: 'runc', overhead: { cpu: '1' } }));
    assert.equal(noClassOverhead.status, 403);
  });

  it('merges the scheduling nodeSelector and tolerations, refusing conflicts', async () => {
    const r = await create(
      '/api/v1/namespaces/default/pods',
      pod('d', { runtimeClassName: 'edge', nodeSelector: { disk: 'ssd' }, tolerations: [{ key: 'edge', operator: 'Exists', effect: 'NoSchedule' }] }),
    );
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(r.body.spec?.nodeSelector, { disk: 'ssd', zone: 'edge' });
    assert.deepEqual(r.body.spec?.tolerations?.map((x) => x.key), ['edge']);
    const conflict = await create('/api/v1/namespaces/default/pods', pod('e', { runtimeClassName: 'edge', nodeSelector: { zone: 'cloud' } }));
    assert.equal(conflict.status, 403);
    assert.equal(conflict.body.message, 'pods "e" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[zone] = edge; pod.spec.nodeSelector[zone] = cloud');
  });
});
