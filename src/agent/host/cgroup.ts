/**
 * The one place that tells cgroup v1 (a hybrid host included) from v2 (the unified hierarchy
 * alone) for a cgroup root, and the pod cgroup's operations that pick cgroup-v1.ts or
 * cgroup-v2.ts by it. Callers use these, not the two modules.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPodCgroupV1, podCgroupProcsV1, removePodCgroupV1, type PodCgroupOptions } from './cgroup-v1.ts';
import { createPodCgroupV2, podCgroupProcsV2, removePodCgroupV2 } from './cgroup-v2.ts';

export type { PodCgroupOptions } from './cgroup-v1.ts';

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
 * Why the node cannot run on the host's cgroups, or undefined when it can. v1 (a hybrid host
 * too) is what the node speaks; a unified host (cgroup2 alone at the root, the default since
 * systemd 247, so on stock Debian 12 and 13) is accepted only with `cgroupV2Experimental`
 * (`--cgroup-v2-experimental`) until its support has run pods end to end, and then needs the cpu,
 * memory and pids controllers at its root. Refused otherwise, with the way back to v1.
 */
export function cgroupHostProblem(root: string, opts: { cgroupV2Experimental?: boolean } = {}): string | undefined {
  const bootV1 =
    'boot the host with `systemd.unified_cgroup_hierarchy=0` on the kernel command line (systemd 256 and 257 also want ' +
    '`SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1`; Debian: add them to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub, reboot)';
  if (isUnifiedCgroup(root)) {
    if (opts.cgroupV2Experimental) {
      let have: string[] = [];
      try {
        have = readFileSync(join(root, 'cgroup.controllers'), 'utf8').split(/\s+/);
      } catch {
        // unreadable: every controller is missing
      }
      const missing = NEEDED_V2.filter((c) => !have.includes(c));
      if (missing.length > 0) return `the cgroup v2 hierarchy at ${root} has no ${missing.join(', ')} controller: hedge node needs them for pod limits, node allocatable, stats and eviction`;
      return undefined;
    }
    return (
      `${root} is the cgroup v2 unified hierarchy alone: hedge node needs the cgroup v1 hierarchies (a hybrid host is fine) for pod limits, node allocatable, stats and eviction; ${bootV1}; ` +
      'or try its experimental cgroup v2 support with --cgroup-v2-experimental (config key cgroupV2Experimental)'
    );
  }
  const missing = (['cpu', 'cpuacct', 'memory', 'pids'] as const).filter((c) => !existsSync(join(root, c)));
  if (missing.length > 0) return `no cgroup v1 ${missing.join(', ')} hierarchy under ${root}: hedge node needs them for pod limits, node allocatable, stats and eviction; ${bootV1}`;
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
