/**
 * Builds the guest initramfs (cpio newc, gzip): busybox-static, /init, the guest agent and the
 * kernel modules the Debian kernel keeps out of its image, with their modules.dep closure (none for
 * the tailored kernel, which has everything built in: `modulesDir` null, or `-` on the command line).
 * Run by scripts/build-guest.sh; deterministic for the same inputs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { writeCpio, type CpioEntry } from './cpio.ts';
import { moduleLoadOrder, parseModulesDep } from './modules.ts';

/**
 * virtio-mmio transport, the agent's port, hot-plugged SCSI disks, the sandbox disk (virtio-blk),
 * rootfs filesystems, net, and 9p (the pod's configMap/secret/… volume share, and the
 * block-vs-shared-filesystem comparison in bench/microvm-io.ts: ~150 KB), and virtio_balloon for free
 * page reporting.
 */
export const GUEST_MODULES = [
  'virtio_mmio',
  'virtio_console',
  'virtio_scsi',
  'sd_mod',
  'virtio_blk',
  'virtio_net',
  'crc32c_generic',
  'ext4',
  'erofs',
  'overlay',
  '9p',
  '9pnet_virtio',
  // free page reporting to the host (qemu virtio-balloon-device,free-page-reporting=on)
  'virtio_balloon',
];

export interface BuildInitramfsOptions {
  /** null: a kernel without modules */
  modulesDir: string | null;
  /** absent: an initramfs without the guest agent (test/vm/host-vm.ts boots the host's tree instead) */
  agentBinary?: string;
  busyboxBinary: string;
  initScript: string;
  out: string;
  modules?: string[];
}

function readModule(path: string): { data: Buffer; path: string } {
  const m = /\.ko\.(xz|zst|gz)$/.exec(path);
  if (!m) return { data: readFileSync(path), path };
  const tool = { xz: 'xz', zst: 'zstd', gz: 'gzip' }[m[1] as 'xz' | 'zst' | 'gz'];
  // busybox insmod cannot decompress; store plain .ko
  return { data: execFileSync(tool, ['-dc', path], { maxBuffer: 64 << 20 }), path: path.replace(/\.(xz|zst|gz)$/, '') };
}

export function buildInitramfs(o: BuildInitramfsOptions): { bytes: number; modules: string[] } {
  const entries: CpioEntry[] = [
    { kind: 'file', path: 'init', mode: 0o755, data: readFileSync(o.initScript) },
    { kind: 'file', path: 'bin/busybox', mode: 0o755, data: readFileSync(o.busyboxBinary) },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    ...(o.agentBinary ? [{ kind: 'file', path: 'sbin/hedge-agent', mode: 0o755, data: readFileSync(o.agentBinary) } satisfies CpioEntry] : []),
    { kind: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
    { kind: 'chardev', path: 'dev/null', mode: 0o666, major: 1, minor: 3 },
    ...['proc', 'sys', 'run', 'tmp'].map((d): CpioEntry => ({ kind: 'dir', path: d, mode: 0o755 })),
  ];
  const loaded: string[] = [];
  const dir = o.modulesDir;
  if (dir !== null) {
    const order = moduleLoadOrder(parseModulesDep(readFileSync(join(dir, 'modules.dep'), 'utf8')), o.modules ?? GUEST_MODULES);
    for (const rel of order) {
      const m = readModule(join(dir, rel));
      const relPlain = m.path.slice(dir.length + 1);
      entries.push({ kind: 'file', path: `lib/modules/${relPlain}`, mode: 0o644, data: m.data });
      loaded.push(relPlain);
    }
  }
  entries.push({ kind: 'file', path: 'etc/modules.order', mode: 0o644, data: Buffer.from(`${loaded.join('\n')}\n`) });
  const gz = gzipSync(writeCpio(entries), { level: 9 });
  writeFileSync(o.out, gz);
  return { bytes: gz.length, modules: loaded };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [modulesDir, agentBinary, busyboxBinary, initScript, out] = process.argv.slice(2);
  if (!modulesDir || !agentBinary || !busyboxBinary || !initScript || !out) {
    process.stderr.write('usage: build-initramfs.ts MODULES_DIR|- AGENT BUSYBOX INIT OUT\n');
    process.exit(2);
  }
  const r = buildInitramfs({ modulesDir: modulesDir === '-' ? null : modulesDir, agentBinary, busyboxBinary, initScript, out });
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
