/**
 * The pod-level cgroup on cgroup v1: one directory per controller holding the pod limits (incl.
 * RuntimeClass overhead); the runtimes put each container below it at <parent>/<containerId>.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathExists } from './atomic-fs.ts';
import { milliCpuToShares, removeTree, type PodCgroupOptions } from './cgroup-common.ts';

/** controllers we create the pod dir in up front; runc creates the others (cpuset, devices...) itself */
const POD_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'] as const;

export async function createPodCgroupV1(opts: PodCgroupOptions): Promise<void> {
  // synchronous: a handful of cgroupfs mkdirs and writes (a kernel pseudo-filesystem: no disk, no
  // journal, microseconds each) on a pod's start path, where each thread-pool round trip gave the
  // CPU away and waited for it again (sandbox create p50 6–11 → 2 ms at load 5–13)
  for (const ctl of POD_CONTROLLERS) {
    const base = join(opts.cgroupRoot, ctl);
    if (existsSync(base)) mkdirSync(join(base, opts.cgroupParent), { recursive: true });
  }
  const { cpuMilli, memoryBytes } = opts.resources;
  const writes: [string, string][] = [];
  if (cpuMilli !== undefined) {
    const dir = join(opts.cgroupRoot, 'cpu', opts.cgroupParent);
    // the quota is checked against the period: the period first
    writes.push([join(dir, 'cpu.cfs_period_us'), '100000'], [join(dir, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.floor(cpuMilli * 100)))]);
    writes.push([join(dir, 'cpu.shares'), String(milliCpuToShares(cpuMilli))]);
  }
  if (memoryBytes !== undefined) {
    writes.push([join(opts.cgroupRoot, 'memory', opts.cgroupParent, 'memory.limit_in_bytes'), String(memoryBytes)]);
  }
  for (const [file, value] of writes) writeFileSync(file, value);
}

/**
 * Removes <parent> in every mounted hierarchy (incl. the ones a runtime created, and the cgroup2
 * `unified` one where runc mirrors each pod and container on a hybrid host), children first.
 * A cgroup with live tasks cannot be removed (EBUSY): that is reported, not swallowed.
 */
export async function removePodCgroupV1(opts: { cgroupRoot: string; cgroupParent: string }): Promise<void> {
  let hierarchies: string[];
  try {
    hierarchies = await readdir(opts.cgroupRoot);
  } catch {
    return;
  }
  for (const h of hierarchies) await removeTree(join(opts.cgroupRoot, h, opts.cgroupParent));
}

/** the pod's cgroup.procs in each v1 hierarchy it was created in (to start a process straight inside it) */
export async function podCgroupProcsV1(opts: { cgroupRoot: string; cgroupParent: string }): Promise<string[]> {
  const out: string[] = [];
  for (const ctl of POD_CONTROLLERS) {
    const f = join(opts.cgroupRoot, ctl, opts.cgroupParent, 'cgroup.procs');
    if (await pathExists(f)) out.push(f);
  }
  return out;
}
