/**
 * The RuntimeHandler contract (../contract.ts) on the OCI handler with runc, crun and runsc under
 * conmon. Needs root, conmon and busybox-static; each runtime skips with the reason when its
 * binary is missing. crun runs through the handler's own hybrid-cgroup wrapper (unshare).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../lib/log.ts';
import { runRuntimeContract, workloadCommand } from '../contract.ts';
import { removePodCgroup } from '../../host/cgroup.ts';
import { Spawner } from '../../host/spawner.ts';
import type { ContainerConfig, SandboxId } from '../types.ts';
import { OciRuntimeHandler } from './oci-handler.ts';
import type { OciRuntimeKind } from './spec.ts';
import { addNetns, canRunContainers, containerConfig, delNetns, makeBusyboxRootfs, sandboxConfig } from './test-support.ts';

const CASES: { kind: OciRuntimeKind; handlerName: string; binary: string; globalArgs: string[]; spawner?: boolean }[] = [
  { kind: 'runc', handlerName: 'runc', binary: '/usr/sbin/runc', globalArgs: [] },
  // as `hedge node` runs it: overlay rootfs mounted and conmon started by the spawner
  { kind: 'runc', handlerName: 'runc', binary: '/usr/sbin/runc', globalArgs: [], spawner: true },
  { kind: 'crun', handlerName: 'crun', binary: '/usr/bin/crun', globalArgs: [] },
  { kind: 'runsc', handlerName: 'gvisor', binary: '/usr/bin/runsc', globalArgs: ['--network=host', '--platform=ptrace'] },
];

for (const rc of CASES) {
  const name = `oci/${rc.kind}${rc.spawner ? ' (spawner, overlay rootfs)' : ''}`;
  const skip = canRunContainers() ?? (existsSync(rc.binary) ? undefined : `${rc.binary} not installed`) ?? (rc.spawner && !new Spawner().available ? 'no spawner here (perl)' : undefined);
  if (skip) console.log(`# RuntimeHandler contract: ${name} skipped: ${skip}`);
  runRuntimeContract(
    name,
    async () => {
      const suffix = randomBytes(4).toString('hex');
      const tmp = mkdtempSync(join(tmpdir(), `hedge-rtc-${rc.kind}-`));
      const rootfs = makeBusyboxRootfs(join(tmp, 'rootfs'));
      const netnsName = `hedge-rtc-${rc.kind}-${suffix}`;
      const netnsPath = addNetns(netnsName);
      const cgroupTop = `hedge-rtc-${suffix}`;
      const sandboxId = `sb-${suffix}` as SandboxId;
      const spawner = rc.spawner ? new Spawner() : undefined;
      const handler = new OciRuntimeHandler({
        name: rc.handlerName,
        runtime: { binary: rc.binary, kind: rc.kind, globalArgs: rc.globalArgs },
        stateDir: join(tmp, 'state'),
        conmonBinary: 'conmon',
        logger: silentLogger(),
        ...(spawner ? { spawner } : {}),
      });
      const rootfsOf = (id: string): ContainerConfig['rootfs'] => {
        if (!spawner) return [{ type: 'bind', source: rootfs, options: ['rbind', 'rw'] }];
        const snap = join(tmp, 'snapshots', id);
        for (const d of ['upper', 'work']) mkdirSync(join(snap, d), { recursive: true });
        return [{ type: 'overlay', source: 'overlay', options: ['index=off', `workdir=${snap}/work`, `upperdir=${snap}/upper`, `lowerdir=${rootfs}`] }];
      };
      return {
        handler,
        sandbox: sandboxConfig({ id: sandboxId, stateDir: join(tmp, 'sandbox'), netnsPath, cgroupParent: `${cgroupTop}/pod` }),
        container: ({ id, workload, labels, annotations }) => ({
          ...containerConfig({ id, sandboxId, rootfs, command: workloadCommand(workload, id), logPath: join(tmp, 'logs', `${id}.log`) }),
          rootfs: rootfsOf(id),
          labels,
          annotations,
        }),
        cleanup: async () => {
          // a container left created-but-never-started (runsc ignores its kill) keeps its conmon: stop both by PID
          const containers = join(tmp, 'state', 'containers');
          for (const id of existsSync(containers) ? readdirSync(containers) : []) {
            for (const f of ['pid', 'conmon.pid']) {
              const pid = Number(existsSync(join(containers, id, f)) ? readFileSync(join(containers, id, f), 'utf8').trim() : NaN);
              if (pid > 1) {
                try {
                  process.kill(pid, 'SIGKILL');
                } catch {
                  /* already gone */
                }
              }
            }
          }
          delNetns(netnsName);
          // every hierarchy (cgroup2's unified too, where runc mirrors the pod), children first
          await removePodCgroup({ cgroupRoot: '/sys/fs/cgroup', cgroupParent: cgroupTop });
          spawner?.close();
          rmSync(tmp, { recursive: true, force: true });
        },
      };
    },
    { skip },
  );
}
