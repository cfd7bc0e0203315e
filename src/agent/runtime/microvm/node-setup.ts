/**
 * What `hedge node` needs to offer the `microvm` handler: qemu, a guest built by
 * scripts/build-guest.sh (a cache hit when its inputs did not change, ~6 s otherwise; the tailored
 * kernel when scripts/build-guest-kernel.sh has built it, else Debian's, unless HEDGE_GUEST_KERNEL
 * says otherwise), and the
 * accelerator VMs will use (detected once per host kernel, cached in the handler's state dir).
 * A node that starts on Debian's kernel switches new sandboxes to the tailored one as soon as it is
 * built (scripts/setup.sh starts that build in the background; src/guest/README.md).
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Logger } from '../../../lib/log.ts';
import { buildGuest } from './guest-artifacts.ts';
import { MicroVmRuntimeHandler } from './microvm-handler.ts';
import type { Accelerator, GuestArtifacts, GuestKernel } from './vm.ts';

/** node label naming the accelerator microVMs run with on this node (kvm | tcg) */
export const MICROVM_ACCELERATOR_LABEL = 'hedge.io/microvm-accelerator';

export interface MicroVmNodeOptions {
  /** handler state (VMs, sockets, rootfs images, accel.json) */
  stateDir: string;
  /** build/cache root of the guest kernel + initramfs */
  guestDir: string;
  accelerator: Accelerator | 'auto';
  /** a sandbox's qemu start → guest agent hello (MicroVmHandlerOptions.bootTimeoutMs) */
  bootTimeoutMs?: number;
  cgroupRoot?: string;
  qemuBinary?: string;
  logger: Logger;
  signal: AbortSignal;
  /**
   * While sandboxes boot Debian's kernel, look this often (default 60 s; 0: never) for the
   * tailored kernel (a background scripts/build-guest-kernel.sh) and switch new sandboxes to it
   */
  guestUpgradeIntervalMs?: number;
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
  const opts = { stateDir: o.stateDir, guest, qemuBinary: qemu, accelerator: o.accelerator, logger: o.logger, bootTimeoutMs: o.bootTimeoutMs };
  const handler = new MicroVmRuntimeHandler(o.cgroupRoot ? { ...opts, cgroupRoot: o.cgroupRoot } : opts);
  try {
    const accelerator = await handler.detectAccelerator(o.signal);
    const every = o.guestUpgradeIntervalMs ?? 60_000;
    if ((guest.kernel ?? 'debian') === 'debian' && every > 0) {
      watchForTailoredGuest({ handler, intervalMs: every, logger: o.logger, build: (signal) => buildGuest({ outRoot: o.guestDir, signal }) });
    }
    return { ok: true, handler, accelerator, kernelVersion: guest.kernelVersion, kernel: guest.kernel ?? 'debian' };
  } catch (err) {
    return { ok: false, reason: `accelerator detection failed: ${(err as Error).message}` };
  }
}

/**
 * Polls `build` (scripts/build-guest.sh: a cache hit costs a hash of its inputs) until it yields the
 * tailored kernel, then hands it to the handler for new sandboxes and stops. The timer does not
 * keep the process alive; `stop()` ends it early.
 */
export function watchForTailoredGuest(o: {
  handler: { useGuest(g: GuestArtifacts): void };
  build: (signal: AbortSignal) => Promise<GuestArtifacts>;
  intervalMs: number;
  logger: Logger;
}): { stop(): void } {
  let busy = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    o.build(AbortSignal.timeout(300_000))
      .then((g) => {
        if (g.kernel !== 'tailored' || stopped) return;
        stopped = true;
        clearInterval(timer);
        o.handler.useGuest(g);
        o.logger.info({ guestKernel: g.kernelVersion }, 'tailored guest kernel built: new microVM sandboxes boot it');
      })
      .catch((err: unknown) => o.logger.warn({ err }, 'looking for the tailored guest kernel failed'))
      .finally(() => (busy = false));
  }, o.intervalMs);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
