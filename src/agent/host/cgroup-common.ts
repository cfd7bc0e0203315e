/**
 * What the pod cgroup's v1 and v2 modules (cgroup-v1.ts, cgroup-v2.ts) share: the options, the
 * CPU amount's shares, and removing a cgroup tree.
 */
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface PodCgroupOptions {
  cgroupRoot: string;
  cgroupParent: string;
  resources: { cpuMilli?: number; memoryBytes?: number };
}

/** the kernel's cpu.shares for a CPU amount (upstream's MilliCPUToShares: at least 2) */
export function milliCpuToShares(milli: number): number {
  return Math.max(2, Math.floor((milli * 1024) / 1000));
}

/** rmdir's tries on EBUSY and the first wait between them (doubling: ~1.3 s in all) */
const BUSY_TRIES = 8;
const BUSY_FIRST_WAIT_MS = 10;

/**
 * `dir` and every cgroup below it, children first (a cgroup is removed by rmdir once empty of
 * children). A cgroup whose last tasks were just killed can answer EBUSY for a moment while they
 * exit: rmdir is tried again with a doubling wait, as runc's RemovePath does; still busy after
 * that, the error is reported, not swallowed.
 */
export async function removeTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
  for (let attempt = 1, wait = BUSY_FIRST_WAIT_MS; ; attempt++, wait *= 2) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= BUSY_TRIES) throw err;
    }
    await new Promise((r) => setTimeout(r, wait));
  }
}
