import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { ContainerMount } from '../types.ts';
import { claimShares, encodeGuestVolume, MAX_CLAIM_SHARES, planGuestVolumes, podVolumesDirOf } from './guest-volumes.ts';

describe('planGuestVolumes', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'hedge-gv-'));
  const vols = join(tmp, 'pods', 'uid1', 'volumes');
  mkdirSync(join(vols, 'empty-dir', 'scratch'), { recursive: true });
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const bind = (hostPath: string, containerPath: string, readOnly = false): ContainerMount => ({ hostPath, containerPath, readOnly, type: 'bind' });

  test('the pod volume dir sits beside the sandbox state dir (kubelet layout)', () => {
    assert.equal(podVolumesDirOf(join(tmp, 'pods', 'uid1', 'sandbox')), vols);
  });

  test('projected kinds go over the share read-only, emptyDirs to the disk or a guest tmpfs; parents first', async () => {
    const plan = await planGuestVolumes({
      containerName: 'c',
      volumesDir: vols,
      mounts: [
        bind(join(vols, 'configmap', 'cfg', 'app.conf'), '/etc/app/app.conf', true),
        bind(join(vols, 'configmap', 'cfg'), '/etc/app', true),
        bind(join(vols, 'secret', 'sec'), '/var/run/secrets/x', true),
        bind(join(vols, 'projected', 'kube-api-access-x'), '/var/run/secrets/kubernetes.io/serviceaccount', true),
        bind(join(vols, 'downward-api', 'info'), '/etc/podinfo', true),
        bind(join(vols, 'empty-dir', 'scratch'), '/scratch'),
        bind(join(vols, 'empty-dir', 'scratch', 'sub', 'dir'), '/sub', true),
        { hostPath: join(vols, 'empty-dir', 'mem'), containerPath: '/mem', readOnly: false, type: 'tmpfs', sizeBytes: 8 << 20 },
      ],
    });
    assert.deepEqual(plan, [
      { kind: 'disk', source: 'scratch', target: '/scratch', readOnly: false },
      { kind: 'disk', source: 'scratch/sub/dir', target: '/sub', readOnly: true },
      { kind: 'memory', source: 'mem', target: '/mem', readOnly: false, sizeBytes: 8 << 20 },
      { kind: 'share', source: 'configmap/cfg', target: '/etc/app', readOnly: true },
      { kind: 'share', source: 'downward-api/info', target: '/etc/podinfo', readOnly: true },
      { kind: 'share', source: 'configmap/cfg/app.conf', target: '/etc/app/app.conf', readOnly: true },
      { kind: 'share', source: 'secret/sec', target: '/var/run/secrets/x', readOnly: true },
      { kind: 'share', source: 'projected/kube-api-access-x', target: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
    ]);
  });

  test('a Memory emptyDir the agent mounted as a host tmpfs becomes a guest tmpfs of its size', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
    const dir = join(vols, 'empty-dir', 'memhost');
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir]);
    try {
      const plan = await planGuestVolumes({ containerName: 'c', volumesDir: vols, mounts: [bind(join(dir, 'sub'), '/m')] });
      assert.deepEqual(plan, [{ kind: 'memory', source: 'memhost/sub', target: '/m', readOnly: false, sizeBytes: 4 << 20 }]);
    } finally {
      execFileSync('umount', [dir]);
    }
  });

  test('hostPath volumes and unknown volume kinds are refused, naming the mount', async () => {
    await assert.rejects(
      planGuestVolumes({ containerName: 'c', volumesDir: vols, mounts: [bind('/var/log', '/logs')] }),
      (err: Error & { code?: string }) => err.code === 'Invalid' && /container "c" volume mounted at \/logs: \/var\/log is a host path; microvm pods only take/.test(err.message),
    );
    // a path that climbs out of the pod's volume dir is a host path too
    await assert.rejects(planGuestVolumes({ containerName: 'c', volumesDir: vols, mounts: [bind(join(vols, '..', 'sandbox'), '/x')] }), /is a host path/);
    await assert.rejects(planGuestVolumes({ containerName: 'c', volumesDir: vols, mounts: [bind(vols, '/x')] }), /is a host path/);
    await assert.rejects(planGuestVolumes({ containerName: 'c', volumesDir: vols, mounts: [bind(join(vols, 'nfs', 'share'), '/x')] }), /volume type nfs is not supported/);
    await assert.rejects(planGuestVolumes({ containerName: 'c', volumesDir: vols, mounts: [bind(join(vols, 'configmap', 'a'), 'relative')] }), /must be absolute/);
  });

  test('a PVC mount goes to its claim share (pvc<i>, never the volume name), subPath inside it; read-only claim or mount stays read-only', async () => {
    const claims = claimShares([
      { name: 'data', hostPath: '/var/lib/hedge/local-path/pvc-1', readOnly: false },
      { name: 'ro', hostPath: '/srv/ro', readOnly: true },
    ]);
    assert.deepEqual(claims.map((c) => c.tag), ['pvc0', 'pvc1']);
    const plan = await planGuestVolumes({
      containerName: 'c',
      volumesDir: vols,
      claims,
      mounts: [
        bind('/var/lib/hedge/local-path/pvc-1', '/data'),
        bind('/var/lib/hedge/local-path/pvc-1/sub/dir', '/data/sub', true),
        bind('/srv/ro', '/ro'),
        bind(join(vols, 'empty-dir', 'scratch'), '/scratch'),
      ],
    });
    assert.deepEqual(plan, [
      { kind: 'claim', source: 'pvc0', target: '/data', readOnly: false },
      { kind: 'claim', source: 'pvc1', target: '/ro', readOnly: true },
      { kind: 'disk', source: 'scratch', target: '/scratch', readOnly: false },
      { kind: 'claim', source: 'pvc0/sub/dir', target: '/data/sub', readOnly: true },
    ]);
    // beside a claim's directory is still a host path: only the claim's own directory is shared
    await assert.rejects(planGuestVolumes({ containerName: 'c', volumesDir: vols, claims, mounts: [bind('/var/lib/hedge/local-path/pvc-10', '/x')] }), /is a host path/);
    await assert.rejects(planGuestVolumes({ containerName: 'c', volumesDir: vols, claims, mounts: [bind('/srv', '/x')] }), /is a host path/);
    // a PVC the sandbox was not created with is refused (an older VM, or no claim list)
    await assert.rejects(planGuestVolumes({ containerName: 'c', volumesDir: vols, mounts: [bind('/srv/ro', '/x')] }), /is a host path/);
  });

  test('claim shares: relative, `..`, control characters, the root and too many claims are refused', () => {
    const pv = (hostPath: string) => ({ name: 'v', hostPath, readOnly: false });
    assert.throws(() => claimShares([pv('rel/dir')]), /must be an absolute path/);
    assert.throws(() => claimShares([pv('/a/../etc')]), /must be an absolute path/);
    assert.throws(() => claimShares([pv('/a\nb')]), /must be an absolute path/);
    assert.throws(() => claimShares([pv('/')]), /cannot share the host's root directory/);
    assert.throws(() => claimShares(Array.from({ length: MAX_CLAIM_SHARES + 1 }, (_, i) => pv(`/d${i}`))), /at most 16 persistentVolumeClaim volumes/);
    assert.deepEqual(claimShares([]), []);
  });

  test('the agent entry format', () => {
    assert.equal(encodeGuestVolume({ kind: 'claim', source: 'pvc2/sub', target: '/data', readOnly: false }), 'pw0\x1fpvc2/sub\x1f/data');
    assert.equal(encodeGuestVolume({ kind: 'share', source: 'secret/s', target: '/s', readOnly: true }), 'sr0\x1fsecret/s\x1f/s');
    assert.equal(encodeGuestVolume({ kind: 'memory', source: 'm/sub', target: '/m', readOnly: false, sizeBytes: 1024 }), 'mw1024\x1fm/sub\x1f/m');
    assert.equal(encodeGuestVolume({ kind: 'disk', source: 'd', target: '/d', readOnly: false }), 'dw0\x1fd\x1f/d');
  });
});
