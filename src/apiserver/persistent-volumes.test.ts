import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PersistentVolume, PersistentVolumeClaim } from 'kubernetes-types/core/v1.js';
import type { StorageClass } from 'kubernetes-types/storage/v1.js';
import { startTestServer, type TestServer } from './testing/test-server.ts';

interface StatusBody {
  reason?: string;
  message?: string;
  details?: { causes?: { field?: string; reason?: string; message?: string }[] };
}

const json = { 'content-type': 'application/json' };
const claim = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
});
const hostPathVolume = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'PersistentVolume',
  metadata: { name },
  spec: { accessModes: ['ReadWriteOnce'], capacity: { storage: '5Gi' }, hostPath: { path: '/data/x' }, ...spec },
});

describe('PersistentVolumes, PersistentVolumeClaims and StorageClasses through the API', () => {
  let t: TestServer;
  const post = <T = StatusBody>(path: string, body: unknown) => t.json<T>(path, { method: 'POST', headers: json, body: JSON.stringify(body) });
  const pvcs = '/api/v1/namespaces/default/persistentvolumeclaims';

  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
  });

  it('bootstraps the local-path StorageClass as the default', async () => {
    const sc = await t.json<StorageClass>('/apis/storage.k8s.io/v1/storageclasses/local-path');
    assert.equal(sc.status, 200);
    assert.equal(sc.body.provisioner, 'hedge.io/local-path');
    assert.equal(sc.body.volumeBindingMode, 'WaitForFirstConsumer');
    assert.equal(sc.body.reclaimPolicy, 'Delete');
    assert.equal(sc.body.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'], 'true');
  });

  it('creates a claim with the default class, protection finalizer, Filesystem mode and Pending phase', async () => {
    const res = await post<PersistentVolumeClaim>(pvcs, { ...claim('data'), status: { phase: 'Bound' } });
    assert.equal(res.status, 201);
    assert.equal(res.body.spec?.storageClassName, 'local-path');
    assert.equal(res.body.spec?.volumeMode, 'Filesystem');
    assert.deepEqual(res.body.metadata?.finalizers, ['kubernetes.io/pvc-protection']);
    assert.equal(res.body.status?.phase, 'Pending');
    // an explicit "" asks for no class and is kept
    const none = await post<PersistentVolumeClaim>(pvcs, claim('classless', { storageClassName: '' }));
    assert.equal(none.body.spec?.storageClassName, '');
  });

  it('refuses invalid claims with 422 and the fields at fault', async () => {
    const bad = await post(pvcs, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'bad' }, spec: { accessModes: ['ReadWriteSometimes'], resources: { requests: { storage: '0' } }, volumeMode: 'Tape' } });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.details?.causes?.map((c) => `${c.field}: ${c.message}`), [
      'spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"',
      'spec.resources[storage]: Invalid value: 0: must be greater than zero',
      'spec.volumeMode: Unsupported value: "Tape": supported values: "Block", "Filesystem"',
    ]);
    const missing = await post(pvcs, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'bad' }, spec: {} });
    assert.deepEqual(missing.body.details?.causes?.map((c) => `${c.field}: ${c.message}`), ['spec.accessModes: Required value: at least 1 access mode is required', 'spec.resources[storage]: Required value']);
  });

  it('keeps a claim spec immutable except a growing storage request', async () => {
    await post(pvcs, claim('fixed'));
    const path = `${pvcs}/fixed`;
    const patch = (body: unknown) => t.json<StatusBody>(path, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify(body) });
    const modes = await patch({ spec: { accessModes: ['ReadWriteMany'] } });
    assert.equal(modes.status, 422);
    assert.match(modes.body.message ?? '', /spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims/);
    // bound: the request may grow, never shrink
    assert.equal((await t.json(`${path}/status`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ status: { phase: 'Bound' } }) })).status, 200);
    assert.equal((await patch({ spec: { resources: { requests: { storage: '2Gi' } } } })).status, 200);
    const shrink = await patch({ spec: { resources: { requests: { storage: '1Gi' } } } });
    assert.equal(shrink.status, 422);
    assert.match(shrink.body.message ?? '', /spec.resources.requests.storage: Forbidden: field can not be less than previous value/);
  });

  it('creates volumes with Retain, the protection finalizer, and refuses a bad source', async () => {
    const pv = await post<PersistentVolume>('/api/v1/persistentvolumes', hostPathVolume('pv1'));
    assert.equal(pv.status, 201);
    assert.equal(pv.body.spec?.persistentVolumeReclaimPolicy, 'Retain');
    assert.deepEqual(pv.body.metadata?.finalizers, ['kubernetes.io/pv-protection']);
    const none = await post('/api/v1/persistentvolumes', { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv2' }, spec: { accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' } } });
    assert.equal(none.status, 422);
    assert.deepEqual(none.body.details?.causes?.map((c) => `${c.field}: ${c.message}`), ['spec: Required value: must specify a volume type']);
    const two = await post('/api/v1/persistentvolumes', hostPathVolume('pv2', { nfs: { server: 'nas', path: 'rel' }, capacity: { memory: '1Gi' } }));
    assert.deepEqual(two.body.details?.causes?.map((c) => `${c.field}: ${c.message}`), [
      'spec.capacity: Unsupported value: {"memory":"1Gi"}: supported values: "storage"',
      'spec.nfs: Forbidden: may not specify more than 1 volume type',
    ]);
    const local = await post('/api/v1/persistentvolumes', hostPathVolume('pv2', { hostPath: undefined, local: { path: '/mnt/disk' } }));
    assert.deepEqual(local.body.details?.causes?.map((c) => `${c.field}: ${c.message}`), ['spec.nodeAffinity: Required value: Local volume requires node affinity']);
    const csi = await post('/api/v1/persistentvolumes', hostPathVolume('pv2', { hostPath: undefined, csi: { driver: 'local-path.hedge.io' } }));
    assert.deepEqual(csi.body.details?.causes?.map((c) => `${c.field}: ${c.message}`), ['spec.csi.volumeHandle: Required value']);
  });

  it('refuses StorageClass changes to provisioner, parameters and reclaimPolicy', async () => {
    const created = await post<StorageClass>('/apis/storage.k8s.io/v1/storageclasses', { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'fast' }, provisioner: 'example.com/fast' });
    assert.equal(created.status, 201);
    assert.equal(created.body.volumeBindingMode, 'Immediate');
    assert.equal(created.body.reclaimPolicy, 'Delete');
    const res = await t.json<StatusBody>('/apis/storage.k8s.io/v1/storageclasses/fast', {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ provisioner: 'example.com/slow', parameters: { a: 'b' }, reclaimPolicy: 'Retain' }),
    });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.details?.causes?.map((c) => c.field), ['parameters', 'provisioner', 'reclaimPolicy']);
    const noProvisioner = await post('/apis/storage.k8s.io/v1/storageclasses', { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'x' } });
    assert.deepEqual(noProvisioner.body.details?.causes?.map((c) => `${c.field}: ${c.message}`), ['provisioner: Required value']);
  });

  it('prints tables like upstream', async () => {
    const table = await t.json<{ columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }>('/apis/storage.k8s.io/v1/storageclasses', { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    assert.deepEqual(table.body.columnDefinitions.map((c) => c.name), ['Name', 'Provisioner', 'ReclaimPolicy', 'VolumeBindingMode', 'AllowVolumeExpansion', 'Age']);
    assert.ok(table.body.rows.some((r) => r.cells[0] === 'local-path (default)'));
    const pvcTable = await t.json<{ columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }>(pvcs, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    assert.deepEqual(pvcTable.body.columnDefinitions.map((c) => c.name), ['Name', 'Status', 'Volume', 'Capacity', 'Access Modes', 'StorageClass', 'VolumeAttributesClass', 'Age', 'VolumeMode']);
    const row = pvcTable.body.rows.find((r) => r.cells[0] === 'data');
    assert.deepEqual(row?.cells.slice(0, 7), ['data', 'Pending', '', '', '', 'local-path', '<unset>']);
  });
});
