/** Locating (and, for tests and benchmarks, building) the guest kernel + initramfs of scripts/build-guest.sh. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HedgeError } from '../../../lib/errors.ts';
import type { GuestArtifacts, GuestKernel } from './vm.ts';

export async function findGuestArtifacts(buildDir: string): Promise<GuestArtifacts> {
  const m = JSON.parse(await readFile(join(buildDir, 'manifest.json'), 'utf8')) as { kernelVersion: string; kernel?: GuestKernel; vmlinux: string; initrd: string };
  return { vmlinux: join(buildDir, m.vmlinux), initrd: join(buildDir, m.initrd), kernelVersion: m.kernelVersion, kernel: m.kernel ?? 'debian' };
}

/**
 * Runs scripts/build-guest.sh (a cache hit returns at once) and returns what it built. `kernel`
 * (default: HEDGE_GUEST_KERNEL, else `auto`): `tailored` needs scripts/build-guest-kernel.sh to
 * have run, `auto` takes it when built and Debian's otherwise; nothing here compiles a kernel.
 */
export async function buildGuest(o: { outRoot: string; signal: AbortSignal; kernel?: GuestKernel | 'auto' }): Promise<GuestArtifacts> {
  const script = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../scripts/build-guest.sh');
  const env = { ...process.env, HEDGE_GUEST_DIR: o.outRoot, ...(o.kernel ? { HEDGE_GUEST_KERNEL: o.kernel } : {}) };
  const dir = await new Promise<string>((res, rej) => {
    execFile(script, [], { env, signal: o.signal, timeout: 300_000 }, (err, stdout, stderr) => {
      if (err) rej(new HedgeError('Internal', `build-guest.sh failed: ${stderr.trim() || err.message}`, { cause: err }));
      else res(stdout.trim().split('\n').pop() ?? '');
    });
  });
  return findGuestArtifacts(dir);
}
