/**
 * The one place that tells cgroup v1 (a hybrid host included) from v2 (the unified hierarchy
 * alone) for a cgroup root, and the pod cgroup's operations that pick cgroup-v1.ts or
 * cgroup-v2.ts by it. Callers use these, not the two modules.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PodCgroupOptions } from './cgroup-common.ts';
import { createPodCgroupV1, podCgroupProcsV1, removePodCgroupV1 } from './cgroup-v1.ts';
import { createPodCgroupV2, podCgroupProcsV2, removePodCgroupV2 } from './cgroup-v2.ts';

export { milliCpuToShares, type PodCgroupOptions } from './cgroup-common.ts';

const unified = new Map<string, boolean>();

/**
 * Whether `root` (e.g. /sys/fs/cgroup) is the cgroup v2 unified hierarchy itself: a cgroup2 root
 * has cgroup.controllers; a v1 or hybrid root is a tmpfs of hierarchies (hybrid's cgroup2 at
 * `unified/`). Asked once per root: a host does not switch modes while it runs.
 */
export function isUnifiedCgroup(root: string): boolean {
  let v = unified.get(root);
  if (v === undefined) {
    v = existsSync(join(root, 'cgroup.controllers'));
    unified.set(root, v);
  }
  return v;
}

/** the controllers a node on the unified hierarchy needs enabled at its root */
const NEEDED_V2 = ['cpu', 'memory', 'pids'] as const;

/**
 * Why the node cannot run on the host's cgroups, or undefined when it can. Either mode: v1 (a
 * hybrid host too: its cpu, cpuacct, memory and pids hierarchies) or the unified hierarchy alone
 * (cgroup2 at the root, the default since systemd 247, so stock Debian 12 and 13) with the cpu,
 * memory and pids controllers enabled at its root. Each refusal names what is missing.
 */
export function cgroupHostProblem(root: string): string | undefined {
  if (isUnifiedCgroup(root)) {
    let have: string[] = [];
    try {
      have = readFileSync(join(root, 'cgroup.controllers'), 'utf8').split(/\s+/);
    } catch {
      // unreadable: every controller is missing
    }
    const missing = NEEDED_V2.filter((c) => !have.includes(c));
    if (missing.length > 0) {
      return `the cgroup v2 hierarchy at ${root} has no ${missing.join(', ')} controller: hedge node needs them for pod limits, node allocatable, stats and eviction (a kernel built without them, or a cgroup namespace that does not delegate them)`;
    }
    return undefined;
  }
  const missing = (['cpu', 'cpuacct', 'memory', 'pids'] as const).filter((c) => !existsSync(join(root, c)));
  if (missing.length > 0) {
    return `no cgroup v1 ${missing.join(', ')} hierarchy under ${root} and no cgroup v2 hierarchy there: hedge node needs one of them for pod limits, node allocatable, stats and eviction`;
  }
  return undefined;
}

/** the pod cgroup `<parent>` with its limits: in each v1 controller, or once on the unified hierarchy (controllers enabled down to it) */
export async function createPodCgroup(opts: PodCgroupOptions): Promise<void> {
  return isUnifiedCgroup(opts.cgroupRoot) ? createPodCgroupV2(opts) : createPodCgroupV1(opts);
}

/** removes `<parent>` with everything below it (every v1 hierarchy, or the one v2 tree); a cgroup with live tasks is reported (EBUSY) */
export async function removePodCgroup(opts: { cgroupRoot: string; cgroupParent: string }): Promise<void> {
  return isUnifiedCgroup(opts.cgroupRoot) ? removePodCgroupV2(opts) : removePodCgroupV1(opts);
}

/** the cgroup.procs files a process started straight in the pod is written to (v1: one per hierarchy; v2: the pod's process leaf) */
export async function podCgroupProcs(opts: { cgroupRoot: string; cgroupParent: string }): Promise<string[]> {
  return isUnifiedCgroup(opts.cgroupRoot) ? podCgroupProcsV2(opts) : podCgroupProcsV1(opts);
}
