/**
 * The per-sandbox writable disk: a sparse ext4 file made at createSandbox and attached at VM start
 * (virtio-blk: the guest's only one, so /dev/vda). The guest puts each container's overlay
 * upper/work and the pod's disk emptyDirs on it, so the writable layer no longer takes guest RAM.
 * It goes with the sandbox's directory.
 */
import { open } from 'node:fs/promises';
import { runChecked } from '../../host/run-command.ts';
import type { SandboxConfig } from '../types.ts';

/** the guest device the disk appears as */
export const SANDBOX_DISK_GUEST_DEVICE = '/dev/vda';
export const DEFAULT_SANDBOX_DISK_BYTES = 1024 * 1024 * 1024;
/** below this ext4's own metadata crowds out the data */
const MIN_DISK_BYTES = 64 * 1024 * 1024;

/**
 * The pod's ephemeral-storage limit when the sandbox config carries one (`resources.ephemeralStorageBytes`,
 * not filled by podsync yet), else `defaultBytes`. The file is sparse: the size is a cap, not a cost.
 */
export function sandboxDiskBytes(cfg: SandboxConfig, defaultBytes = DEFAULT_SANDBOX_DISK_BYTES): number {
  const r: SandboxConfig['resources'] & { ephemeralStorageBytes?: number } = cfg.resources;
  const want = r.ephemeralStorageBytes ?? defaultBytes;
  return Math.ceil(Math.max(MIN_DISK_BYTES, want) / 4096) * 4096;
}

export async function createSandboxDisk(o: { path: string; sizeBytes: number; signal: AbortSignal }): Promise<void> {
  const f = await open(o.path, 'w', 0o600);
  try {
    await f.truncate(o.sizeBytes);
  } finally {
    await f.close();
  }
  // no journal: the disk lives and dies with one VM. Lazy init leaves the inode tables to the
  // sparse zeros (the guest mounts with noinit_itable): ~650 KiB of the file is written.
  await runChecked(
    'mkfs.ext4',
    ['-q', '-F', '-b', '4096', '-m', '0', '-O', '^has_journal', '-E', 'lazy_itable_init=1,lazy_journal_init=1,nodiscard', '-L', 'hedge-sandbox', o.path],
    { signal: o.signal, timeoutMs: 60_000 },
  );
}
