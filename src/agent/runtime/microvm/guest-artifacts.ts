/** Locating (and, for tests and benchmarks, building) the guest kernel + initramfs of scripts/build-guest.sh. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HedgeError } from '../../../lib/errors.ts';
import type { GuestArtifacts } from './vm.ts';

export async function findGuestArtifacts(buildDir: string): Promise<GuestArtifacts> {
  const m = JSON.parse(await readFile(join(buildDir, 'manifest.json'), 'utf8')) as { kernelVersion: string; vmlinux: string; initrd: string };
  return { vmlinux: join(buildDir, m.vmlinux), initrd: join(buildDir, m.initrd), kernelVersion: m.kernelVersion };
}

/** Runs scripts/build-guest.sh (a cache hit returns at once) and returns what it built. */
export async function buildGuest(o: { outRoot: string; signal: AbortSignal }): Promise<GuestArtifacts> {
  const script = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../scripts/build-guest.sh');
  const dir = await new Promise<string>((res, rej) => {
    execFile(script, [], { env: { ...process.env, HEDGE_GUEST_DIR: o.outRoot }, signal: o.signal, timeout: 300_000 }, (err, stdout, stderr) => {
      if (err) rej(new HedgeError('Internal', `build-guest.sh failed: ${stderr.trim() || err.message}`, { cause: err }));
      else res(stdout.trim().split('\n').pop() ?? '');
    });
  });
  return findGuestArtifacts(dir);
}
