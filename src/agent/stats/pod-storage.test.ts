import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { FakeClock } from '../../client/clock.ts';
import { silentLogger } from '../../lib/log.ts';
import type { ContainerId } from '../runtime/types.ts';
import type { Snapshotter } from '../snapshot/types.ts';
import { volumeDir } from '../volumes/paths.ts';
import type { StatsSample } from './collector.ts';
import { PodStorageCache, etcHostsPath, type FsUsage } from './pod-storage.ts';
import { toSummary } from './summary.ts';

/** du's own figures for `dir`: allocated bytes and inodes, a hard link once */
const du = (dir: string): FsUsage => ({
  bytes: Number(execFileSync('du', ['-s', '-B1', dir], { encoding: 'utf8' }).split('\t')[0]),
  inodes: Number(execFileSync('du', ['-s', '--inodes', dir], { encoding: 'utf8' }).split('\t')[0]),
});

describe('pod storage (writable layers, logs, volumes, hosts file) against a real directory tree', () => {
  let dir: string;
  const clock = new FakeClock();
  const uid = 'uid-1';
  const pod: Pod = {
    metadata: { name: 'p', namespace: 'default', uid },
    spec: {
      initContainers: [{ name: 'init' }],
      containers: [{ name: 'app' }, { name: 'side' }],
      volumes: [
        { name: 'scratch', emptyDir: {} },
        { name: 'ram', emptyDir: { medium: 'Memory' } },
        { name: 'conf', configMap: { name: 'c' } },
        { name: 'creds', secret: { secretName: 's' } },
        { name: 'info', downwardAPI: {} },
        { name: 'kube-api-access', projected: { sources: [] } },
        { name: 'host', hostPath: { path: '/etc' } },
        { name: 'unset', configMap: { name: 'never-set-up' } },
      ],
    },
  };
  let cache: PodStorageCache;
  let upper: (c: string) => string;
  let logs: (c: string) => string;
  let walks = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-pod-storage-'));
    upper = (c) => join(dir, 'snapshots', c, 'fs');
    logs = (c) => join(dir, 'logs', c);
    for (const c of ['app', 'init']) {
      await mkdir(join(upper(c), 'tmp', 'deep'), { recursive: true });
      await writeFile(join(upper(c), 'tmp', 'deep', 'a'), Buffer.alloc(c === 'app' ? 200_000 : 5_000, 1));
      await mkdir(logs(c), { recursive: true });
      await writeFile(join(logs(c), '0.log'), 'line\n'.repeat(2000));
    }
    const ed = volumeDir(dir, uid, 'empty-dir', 'scratch');
    await mkdir(join(ed, 'sub'), { recursive: true });
    await writeFile(join(ed, 'sub', 'big'), Buffer.alloc(1_000_000, 7));
    await link(join(ed, 'sub', 'big'), join(ed, 'again'));
    // the other agent-managed volumes as volumes/set-up.ts lays them out (atomic writer: ..data → timestamped dir)
    for (const [plugin, name, size] of [['empty-dir', 'ram', 10_000], ['configmap', 'conf', 20_000], ['secret', 'creds', 30_000], ['downward-api', 'info', 3_000], ['projected', 'kube-api-access', 4_000]] as const) {
      const vd = volumeDir(dir, uid, plugin, name);
      await mkdir(join(vd, '..2026_01_01'), { recursive: true });
      await writeFile(join(vd, '..2026_01_01', 'key'), Buffer.alloc(size, 3));
    }
    await mkdir(join(dir, 'pods', uid, 'sandbox'), { recursive: true });
    await writeFile(etcHostsPath(dir, uid), '127.0.0.1\tlocalhost\n10.0.0.5\tp\n');
    const snapshotter = { mounts: async (id: string) => [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/x', `upperdir=${upper(id)}`, 'workdir=/w'] }] } as unknown as Snapshotter;
    cache = new PodStorageCache({
      // `side` has no container yet
      pods: { locate: (_ns, _n, c) => (c === 'side' ? undefined : (walks++, { id: (c ?? '') as ContainerId, logDir: logs(c ?? '') })) },
      snapshotter,
      dataDir: dir,
      clock,
      logger: silentLogger(),
    });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('each container\'s writable layer and logs, each agent-managed volume, the hosts file: du\'s figures', async () => {
    const st = (await cache.get([pod], new AbortController().signal)).get(uid);
    assert.ok(st);
    assert.deepEqual(st.containers.map((c) => c.name), ['init', 'app']);
    for (const c of st.containers) {
      assert.deepEqual(c.rootfs, du(upper(c.name)), `${c.name} rootfs`);
      assert.deepEqual(c.logs, du(logs(c.name)), `${c.name} logs`);
    }
    // upstream's du-metered plugins, in spec order; hostPath has no metrics, a volume not set up none yet
    assert.deepEqual(Object.keys(st.volumes), ['scratch', 'ram', 'conf', 'creds', 'info', 'kube-api-access']);
    const plugins: Record<string, string> = { scratch: 'empty-dir', ram: 'empty-dir', conf: 'configmap', creds: 'secret', info: 'downward-api', 'kube-api-access': 'projected' };
    for (const [name, plugin] of Object.entries(plugins)) assert.deepEqual({ ...st.volumes[name] }, { ...du(volumeDir(dir, uid, plugin, name)), ephemeral: st.volumes[name].ephemeral }, name);
    assert.deepEqual(
      Object.entries(st.volumes).filter(([, v]) => v.ephemeral).map(([n]) => n),
      ['scratch', 'conf'],
      'ephemeral storage: a disk-backed emptyDir and a configMap (upstream IsLocalEphemeralVolume); tmpfs-backed kinds upstream are not',
    );
    assert.ok(st.volumes.scratch.bytes >= 1_000_000 && st.volumes.scratch.bytes < 2_000_000, 'a hard link counted once');
    assert.deepEqual(st.etcHosts, { ...du(etcHostsPath(dir, uid)), inodes: 1 }, 'the hosts file');
  });

  it('cached for the refresh period (no walk per request); maxAgeMs 0 walks now; a refresh period later it walks again', async () => {
    const signal = new AbortController().signal;
    const before = walks;
    await writeFile(join(upper('app'), 'more'), Buffer.alloc(300_000, 2));
    const cached = (await cache.get([pod], signal)).get(uid);
    assert.equal(walks, before, 'no walk');
    assert.notDeepEqual(cached?.containers[1].rootfs, du(upper('app')), 'the cached figure');
    const fresh = (await cache.get([pod], signal, { maxAgeMs: 0 })).get(uid);
    assert.deepEqual(fresh?.containers[1].rootfs, du(upper('app')));
    await writeFile(join(upper('app'), 'more2'), Buffer.alloc(100_000, 2));
    clock.advance(30_000);
    assert.notDeepEqual((await cache.get([pod], signal)).get(uid)?.containers[1].rootfs, du(upper('app')), 'half a period: cached');
    clock.advance(31_000);
    assert.deepEqual((await cache.get([pod], signal)).get(uid)?.containers[1].rootfs, du(upper('app')), 'past the period: walked');
    // two asking at once: one walk
    const n = walks;
    await Promise.all([cache.get([pod], signal, { maxAgeMs: 0 }), cache.get([pod], signal, { maxAgeMs: 0 })]);
    assert.equal(walks - n, 2, 'one walk (two containers located)');
  });

  it('/stats/summary: containers\' rootfs and logs, every volume, the ephemeral ones and the hosts file in the sum as the pod\'s ephemeral-storage, against the node filesystem', async () => {
    const st = (await cache.get([pod], new AbortController().signal)).get(uid)!;
    const nodeFs = { capacityBytes: 100e9, availableBytes: 40e9, usedBytes: 60e9, inodes: 1e6, inodesFree: 9e5, inodesUsed: 1e5 };
    const t = new Date(0);
    const stats = { timestamp: t, cpu: { usageCoreNanoSeconds: 1 }, memory: { usageBytes: 1, workingSetBytes: 1, rssBytes: 1 } };
    const sample: StatsSample = {
      nodeName: 'n',
      node: { timestamp: t, startTime: t, fs: nodeFs },
      pods: [{ name: 'p', namespace: 'default', uid, handler: 'runc', containers: [{ name: 'app', id: 'app' as ContainerId, image: 'i', stats }], storage: st }],
    };
    const sp = toSummary(sample).pods[0];
    const app = st.containers.find((c) => c.name === 'app')!;
    const fsOf = (u: FsUsage) => ({ time: new Date(st.time).toISOString(), usedBytes: u.bytes, inodesUsed: u.inodes, availableBytes: 40e9, capacityBytes: 100e9, inodesFree: 9e5, inodes: 1e6 });
    assert.deepEqual(sp.containers[0].rootfs, fsOf(app.rootfs!));
    assert.deepEqual(sp.containers[0].logs, fsOf(app.logs!));
    assert.deepEqual(sp.volume, Object.entries(st.volumes).map(([name, v]) => ({ ...fsOf(v), name })), 'every volume, by its spec name');
    assert.deepEqual(sp.volume?.map((v) => v.name), ['scratch', 'ram', 'conf', 'creds', 'info', 'kube-api-access']);
    const all = [upper('app'), upper('init'), logs('app'), logs('init'), volumeDir(dir, uid, 'empty-dir', 'scratch'), volumeDir(dir, uid, 'configmap', 'conf')].map(du);
    const hosts = du(etcHostsPath(dir, uid));
    const sum = [...all, { bytes: hosts.bytes, inodes: 1 }].reduce((a, b) => ({ bytes: a.bytes + b.bytes, inodes: a.inodes + b.inodes }));
    assert.deepEqual(sp['ephemeral-storage'], fsOf(sum), 'every container (an init container\'s layer too), the disk-backed emptyDir and configMap, the hosts file');
  });
});

describe('local-path PVC volumes in the pod storage figures', () => {
  let dir: string;
  after(() => rm(dir, { recursive: true, force: true }));

  it('listed with their claim (pvcRef) and du\'s figures of the PV directory; not in ephemeral-storage', async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-pod-storage-pvc-'));
    const uid = 'uid-pvc';
    const pod: Pod = {
      metadata: { name: 'db', namespace: 'prod', uid },
      spec: {
        containers: [{ name: 'app' }],
        volumes: [
          { name: 'data', persistentVolumeClaim: { claimName: 'data-db' } },
          { name: 'scratch', emptyDir: {} },
          { name: 'cache', ephemeral: { volumeClaimTemplate: { spec: {} } } },
          { name: 'pending', persistentVolumeClaim: { claimName: 'not-bound-yet' } },
        ],
      },
    };
    const pv = (h: string): string => join(dir, 'local-path', h);
    await mkdir(join(pv('pvc-1'), 'tables'), { recursive: true });
    await writeFile(join(pv('pvc-1'), 'tables', 't1'), Buffer.alloc(700_000, 1));
    await link(join(pv('pvc-1'), 'tables', 't1'), join(pv('pvc-1'), 't1-again'));
    await mkdir(pv('pvc-2'), { recursive: true });
    await writeFile(join(pv('pvc-2'), 'c'), Buffer.alloc(50_000, 2));
    const ed = volumeDir(dir, uid, 'empty-dir', 'scratch');
    await mkdir(ed, { recursive: true });
    await writeFile(join(ed, 'x'), Buffer.alloc(10_000, 3));
    const layer = join(dir, 'upper');
    const logDir = join(dir, 'logs');
    await mkdir(layer, { recursive: true });
    await mkdir(logDir, { recursive: true });
    const cache = new PodStorageCache({
      pods: {
        locate: () => ({ id: 'app' as ContainerId, logDir }),
        // what PodSync hands over once the pod's volumes are set up: 'pending' is not
        localPathClaims: (u) =>
          u === uid
            ? [
                { name: 'data', hostPath: pv('pvc-1'), claim: { name: 'data-db', namespace: 'prod' } },
                { name: 'cache', hostPath: pv('pvc-2'), claim: { name: 'db-cache', namespace: 'prod' } },
              ]
            : [],
      },
      snapshotter: { mounts: async () => [{ type: 'bind', source: layer, options: ['rw'] }] } as unknown as Snapshotter,
      dataDir: dir,
      clock: new FakeClock(),
      logger: silentLogger(),
    });
    const st = (await cache.get([pod], new AbortController().signal)).get(uid)!;
    assert.deepEqual(Object.keys(st.volumes), ['scratch', 'data', 'cache']);
    assert.deepEqual({ ...st.volumes.data }, { ...du(pv('pvc-1')), ephemeral: false, pvcRef: { name: 'data-db', namespace: 'prod' } });
    assert.deepEqual({ ...st.volumes.cache }, { ...du(pv('pvc-2')), ephemeral: false, pvcRef: { name: 'db-cache', namespace: 'prod' } });
    assert.ok(st.volumes.data.bytes >= 700_000 && st.volumes.data.bytes < 1_400_000, 'a hard link counted once');

    const nodeFs = { capacityBytes: 100e9, availableBytes: 40e9, usedBytes: 60e9, inodes: 1e6, inodesFree: 9e5, inodesUsed: 1e5 };
    const t = new Date(0);
    const stats = { timestamp: t, cpu: { usageCoreNanoSeconds: 1 }, memory: { usageBytes: 1, workingSetBytes: 1, rssBytes: 1 } };
    const sp = toSummary({ nodeName: 'n', node: { timestamp: t, startTime: t, fs: nodeFs }, pods: [{ name: 'db', namespace: 'prod', uid, handler: 'runc', containers: [{ name: 'app', id: 'app' as ContainerId, image: 'i', stats }], storage: st }] }).pods[0];
    const data = sp.volume?.find((v) => v.name === 'data');
    assert.deepEqual(data?.pvcRef, { name: 'data-db', namespace: 'prod' });
    assert.equal(data?.usedBytes, du(pv('pvc-1')).bytes);
    assert.equal(sp.volume?.find((v) => v.name === 'scratch')?.pvcRef, undefined, 'no pvcRef on an emptyDir');
    // upstream's calcEphemeralStorage: the writable layer, logs and the disk-backed emptyDir, not the claims
    const sum = [du(layer), du(logDir), du(ed)].reduce((a, b) => ({ bytes: a.bytes + b.bytes, inodes: a.inodes + b.inodes }));
    assert.equal(sp['ephemeral-storage']?.usedBytes, sum.bytes);
    assert.equal(sp['ephemeral-storage']?.inodesUsed, sum.inodes);
  });
});
