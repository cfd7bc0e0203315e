import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { KubeObject } from '../../api/object.ts';
import type { PersistentVolumeClaimObject, PersistentVolumeObject } from '../../api/storage/claims.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import { HedgeError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { makeNode } from '../testing/objects.ts';
import type { LocalPathVolumeDeleter } from './local-path-deleter.ts';
import { VolumeControllers } from './manager.ts';

const ns = 'default';

async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const claim = (name: string, o: { className?: string; storage?: string; modes?: string[]; annotations?: Record<string, string> } = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace: ns, annotations: o.annotations },
  spec: { accessModes: o.modes ?? ['ReadWriteOnce'], resources: { requests: { storage: o.storage ?? '1Gi' } }, storageClassName: o.className ?? 'local-path', volumeMode: 'Filesystem' },
});

const staticVolume = (name: string, storage: string, o: { modes?: string[]; className?: string; labels?: Record<string, string>; policy?: string } = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolume',
  metadata: { name, labels: o.labels },
  spec: { capacity: { storage }, accessModes: o.modes ?? ['ReadWriteOnce'], storageClassName: o.className ?? 'manual', hostPath: { path: `/data/${name}` }, persistentVolumeReclaimPolicy: o.policy ?? 'Retain', volumeMode: 'Filesystem' },
  status: { phase: 'Available' },
});

/** a node endpoint that fails the first `failures` calls (offline, busy), then deletes */
function fakeNode(failures: HedgeError[]): LocalPathVolumeDeleter & { calls: { node: string; volumeHandle: string }[] } {
  const calls: { node: string; volumeHandle: string }[] = [];
  return {
    calls,
    async deleteVolume({ node, volumeHandle }) {
      calls.push({ node, volumeHandle });
      const err = failures.shift();
      if (err) throw err;
    },
  };
}

