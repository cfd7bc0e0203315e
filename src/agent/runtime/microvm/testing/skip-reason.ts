import { existsSync, readdirSync } from 'node:fs';
import { missingTools } from '../../oci/test-support.ts';

/** Why the microVM tests cannot run on this host, or undefined when they can. */
export function microvmSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  const miss = missingTools(['qemu-system-x86_64', 'mkfs.ext4', 'busybox', 'xz', 'ip', 'tc', 'nsenter']);
  if (miss.length) return `missing ${miss.join(', ')}`;
  if (missingTools(['musl-gcc']).length && missingTools(['gcc']).length) return 'needs gcc or musl-gcc for the guest agent';
  const kernels = existsSync('/usr/lib/modules') ? readdirSync('/usr/lib/modules').filter((k) => existsSync(`/boot/vmlinuz-${k}`)) : [];
  if (!kernels.length) return 'no guest kernel: apt-get install --no-install-recommends linux-image-amd64';
  return undefined;
}
