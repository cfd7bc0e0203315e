import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { FakeClock } from '../../client/clock.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { PodVolumes } from '../podsync/pod-volumes.ts';
import { LocalPathVolumes } from './local-path.ts';
import { FakeMounter } from './mounter.ts';
import { isVolumeNotReady, unableToMountMessage } from './persistent-volume.ts';
import { setUpPodVolumes } from './set-up.ts';
import { prepareSubPaths } from './sub-path.ts';
import { tearDownPodVolumes } from './tear-down.ts';
import type { VolumeContext } from './types.ts';

describe('persistentVolumeClaim volumes', () => {
  let dir: string;
  let local: LocalPathVolumes;
  const client = new FakeKubeClient();
  const mounter = new FakeMounter();
  const signal = new AbortController().signal;
  const pod = (uid: string, claimName: string, readOnly?: boolean): Pod => ({
    metadata: { name: `p-${uid}`, namespace: 'default', uid },
    spec: { containers: [], volumes: [{ name: 'data', persistentVolumeClaim: { claimName, ...(readOnly !== undefined ? { readOnly } : {}) } }] },
  });
  const ctx = (p: Pod): VolumeContext => ({ pod: p, dataDir: dir, client, mounter, logger: silentLogger(), clock: new FakeClock(), nodeName: 'n', signal, localPath: local });
  const claim = async (name: string, o: { volumeName?: string; phase?: string; deleting?: boolean } = {}): Promise<KubeObject> =>
    client.create(Resources.persistentvolumeclaims, {
      metadata: { name, namespace: 'default', ...(o.deleting ? { finalizers: ['kubernetes.io/pvc-protection'] } : {}) },
      spec: { accessModes: ['ReadWriteOnce'], volumeName: o.volumeName ?? '' },
      status: { phase: o.phase ?? 'Pending' },
    } as KubeObject);
  const volume = (name: string, spec: Record<string, unknown>): Promise<KubeObject> =>
    client.create(Resources.persistentvolumes, { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' }, ...spec } } as KubeObject);
  const fails = async (p: Pod, re: RegExp, notReady: boolean): Promise<void> => {
    await assert.rejects(setUpPodVolumes(ctx(p)), (err: unknown) => {
      assert.equal(isVolumeNotReady(err), notReady, String(err));
      const msg = isVolumeNotReady(err) ? unableToMountMessage(err) : (err as Error).message;
      assert.match(msg, re);
      return true;
    });
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-pvc-'));
    local = new LocalPathVolumes({ dataDir: dir });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('waits, with the kubelet wording, while the claim is missing, unbound, being deleted or its PV is missing', async () => {
    await fails(pod('u0', 'nope'), /^Unable to attach or mount volumes: unmounted volumes=\[data\], failed to process volumes=\[data\]: error processing PVC default\/nope: failed to fetch PVC from API server: .*not found/, true);
    await claim('pending');
    await fails(pod('u0', 'pending'), /error processing PVC default\/pending: PVC is not bound$/, true);
    await claim('going', { volumeName: 'pv-going', phase: 'Bound', deleting: true });
    await client.delete(Resources.persistentvolumeclaims, 'going', { namespace: 'default' }); // held by its finalizer
    await fails(pod('u0', 'going'), /error processing PVC default\/going: PVC is being deleted$/, true);
    await claim('orphan', { volumeName: 'pv-gone', phase: 'Bound' });
    await fails(pod('u0', 'orphan'), /error processing PVC default\/orphan: failed to fetch PV pv-gone from API server: .*not found/, true);
    // a PV bound to another claim is not mounted for this one
    await claim('stolen', { volumeName: 'pv-stolen', phase: 'Bound' });
    await volume('pv-stolen', { csi: { driver: 'local-path.hedge.io', volumeHandle: 'pv-stolen' }, claimRef: { namespace: 'default', name: 'x', uid: 'not-this-claim' } });
    await fails(pod('u0', 'stolen'), /found PV object pv-stolen but its pv.Spec.ClaimRef.UID \(not-this-claim\) does not point to claim.UID/, true);
    assert.deepEqual(await readdir(join(dir, 'local-path')).catch(() => []), []);
  });

  it('csi local-path: a 0777 directory made on first mount, kept across pod teardown, shared by the next pod', async () => {
    const c = await claim('data', { volumeName: 'pvc-123', phase: 'Bound' });
    await volume('pvc-123', { csi: { driver: 'local-path.hedge.io', volumeHandle: 'pvc-123' }, claimRef: { namespace: 'default', name: 'data', uid: c.metadata.uid } });
    const v = (await setUpPodVolumes(ctx(pod('u1', 'data')))).get('data');
    assert.deepEqual(v, { name: 'data', hostPath: join(dir, 'local-path', 'pvc-123'), readOnly: false, persistent: true, claim: { name: 'data', namespace: 'default' }, localPath: true });
    assert.equal((await stat(v.hostPath)).mode & 0o777, 0o777);
    await writeFile(join(v.hostPath, 'kept'), 'x');
    assert.deepEqual(await local.users('pvc-123'), ['u1']);
    await tearDownPodVolumes({ dataDir: dir, uid: 'u1', mounter, signal });
    assert.deepEqual(await local.users('pvc-123'), []);
    const again = (await setUpPodVolumes(ctx(pod('u2', 'data', true)))).get('data');
    assert.equal(again?.readOnly, true, 'the pod volume readOnly');
    assert.ok((await stat(join(again.hostPath, 'kept'))).isFile());
    await tearDownPodVolumes({ dataDir: dir, uid: 'u2', mounter, signal });
  });

  it('a generic ephemeral volume mounts its <pod>-<volume> claim, only when the claim is the pod\'s own', async () => {
    const eph = (uid: string): Pod => ({
      metadata: { name: 'eph', namespace: 'default', uid },
      spec: { containers: [], volumes: [{ name: 'scratch', ephemeral: { volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } } }] },
    });
    const c = await client.create(Resources.persistentvolumeclaims, {
      metadata: { name: 'eph-scratch', namespace: 'default', ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'eph', uid: 'e1', controller: true }] },
      spec: { accessModes: ['ReadWriteOnce'], volumeName: 'pvc-eph' },
      status: { phase: 'Bound' },
    } as KubeObject);
    await volume('pvc-eph', { csi: { driver: 'local-path.hedge.io', volumeHandle: 'pvc-eph' }, claimRef: { namespace: 'default', name: 'eph-scratch', uid: c.metadata.uid } });
    const v = (await setUpPodVolumes(ctx(eph('e1')))).get('scratch');
    assert.deepEqual(v, { name: 'scratch', hostPath: join(dir, 'local-path', 'pvc-eph'), readOnly: false, persistent: true, claim: { name: 'eph-scratch', namespace: 'default' }, localPath: true });
    await tearDownPodVolumes({ dataDir: dir, uid: 'e1', mounter, signal });
    // a pod of the same name but another uid (the claim is not its own) waits
    await fails(eph('e2'), /error processing PVC default\/eph-scratch: PVC default\/eph-scratch was not created for pod default\/eph \(pod is not owner\)$/, true);
  });

  it('hostPath and local PVs, ReadOnlyMany, and clear errors for what the node cannot serve', async () => {
    const host = join(dir, 'host-dir');
    await claim('hp', { volumeName: 'pv-hp', phase: 'Bound' });
    await volume('pv-hp', { hostPath: { path: host, type: 'DirectoryOrCreate' } });
    assert.equal((await setUpPodVolumes(ctx(pod('u3', 'hp')))).get('data')?.hostPath, host);
    assert.ok((await stat(host)).isDirectory());
    await claim('hp-file', { volumeName: 'pv-hp-file', phase: 'Bound' });
    await volume('pv-hp-file', { hostPath: { path: host, type: 'File' } });
    await fails(pod('u3', 'hp-file'), /MountVolume.SetUp failed for volume "pv-hp-file" : hostPath type check failed: .* is not a file/, false);

    await claim('loc', { volumeName: 'pv-loc', phase: 'Bound' });
    await volume('pv-loc', { local: { path: host }, accessModes: ['ReadOnlyMany'] });
    assert.deepEqual((await setUpPodVolumes(ctx(pod('u3', 'loc')))).get('data'), { name: 'data', hostPath: host, readOnly: true, persistent: true, claim: { name: 'loc', namespace: 'default' } });
    await claim('loc-missing', { volumeName: 'pv-loc-missing', phase: 'Bound' });
    await volume('pv-loc-missing', { local: { path: join(dir, 'no-such') } });
    await fails(pod('u3', 'loc-missing'), /MountVolume.SetUp failed for volume "pv-loc-missing" : path ".*no-such" does not exist/, false);

    await claim('nfs', { volumeName: 'pv-nfs', phase: 'Bound' });
    await volume('pv-nfs', { nfs: { server: 'x', path: '/' } });
    await fails(pod('u3', 'nfs'), /persistent volume source nfs is not supported by this node/, false);
    await claim('ebs', { volumeName: 'pv-ebs', phase: 'Bound' });
    await volume('pv-ebs', { csi: { driver: 'ebs.csi.aws.com', volumeHandle: 'vol-1' } });
    await fails(pod('u3', 'ebs'), /driver name ebs.csi.aws.com not found in the list of registered CSI drivers/, false);
    await claim('evil', { volumeName: 'pv-evil', phase: 'Bound' });
    await volume('pv-evil', { csi: { driver: 'local-path.hedge.io', volumeHandle: '../../etc' } });
    await fails(pod('u3', 'evil'), /invalid local-path volume handle "..\/..\/etc"/, false);
    await tearDownPodVolumes({ dataDir: dir, uid: 'u3', mounter, signal });
  });

  it('subPath: made in a writable volume, refused when it resolves outside (a planted symlink)', async () => {
    const vol = join(dir, 'local-path', 'pvc-sub');
    await mkdir(vol, { recursive: true });
    const volumes = new Map([['data', { name: 'data', hostPath: vol, readOnly: false }]]);
    await prepareSubPaths({ name: 'c', volumeMounts: [{ name: 'data', mountPath: '/d', subPath: 'pg/data' }] }, volumes);
    assert.ok((await stat(join(vol, 'pg/data'))).isDirectory());
    await symlink('/etc', join(vol, 'escape'));
    await assert.rejects(prepareSubPaths({ name: 'c', volumeMounts: [{ name: 'data', mountPath: '/d', subPath: 'escape' }] }, volumes), (err: unknown) => isHedgeError(err, 'Invalid') && /resolves outside the volume/.test((err as Error).message));
  });

  it('PodVolumes.localPathClaims: the set-up local-path PVC volumes with their claim (what /stats/summary walks), not hostPath/local PVs', async () => {
    const pv = new PodVolumes({ deps: { client, mounter, localPath: local, clock: new FakeClock() }, dataDir: dir, nodeName: 'n', refreshMs: 60_000, logger: silentLogger(), warn: () => {}, span: (_n, fn) => fn() });
    const p: Pod = {
      metadata: { name: 'both', namespace: 'default', uid: 'u9' },
      spec: { containers: [], volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }, { name: 'hp', persistentVolumeClaim: { claimName: 'hp' } }, { name: 'scratch', emptyDir: {} }] },
    };
    assert.deepEqual(pv.localPathClaims(), [], 'nothing before set-up');
    await pv.setUp(p, signal);
    assert.deepEqual(
      pv.localPathClaims().map((v) => ({ name: v.name, hostPath: v.hostPath, claim: v.claim })),
      [{ name: 'data', hostPath: join(dir, 'local-path', 'pvc-123'), claim: { name: 'data', namespace: 'default' } }],
    );
    await pv.tearDown('u9', signal);
    assert.deepEqual(pv.localPathClaims(), [], 'nothing after tear-down');
  });
});
