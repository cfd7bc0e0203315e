/**
 * Read-only ext4 block images of container root filesystems, built once per image (keyed by the
 * image digest and the snapshot mounts) and shared by every VM that runs the image: qemu opens
 * them read-only, the guest puts a tmpfs upper on top with overlayfs. No device-mapper here
 * (docs/host-notes.md), so this stands in for a block snapshotter.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HedgeError } from '../../../lib/errors.ts';
import type { Mount } from '../../snapshot/types.ts';
import { pathExists } from '../../host/atomic-fs.ts';
import { runChecked, runCommand } from '../../host/run-command.ts';

export interface RootfsImage {
  path: string;
  fstype: 'ext4' | 'erofs';
  sizeBytes: number;
}

export function rootfsImageKey(digest: string, rootfs: Mount[]): string {
  return createHash('sha256').update(digest).update('\0').update(JSON.stringify(rootfs)).digest('hex').slice(0, 24);
}

/** allocated bytes (not apparent sizes: every small file takes a whole block) and inodes of a tree */
async function treeUsage(dir: string, signal: AbortSignal): Promise<{ bytes: number; inodes: number }> {
  const first = (out: string): number => Number(out.split(/\s/)[0] ?? 0);
  const bytes = first((await runChecked('du', ['-s', '-B1', dir], { signal })).stdout);
  const inodes = first((await runChecked('du', ['-s', '--inodes', dir], { signal })).stdout);
  return { bytes, inodes };
}

/**
 * mkfs.ext4 -d copies the tree into the image without mounting it (no loop device needed), with
 * owners, modes (setuid included), xattrs (file capabilities), hard links and symlinks as they are.
 */
async function mkfsFromDir(dir: string, out: string, signal: AbortSignal): Promise<void> {
  const { bytes, inodes } = await treeUsage(dir, signal);
  // ext4 metadata and block rounding: 30 % + 256 bytes per inode + 16 MiB keeps small images from filling up;
  // the inode count is set from the tree, so an image of many tiny files does not run out of inodes
  const size = Math.ceil((bytes * 1.3 + inodes * 256 + 16 * 1024 * 1024) / 4096) * 4096;
  const nInodes = Math.ceil(inodes * 1.25) + 1024;
  await runChecked('mkfs.ext4', ['-q', '-F', '-b', '4096', '-N', String(nInodes), '-O', '^has_journal', '-m', '0', '-L', 'rootfs', '-d', dir, out, `${size / 1024}k`], {
    signal,
    timeoutMs: 300_000,
  });
}

export async function ensureRootfsImage(o: { imagesDir: string; digest: string; rootfs: Mount[]; signal: AbortSignal }): Promise<RootfsImage> {
  const [first] = o.rootfs;
  if (!first) throw new HedgeError('Invalid', 'container has no rootfs mount');
  // a block snapshotter can hand over an image directly
  if (o.rootfs.length === 1 && (first.type === 'ext4' || first.type === 'erofs')) {
    return { path: first.source, fstype: first.type, sizeBytes: (await stat(first.source)).size };
  }
  const key = rootfsImageKey(o.digest, o.rootfs);
  const path = join(o.imagesDir, `${key}.ext4`);
  if (await pathExists(path)) return { path, fstype: 'ext4', sizeBytes: (await stat(path)).size };
  await mkdir(o.imagesDir, { recursive: true });
  const tmp = await mkdtemp(join(o.imagesDir, '.build-'));
  try {
    const img = join(tmp, 'image.ext4');
    if (o.rootfs.length === 1 && first.type === 'bind') {
      await mkfsFromDir(first.source, img, o.signal);
    } else if (o.rootfs.length === 1 && first.type === 'overlay') {
      // flatten the overlay by mounting it read-only for the copy
      const mnt = join(tmp, 'mnt');
      await mkdir(mnt);
      const opts = first.options.filter((x) => !x.startsWith('upperdir=') && !x.startsWith('workdir=')).concat('ro');
      const upper = first.options.find((x) => x.startsWith('upperdir='))?.slice('upperdir='.length);
      const lower = first.options.find((x) => x.startsWith('lowerdir='))?.slice('lowerdir='.length);
      const lowers = [upper, lower].filter((x): x is string => !!x).join(':');
      await runChecked('mount', ['-t', 'overlay', 'overlay', '-o', opts.filter((x) => !x.startsWith('lowerdir=')).concat(`lowerdir=${lowers}`).join(','), mnt], { signal: o.signal });
      try {
        await mkfsFromDir(mnt, img, o.signal);
      } finally {
        await runCommand('umount', [mnt], { signal: o.signal, timeoutMs: 10_000 });
      }
    } else {
      throw new HedgeError('Invalid', `microvm: unsupported rootfs mounts ${JSON.stringify(o.rootfs.map((m) => m.type))}`);
    }
    await rename(img, path);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { path, fstype: 'ext4', sizeBytes: (await stat(path)).size };
}
