/**
 * The pod-level cgroup on cgroup v2 (the unified hierarchy): one directory `<root>/<parent>`
 * holding the pod limits (incl. RuntimeClass overhead); the runtimes put each container below it
 * at <parent>/<containerId> (runc's fs2 enables the controllers in the pod's own
 * cgroup.subtree_control when it makes the first one).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathExists } from './atomic-fs.ts';
import { milliCpuToShares, removeTree, type PodCgroupOptions } from './cgroup-common.ts';

/** the controllers a pod's limits and stats need in each ancestor's cgroup.subtree_control */
export const POD_CONTROLLERS_V2 = ['cpu', 'memory', 'pids', 'io'] as const;

/**
 * A leaf below the pod cgroup for the processes the agent starts in the pod itself (the shared
 * PID namespace's holder, a microVM's qemu): v2's "no internal processes" rule refuses a process
 * in a cgroup whose subtree_control has controllers (runc enables them in the pod's for its
 * containers) and refuses enabling them while the cgroup holds one, so neither may sit in the pod
 * cgroup itself. The leaf is still under the pod's limits.
 */
export const POD_PROCS_LEAF = 'pod-procs';

/** cpu.weight for cpu.shares, as runc (ConvertCPUSharesToCgroupV2Value) and the kubelet convert: [2, 262144] → [1, 10000] */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/**
 * `+ctl` for each controller of `want` that is available in `dir` (its cgroup.controllers) and
 * not yet enabled for its children, written to its cgroup.subtree_control: a controller this
 * kernel lacks (or a parent did not pass down) is left out rather than failing the write.
 */
export function enableControllers(dir: string, want: readonly string[]): void {
  const words = (f: string): Set<string> => new Set(readFileSync(join(dir, f), 'utf8').split(/\s+/).filter(Boolean));
  const available = words('cgroup.controllers');
  const enabled = words('cgroup.subtree_control');
  const add = want.filter((c) => available.has(c) && !enabled.has(c));
  if (add.length > 0) writeFileSync(join(dir, 'cgroup.subtree_control'), add.map((c) => `+${c}`).join(' '));
}

/** mkdir `<root>/<path>`, each ancestor from the root down given the controllers its children need */
export function makeCgroupV2(root: string, path: string, controllers: readonly string[] = POD_CONTROLLERS_V2): string {
  const parts = path.split('/').filter(Boolean);
  let dir = root;
  for (const p of parts) {
    enableControllers(dir, controllers);
    dir = join(dir, p);
    mkdirSync(dir, { recursive: true });
  }
  return dir;
}

export async function createPodCgroupV2(opts: PodCgroupOptions): Promise<void> {
  // synchronous, as v1's: a handful of cgroupfs writes on the pod start path
  const dir = makeCgroupV2(opts.cgroupRoot, opts.cgroupParent);
  const { cpuMilli, memoryBytes } = opts.resources;
  const writes: [string, string][] = [];
  if (cpuMilli !== undefined) {
    // the v1 CFS quota and period in one file; shares as a weight
    writes.push([join(dir, 'cpu.max'), `${Math.max(1000, Math.floor(cpuMilli * 100))} 100000`]);
    writes.push([join(dir, 'cpu.weight'), String(cpuSharesToWeight(milliCpuToShares(cpuMilli)))]);
  }
  if (memoryBytes !== undefined) writes.push([join(dir, 'memory.max'), String(memoryBytes)]);
  for (const [file, value] of writes) writeFileSync(file, value);
}

/** Removes `<root>/<parent>` (one hierarchy), children first; EBUSY (live tasks) is reported. */
export async function removePodCgroupV2(opts: { cgroupRoot: string; cgroupParent: string }): Promise<void> {
  await removeTree(join(opts.cgroupRoot, opts.cgroupParent));
}

/** the cgroup.procs of the pod's process leaf (POD_PROCS_LEAF, made here), once the pod cgroup exists */
export async function podCgroupProcsV2(opts: { cgroupRoot: string; cgroupParent: string }): Promise<string[]> {
  const pod = join(opts.cgroupRoot, opts.cgroupParent);
  if (!(await pathExists(join(pod, 'cgroup.procs')))) return [];
  const leaf = join(pod, POD_PROCS_LEAF);
  mkdirSync(leaf, { recursive: true });
  return [join(leaf, 'cgroup.procs')];
}
