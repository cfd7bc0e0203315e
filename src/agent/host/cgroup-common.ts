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

/** `dir` and every cgroup below it, children first (a cgroup is removed by rmdir once empty of children) */
export async function removeTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
  try {
    await rmdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
