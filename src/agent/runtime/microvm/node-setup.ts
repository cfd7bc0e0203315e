/**
 * What `hedge node` needs to offer the `microvm` handler: qemu, a guest built by
 * scripts/build-guest.sh (a cache hit when its inputs did not change, ~6 s otherwise; the tailored
 * kernel when scripts/build-guest-kernel.sh has built it, else Debian's, unless HEDGE_GUEST_KERNEL
 * says otherwise), and the
 * accelerator VMs will use (detected once per host kernel, cached in the handler's state dir).
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Logger } from '../../../lib/log.ts';
import { buildGuest } from './guest-artifacts.ts';
import { MicroVmRuntimeHandler } from './microvm-handler.ts';
import type { Accelerator, GuestKernel } from './vm.ts';

/** node label naming the accelerator microVMs run with on this node (kvm | tcg) */
export const MICROVM_ACCELERATOR_LABEL = 'hedge.io/microvm-accelerator';

export interface MicroVmNodeOptions {
  /** handler state (VMs, sockets, rootfs images, accel.json) */
  stateDir: string;
  /** build/cache root of the guest kernel + initramfs */
  guestDir: string;
  accelerator: Accelerator | 'auto';
  cgroupRoot?: string;
  qemuBinary?: string;
  logger: Logger;
  signal: AbortSignal;
}

export type MicroVmNodeSetup =
  | { ok: true; handler: MicroVmRuntimeHandler; accelerator: Accelerator; kernelVersion: string; kernel: GuestKernel }
  | { ok: false; reason: string };

export async function setUpMicroVm(o: MicroVmNodeOptions): Promise<MicroVmNodeSetup> {
  const qemu = o.qemuBinary ?? '/usr/bin/qemu-system-x86_64';
  const ok = await access(qemu, constants.X_OK).then(
    () => true,
    () => false,
  );
  if (!ok) return { ok: false, reason: `${qemu} not found: install qemu-system-x86 (scripts/setup.sh)` };
  let guest;
  try {
    guest = await buildGuest({ outRoot: o.guestDir, signal: o.signal });
  } catch (err) {
    return { ok: false, reason: `no guest kernel: ${(err as Error).message}` };
  }
  const opts = { stateDir: o.stateDir, guest, qemuBinary: qemu, accelerator: o.accelerator, logger: o.logger };
  const handler = new MicroVmRuntimeHandler(o.cgroupRoot ? { ...opts, cgroupRoot: o.cgroupRoot } : opts);
  try {
    const accelerator = await handler.detectAccelerator(o.signal);
    return { ok: true, handler, accelerator, kernelVersion: guest.kernelVersion, kernel: guest.kernel ?? 'debian' };
  } catch (err) {
    return { ok: false, reason: `accelerator detection failed: ${(err as Error).message}` };
  }
}
