/**
 * Which accelerator microVMs run with on this host: KVM only if a real guest boots with it (a
 * PVM /dev/kvm opens fine but cannot run a stock kernel), else TCG. The answer is cached per
 * host kernel in <stateDir>/accel.json.
 */
import { constants } from 'node:fs';
import { access, mkdir, readFile, rm } from 'node:fs/promises';
import { release as hostRelease } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../../lib/log.ts';
import { writeFileAtomic } from '../../host/atomic-fs.ts';
import { killAndWait } from '../../host/process.ts';
import { GuestAgentClient } from './agent-client.ts';
import { launchVm, type Accelerator, type GuestArtifacts } from './vm.ts';

const KVM_PROBE_TIMEOUT_MS = 8_000;

export async function probeAccelerator(o: {
  stateDir: string;
  launch: { qemuBinary: string; guest: GuestArtifacts; seccomp: boolean };
  logger: Logger;
  signal: AbortSignal;
}): Promise<Accelerator> {
  const cacheFile = join(o.stateDir, 'accel.json');
  try {
    const c = JSON.parse(await readFile(cacheFile, 'utf8')) as { hostKernel: string; accelerator: Accelerator };
    if (c.hostKernel === hostRelease()) return c.accelerator;
  } catch {
    /* probe */
  }
  let accel: Accelerator = 'tcg';
  const kvmOk = await access('/dev/kvm', constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
  if (kvmOk) {
    const dir = join(o.stateDir, 'probe');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    let pid: number | undefined;
    const qmpSocket = join(dir, 'q');
    const agentSocket = join(dir, 'a');
    try {
      pid = await launchVm(
        { ...o.launch, name: 'hedge-kvm-probe', dir, qmpSocket, agentSocket, accelerator: 'kvm', memoryMiB: 128, cpus: 1 },
        o.signal,
      );
      const c = await GuestAgentClient.connect(agentSocket, { timeoutMs: KVM_PROBE_TIMEOUT_MS, signal: o.signal });
      c.close();
      accel = 'kvm';
    } catch (err) {
      o.logger.info({ err: (err as Error).message }, 'KVM cannot boot the guest here; using TCG');
    } finally {
      if (pid) await killAndWait(pid, o.signal);
      await rm(dir, { recursive: true, force: true });
    }
  }
  await mkdir(o.stateDir, { recursive: true });
  await writeFileAtomic(cacheFile, JSON.stringify({ hostKernel: hostRelease(), accelerator: accel }));
  o.logger.info({ accelerator: accel }, 'microVM accelerator');
  return accel;
}
