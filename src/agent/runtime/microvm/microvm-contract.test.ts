/**
 * The RuntimeHandler contract (../contract.ts) on the microVM handler: one qemu microVM (TCG here,
 * ~3 s to boot) serves the whole suite. Skips with the reason when root, qemu, the guest kernel,
 * mkfs.ext4, busybox-static or a C compiler for the guest agent is missing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../lib/log.ts';
import { runRuntimeContract, workloadCommand } from '../contract.ts';
import { containerConfig, delNetns, makeBusyboxRootfs, sandboxConfig } from '../oci/test-support.ts';
import type { SandboxId } from '../types.ts';
import { buildGuest } from './guest-artifacts.ts';
import { MicroVmRuntimeHandler } from './index.ts';
import { addPodNetns, microvmSkipReason } from './testing/host.ts';


const skip = microvmSkipReason();
if (skip) console.log(`# RuntimeHandler contract: microvm skipped: ${skip}`);

runRuntimeContract(
  'microvm',
  async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'hedge-rtc-mvm-'));
    const rootfs = makeBusyboxRootfs(join(tmp, 'rootfs'));
    // the guest build is cached across runs by its input hash
    const guest = await buildGuest({ outRoot: join(tmpdir(), 'hedge-guest-cache'), signal: AbortSignal.timeout(300_000) });
    // a pod netns as CNI leaves it: eth0 (veth) with the pod IP, the host end as its gateway
    const ns = `hrtcm${process.pid}`;
    const hostVeth = `hrtch${process.pid}`.slice(0, 15);
    const net = { pod: '10.213.9.2', gw: '10.213.9.1' };
    addPodNetns(ns, hostVeth, net);
    const cgroupTop = `hedge-rtc-mvm-${process.pid}`;
    const sandboxId = 'sb-rtc-mvm' as SandboxId;
    const handler = new MicroVmRuntimeHandler({ stateDir: join(tmp, 'state'), guest, logger: silentLogger(), accelerator: 'auto', memoryOverheadMiB: 32, defaultMemoryMiB: 96 });
    const sandbox = sandboxConfig({ id: sandboxId, stateDir: join(tmp, 'pod', 'sandbox'), cgroupParent: `${cgroupTop}/pod`, netnsPath: `/var/run/netns/${ns}` });
    return {
      handler,
      sandbox: { ...sandbox, resources: { memoryBytes: 224 << 20, cpuMilli: 1000 } },
      container: ({ id, workload, labels, annotations }) => ({
        ...containerConfig({ id, sandboxId, rootfs, command: workloadCommand(workload, id), logPath: join(tmp, 'logs', `${id}.log`) }),
        labels,
        annotations,
      }),
      cleanup: async () => {
        delNetns(ns);
        execFileSync('sh', ['-c', `ip link del ${hostVeth} 2>/dev/null; for c in cpu cpuacct memory pids blkio; do rmdir /sys/fs/cgroup/$c/${cgroupTop}/pod /sys/fs/cgroup/$c/${cgroupTop} 2>/dev/null; done; true`]);
        rmSync(tmp, { recursive: true, force: true });
      },
    };
  },
  { skip, timeoutMs: 180_000 },
);
