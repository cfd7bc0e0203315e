import { existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { addNetns, missingTools } from '../../oci/test-support.ts';

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

/**
 * A pod netns `ns` with `eth0` (pod IP /24, MTU 1400, default route) whose veth peer `hostVeth`
 * on the host holds the gateway: what CNI would have set up before the microVM handler runs.
 */
export function addPodNetns(ns: string, hostVeth: string, net: { pod: string; gw: string }): void {
  addNetns(ns);
  execFileSync('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  execFileSync('ip', ['addr', 'add', `${net.gw}/24`, 'dev', hostVeth]);
  execFileSync('ip', ['link', 'set', hostVeth, 'up']);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'eth0', 'mtu', '1400', 'up']);
  execFileSync('ip', ['-n', ns, 'addr', 'add', `${net.pod}/24`, 'dev', 'eth0']);
  execFileSync('ip', ['-n', ns, 'route', 'add', 'default', 'via', net.gw]);
}