describe('PersistentVolume controller', () => {
  let client: FakeKubeClient;
  let stop: AbortController;
  let running: Promise<void>;
  let node: ReturnType<typeof fakeNode>;
  const getClaim = (name: string) => client.get<PersistentVolumeClaimObject>(Resources.persistentvolumeclaims, name, { namespace: ns });
  const getVolume = (name: string) => client.get<PersistentVolumeObject>(Resources.persistentvolumes, name).catch(() => undefined);

  beforeEach(async () => {
    client = new FakeKubeClient();
    node = fakeNode([new HedgeError('Unavailable', 'node edge-1 is offline'), new HedgeError('Conflict', 'a pod on edge-1 still uses the volume')]);
    await client.create(Resources.storageclasses, { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'local-path' }, provisioner: 'hedge.io/local-path', reclaimPolicy: 'Delete', volumeBindingMode: 'WaitForFirstConsumer' } as KubeObject);
    await client.create(Resources.storageclasses, { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'manual' }, provisioner: 'kubernetes.io/no-provisioner', reclaimPolicy: 'Retain', volumeBindingMode: 'Immediate' } as KubeObject);
    await client.create(Resources.nodes, makeNode('edge-1', { labels: { 'kubernetes.io/hostname': 'edge-1.lan' } }));
    stop = new AbortController();
    running = new VolumeControllers({ client, logger: silentLogger(), deleter: node, reclaimMaxBackoffMs: 20 }).run(stop.signal);
  });
  afterEach(async () => {
    stop.abort();
    await running;
  });

  it('waits for the scheduler on a WaitForFirstConsumer claim, then provisions a local-path volume on the selected node and binds', async () => {
    await client.create(Resources.persistentvolumeclaims, claim('data', { storage: '2Gi', modes: ['ReadWriteOnce'] }));
    await eventually('pending', async () => (await getClaim('data')).status?.phase === 'Pending');
    assert.equal((await client.list(Resources.persistentvolumes)).items.length, 0, 'nothing provisioned before a node is chosen');

    const pvc = await getClaim('data');
    await client.update(Resources.persistentvolumeclaims, { ...pvc, metadata: { ...pvc.metadata, annotations: { 'volume.kubernetes.io/selected-node': 'edge-1' } } });
    const bound = await eventually('bound', async () => {
      const c = await getClaim('data');
      return c.status?.phase === 'Bound' && c;
    });
    const name = `pvc-${pvc.metadata.uid}`;
    assert.equal(bound.spec?.volumeName, name);
    assert.deepEqual(bound.status?.capacity, { storage: '2Gi' });
    assert.deepEqual(bound.status?.accessModes, ['ReadWriteOnce']);
    assert.equal(bound.metadata.annotations?.['pv.kubernetes.io/bind-completed'], 'yes');
    assert.equal(bound.metadata.annotations?.['volume.kubernetes.io/storage-provisioner'], 'hedge.io/local-path');
    const pv = await eventually('pv bound', async () => {
      const v = await getVolume(name);
      return v?.status?.phase === 'Bound' && v;
    });
    assert.deepEqual(pv.spec, {
      capacity: { storage: '2Gi' },
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'local-path',
      persistentVolumeReclaimPolicy: 'Delete',
      volumeMode: 'Filesystem',
      csi: { driver: 'local-path.hedge.io', volumeHandle: name },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['edge-1.lan'] }] }] } },
      claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: ns, name: 'data', uid: pvc.metadata.uid, resourceVersion: pv.spec?.claimRef?.resourceVersion },
    });
    assert.equal(pv.metadata.annotations?.['pv.kubernetes.io/provisioned-by'], 'hedge.io/local-path');
    assert.deepEqual(pv.metadata.finalizers, ['local-path.hedge.io/cleanup']);

    // the claim goes: the volume is Released, its node deletes the directory (after being offline, then busy), the PV goes
    await client.delete(Resources.persistentvolumeclaims, 'data', { namespace: ns });
    await eventually('pv deleted', async () => (await getVolume(name)) === undefined);
    assert.deepEqual(node.calls, [
      { node: 'edge-1', volumeHandle: name },
      { node: 'edge-1', volumeHandle: name },
      { node: 'edge-1', volumeHandle: name },
    ]);
  });

  it('binds a WaitForFirstConsumer claim to the static volume the scheduler gave it (its claimRef), without a selected node', async () => {
    await client.create(Resources.storageclasses, { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'local-storage' }, provisioner: 'kubernetes.io/no-provisioner', reclaimPolicy: 'Retain', volumeBindingMode: 'WaitForFirstConsumer' } as KubeObject);
    await client.create(Resources.persistentvolumes, staticVolume('disk-1', '5Gi', { className: 'local-storage' }));
    await client.create(Resources.persistentvolumes, staticVolume('disk-2', '5Gi', { className: 'local-storage' }));
    await client.create(Resources.persistentvolumeclaims, claim('logs', { className: 'local-storage' }));
    await eventually('pending', async () => (await getClaim('logs')).status?.phase === 'Pending');
    assert.equal((await getClaim('logs')).spec?.volumeName, undefined, 'no volume before the scheduler picks one');
    // the scheduler's PreBind: disk-2 (not the first match) given to the claim
    const pvc = await getClaim('logs');
    const disk = (await getVolume('disk-2'))!;
    await client.update(Resources.persistentvolumes, { ...disk, metadata: { ...disk.metadata, annotations: { 'pv.kubernetes.io/bound-by-controller': 'yes' } }, spec: { ...disk.spec, claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: ns, name: 'logs', uid: pvc.metadata.uid } } });
    const bound = await eventually('bound', async () => {
      const c = await getClaim('logs');
      return c.status?.phase === 'Bound' && c;
    });
    assert.equal(bound.spec?.volumeName, 'disk-2');
    await eventually('disk-2 bound', async () => (await getVolume('disk-2'))?.status?.phase === 'Bound');
    assert.equal((await getVolume('disk-1'))?.status?.phase, 'Available');
  });

  it('binds an Immediate claim to the smallest matching Available volume; Retain keeps it Released', async () => {
    await client.create(Resources.persistentvolumes, staticVolume('big', '10Gi'));
    await client.create(Resources.persistentvolumes, staticVolume('small', '2Gi'));
    await client.create(Resources.persistentvolumes, staticVolume('tiny', '500Mi'));
    await client.create(Resources.persistentvolumes, staticVolume('shared', '1Gi', { modes: ['ReadWriteMany'] }));
    await client.create(Resources.persistentvolumes, staticVolume('other-class', '1Gi', { className: 'fast' }));
    await client.create(Resources.persistentvolumeclaims, claim('db', { className: 'manual', storage: '1Gi' }));
    const bound = await eventually('bound', async () => {
      const c = await getClaim('db');
      return c.status?.phase === 'Bound' && c;
    });
    assert.equal(bound.spec?.volumeName, 'small');
    assert.equal(bound.metadata.annotations?.['pv.kubernetes.io/bound-by-controller'], 'yes');
    assert.deepEqual(bound.status?.capacity, { storage: '2Gi' });
    await eventually('small bound', async () => (await getVolume('small'))?.status?.phase === 'Bound');
    assert.equal((await getVolume('big'))?.status?.phase, 'Available');

    await client.delete(Resources.persistentvolumeclaims, 'db', { namespace: ns });
    await eventually('released', async () => (await getVolume('small'))?.status?.phase === 'Released');
    assert.equal(node.calls.length, 0);
  });

  it('marks a bound claim whose volume vanished Lost', async () => {
    await client.create(Resources.persistentvolumes, staticVolume('gone', '1Gi'));
    await client.create(Resources.persistentvolumeclaims, claim('lost', { className: 'manual' }));
    await eventually('bound', async () => (await getClaim('lost')).status?.phase === 'Bound');
    await client.delete(Resources.persistentvolumes, 'gone');
    await eventually('lost', async () => (await getClaim('lost')).status?.phase === 'Lost');
  });

  it('removes the protection finalizers once nothing uses the claim and the volume is unbound', async () => {
    await client.create(Resources.persistentvolumeclaims, { ...claim('held', { className: 'manual' }), metadata: { name: 'held', namespace: ns, finalizers: ['kubernetes.io/pvc-protection'] } });
    await client.create(Resources.pods, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'user', namespace: ns }, spec: { containers: [{ name: 'c', image: 'x' }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'held' } }] } });
    await client.delete(Resources.persistentvolumeclaims, 'held', { namespace: ns });
    await new Promise((r) => setTimeout(r, 50));
    assert.ok((await getClaim('held')).metadata.deletionTimestamp, 'kept while a pod uses it');
    await client.delete(Resources.pods, 'user', { namespace: ns });
    await eventually('claim gone', async () => (await getClaim('held').catch(() => undefined)) === undefined);

    await client.create(Resources.persistentvolumes, { ...staticVolume('prot', '1Gi'), metadata: { name: 'prot', finalizers: ['kubernetes.io/pv-protection'] } });
    await eventually('available', async () => (await getVolume('prot'))?.status?.phase === 'Available');
    await client.delete(Resources.persistentvolumes, 'prot');
    await eventually('pv gone', async () => (await getVolume('prot')) === undefined);
  });
});
