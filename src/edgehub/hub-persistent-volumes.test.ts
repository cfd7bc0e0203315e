/**
 * The hub replicates the PersistentVolumeClaims and PersistentVolumes the node's pods use, so the
 * agent can mount a pod's claim while the cloud is unreachable, across a hub restart (a host reboot)
 * too.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../api/object.ts';
import { HttpKubeClient } from '../client/http-client.ts';
import { loadKubeconfig } from '../client/kubeconfig.ts';
import { Resources } from '../client/resources.ts';
import { isHedgeError } from '../lib/errors.ts';
import { silentLogger } from '../lib/log.ts';
import { testToken } from '../apiserver/testing/test-server.ts';
import { startHub } from './hub.ts';
import { nodePod, startHubRig, until, type HubRig } from './testing/hub-rig.ts';

const NODE = 'edge-pv';

/** a claim bound to `pv-<name>` (status through the status subresource, as the PV controller writes it) */
async function seedClaim(admin: HttpKubeClient, name: string): Promise<void> {
  const pvc = await admin.create(Resources.persistentvolumeclaims, {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'default' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'local-path', volumeName: `pv-${name}` },
  } as KubeObject);
  await admin.patch(Resources.persistentvolumeclaims, name, 'merge', { status: { phase: 'Bound' } }, { namespace: 'default', subresource: 'status' });
  await admin.create(Resources.persistentvolumes, {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: `pv-${name}` },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: 'local-path',
      csi: { driver: 'local-path.hedge.io', volumeHandle: `pv-${name}` },
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: 'default', name, uid: pvc.metadata.uid },
    },
  } as KubeObject);
}

describe('edgehub: persistent volume claims and volumes', () => {
  let dir: string;
  let rig: HubRig;
  let rigHubClosed = false;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgehub-pv-'));
    rig = await startHubRig({
      nodeName: NODE,
      dir,
      seed: async (a) => {
        await a.create(Resources.pods, nodePod(NODE, 'db', { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }] }));
        await seedClaim(a, 'data');
        await seedClaim(a, 'other'); // no pod of the node uses it
      },
      hub: { healthIntervalMs: 100, healthTimeoutMs: 500 },
    });
  });

  after(async () => {
    if (rig && !rigHubClosed) await rig.close();
    else if (rig) {
      await rig.admin.close();
      await rig.link.close();
      await rig.cloud.close();
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('online: claims and volumes by name come from the cloud and are kept in the replica', async () => {
    const pvc = await rig.local.get(Resources.persistentvolumeclaims, 'data', { namespace: 'default' });
    assert.equal((pvc.spec as { volumeName?: string }).volumeName, 'pv-data');
    assert.equal((pvc.status as { phase?: string }).phase, 'Bound');
    const pv = await rig.local.get(Resources.persistentvolumes, 'pv-data');
    assert.equal((pv.spec as { csi?: { volumeHandle?: string } }).csi?.volumeHandle, 'pv-data');
    await rig.local.get(Resources.persistentvolumeclaims, 'other', { namespace: 'default' });
    await rig.local.get(Resources.persistentvolumes, 'pv-other');
    assert.ok(await rig.hub.replica.get(Resources.persistentvolumes, '', 'pv-data'));
    await assert.rejects(rig.local.get(Resources.persistentvolumeclaims, 'missing', { namespace: 'default' }), (err: unknown) => isHedgeError(err, 'NotFound'));
  });

  it('offline, and after a hub restart offline: the node pods’ claim and its volume are served; others are not', async () => {
    await until('pods replicated', async () => (await rig.local.list(Resources.pods, { fieldSelector: `spec.nodeName=${NODE}` })).items.length === 1);
    rig.link.cut();
    await rig.hub.waitFor('offline');
    const check = async (local: HttpKubeClient): Promise<void> => {
      assert.equal(((await local.get(Resources.persistentvolumeclaims, 'data', { namespace: 'default' })).status as { phase?: string }).phase, 'Bound');
      assert.equal((await local.get(Resources.persistentvolumes, 'pv-data')).metadata.name, 'pv-data');
      // cached, but no pod of the node uses them: not the node's to read (as the node authorizer)
      await assert.rejects(local.get(Resources.persistentvolumeclaims, 'other', { namespace: 'default' }), (err: unknown) => isHedgeError(err, 'Forbidden'));
      await assert.rejects(local.get(Resources.persistentvolumes, 'pv-other'), (err: unknown) => isHedgeError(err, 'Forbidden'));
      await assert.rejects(local.get(Resources.persistentvolumes, 'never-seen'), (err: unknown) => isHedgeError(err, 'Unavailable'));
    };
    await check(rig.local);

    // a host reboot while offline: a new hub over the same directory answers from its replica on disk
    rigHubClosed = true;
    await rig.local.close();
    await rig.hub.close();
    const hub = await startHub({ nodeName: NODE, dir: join(dir, 'hub'), cloud: { server: `http://127.0.0.1:${rig.link.port}`, token: testToken }, port: 0, logger: silentLogger(), healthIntervalMs: 100, healthTimeoutMs: 500 });
    const local = new HttpKubeClient(await loadKubeconfig(hub.kubeconfigPath));
    try {
      assert.equal(hub.state(), 'offline');
      await check(local);
    } finally {
      await local.close();
      await hub.close();
    }
  });
});
