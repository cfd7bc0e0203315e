/**
 * A local-path PVC with real runc under conmon (no apiserver: the claim and PV come from the
 * in-memory client, so this runs before the PV API exists): a pod writes into its claim as a
 * non-root user through a subPath, is torn down, the next pod (a new uid, a new sandbox) reads the
 * file, and the node server's DELETE removes the directory once no pod has it mounted.
 * Needs root, runc, conmon and busybox-static; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { FakeClock } from '../../client/clock.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import { silentLogger } from '../../lib/log.ts';
import { waitFor } from '../host/process.ts';
import { OciRuntimeHandler } from '../runtime/oci/oci-handler.ts';
import { addNetns, canRunContainers, containerConfig, delNetns, makeBusyboxRootfs, removeTestCgroupParent, sandboxConfig } from '../runtime/oci/test-support.ts';
import type { ContainerId, SandboxId } from '../runtime/types.ts';
import { startNodeServer } from '../server/node-server.ts';
import { LocalPathVolumes } from './local-path.ts';
import { FakeMounter } from './mounter.ts';
import { setUpPodVolumes } from './set-up.ts';
import { prepareSubPaths } from './sub-path.ts';
import { tearDownPodVolumes } from './tear-down.ts';

const skip = canRunContainers() ?? (existsSync('/usr/sbin/runc') ? undefined : '/usr/sbin/runc not installed');
const signal = (): AbortSignal => AbortSignal.timeout(60_000);

describe('local-path PVC with runc', { skip, concurrency: false }, () => {
  const suffix = randomBytes(4).toString('hex');
  const tmp = mkdtempSync(join(tmpdir(), 'hedge-lp-runc-'));
  const dataDir = join(tmp, 'data');
  const rootfs = makeBusyboxRootfs(join(tmp, 'rootfs'));
  const netnsName = `hedge-lp-${suffix}`;
  const client = new FakeKubeClient();
  const mounter = new FakeMounter();
  const local = new LocalPathVolumes({ dataDir });
  const h = new OciRuntimeHandler({ name: 'runc', runtime: { binary: '/usr/sbin/runc', kind: 'runc', globalArgs: [] }, stateDir: join(tmp, 'state'), conmonBinary: 'conmon', logger: silentLogger() });
  const sandboxes: SandboxId[] = [];

  after(async () => {
    for (const id of sandboxes) await h.removeSandbox(id, signal()).catch(() => undefined);
    delNetns(netnsName);
    removeTestCgroupParent();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** one pod: sandbox, its PVC volume set up, one container run to exit as uid 1000; then torn down */
  const runPod = async (n: number, script: string): Promise<string> => {
    const uid = `pod-${n}-${suffix}`;
    const pod: Pod = { metadata: { name: `db-${n}`, namespace: 'default', uid }, spec: { containers: [], volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }] } };
    const volumes = await setUpPodVolumes({ pod, dataDir, client, mounter, logger: silentLogger(), clock: new FakeClock(), nodeName: 'n', signal: signal(), localPath: local });
    const vm = { name: 'data', mountPath: '/var/lib/db', subPath: 'pgdata' };
    await prepareSubPaths({ name: 'c', volumeMounts: [vm] }, volumes);
    const sandboxId = `sb${n}-${suffix}` as SandboxId;
    sandboxes.push(sandboxId);
    await h.createSandbox(sandboxConfig({ id: sandboxId, stateDir: join(tmp, `sandbox-${n}`), netnsPath: `/var/run/netns/${netnsName}`, cgroupParent: `hedge-test/lp-${n}-${suffix}` }), signal());
    const id = `c${n}-${suffix}` as ContainerId;
    const logPath = join(tmp, 'logs', `${id}.log`);
    const v = volumes.get('data');
    assert.ok(v);
    await h.createContainer(
      {
        ...containerConfig({ id, sandboxId, rootfs, command: ['sh', '-c', script], logPath }),
        user: { uid: 1000, gid: 1000, additionalGids: [] },
        mounts: [{ containerPath: vm.mountPath, hostPath: join(v.hostPath, vm.subPath), readOnly: v.readOnly, type: 'bind' }],
      },
      signal(),
    );
    await h.start(id, signal());
    await waitFor(async () => (await h.status(id, signal())).status.state === 'exited', { timeoutMs: 20_000, signal: signal(), what: 'container exit' });
    const st = (await h.status(id, signal())).status;
    const log = readFileSync(logPath, 'utf8');
    assert.equal(st.state === 'exited' ? st.exitCode : -1, 0, log);
    await h.remove(id, signal());
    await h.removeSandbox(sandboxId, signal());
    await tearDownPodVolumes({ dataDir, uid, mounter, signal: signal() });
    return log;
  };

  test('data written by one pod is there for the next; DELETE removes it once unused', async () => {
    addNetns(netnsName);
    const pvc = await client.create(Resources.persistentvolumeclaims, { metadata: { name: 'data', namespace: 'default' }, spec: { accessModes: ['ReadWriteOnce'], volumeName: `pvc-${suffix}` } } as KubeObject);
    await client.patch(Resources.persistentvolumeclaims, 'data', 'merge', { status: { phase: 'Bound' } }, { namespace: 'default', subresource: 'status' }).catch(async () => {
      await client.patch(Resources.persistentvolumeclaims, 'data', 'merge', { status: { phase: 'Bound' } }, { namespace: 'default' });
    });
    await client.create(Resources.persistentvolumes, {
      metadata: { name: `pvc-${suffix}` },
      spec: { accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' }, csi: { driver: 'local-path.hedge.io', volumeHandle: `pvc-${suffix}` }, claimRef: { namespace: 'default', name: 'data', uid: pvc.metadata.uid } },
    } as KubeObject);

    await runPod(1, 'id -u; echo kept > /var/lib/db/file && echo wrote');
    const dir = join(dataDir, 'local-path', `pvc-${suffix}`);
    assert.equal(readFileSync(join(dir, 'pgdata', 'file'), 'utf8'), 'kept\n', 'on the host, past the pod');
    assert.match(await runPod(2, 'cat /var/lib/db/file'), /stdout F kept/);

    const srv = await startNodeServer({ host: '127.0.0.1', port: 0, auth: { tokens: new Set(['t']), clientCerts: false, authorization: 'AlwaysAllow' }, pods: { pods: () => [], locate: () => undefined }, localPath: local, logger: silentLogger() });
    try {
      const r = await fetch(`http://127.0.0.1:${srv.port}/volumes/local-path/pvc-${suffix}`, { method: 'DELETE', headers: { Authorization: 'Bearer t' } });
      assert.equal(r.status, 200, await r.text());
      assert.equal(existsSync(dir), false);
    } finally {
      await srv.close();
    }
  });
});
