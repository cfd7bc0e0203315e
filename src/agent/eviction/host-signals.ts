/**
 * The node's signals from the host, as the kubelet's summary gives them to its eviction manager:
 * memory.available = capacity − the root cgroup's working set (cgroup v1: memory.usage_in_bytes −
 * total_inactive_file, what cAdvisor reports; v2, whose root has no memory.current: MemTotal −
 * MemFree − inactive_file, stats/cgroup-v2.ts), nodefs/imagefs from statfs of the node's data dir
 * and image store, pid.available = maxpid − curproc of the summary's rlimit (stats/rlimit.ts:
 * min(pid_max, threads-max) − tasks in use, upstream's figures; the host probe's when /proc has none); allocatableMemory.available = node
 * allocatable (capacity − reserved) − the pods' parent cgroup's working set: what cAdvisor reports
 * for upstream's `pods` system container once enforceNodeAllocatable=pods has limited kubepods to
 * allocatable (hedge sets no limit there: the figure is computed against allocatable instead).
 */
import { statfs } from 'node:fs/promises';
import type { Clock } from '../../client/clock.ts';
import type { HostProbe } from '../node/host-probe.ts';
import { readMemory, type CgroupRef } from '../stats/cgroup.ts';
import { readRlimit } from '../stats/rlimit.ts';
import type { Observations, SignalSource } from './types.ts';

export interface HostSignalsOptions {
  host: HostProbe;
  /** nodefs: the filesystem of the node's data dir (pods, volumes, logs, writable layers) */
  dataDir: string;
  /** imagefs: the image store's filesystem (the data dir's when it is the same) */
  imageDir: string;
  clock: Clock;
  /** the root memory cgroup (default /sys/fs/cgroup, path /) */
  rootCgroup?: CgroupRef;
  /** the pods' parent cgroup (the agent's cgroupRoot, every pod's `<it>/pod<uid>`): allocatableMemory.available, when given */
  podsCgroup?: CgroupRef;
  /** memory held back from pods: allocatable = capacity − this (NodeConfig.reserved) */
  reservedMemoryBytes?: number;
  /** the host's /proc, for the task limit and count (default /proc) */
  procRoot?: string;
}

export function hostSignals(o: HostSignalsOptions): SignalSource {
  const cg = o.rootCgroup ?? { root: '/sys/fs/cgroup', path: '/' };
  return {
    async observe() {
      const time = o.clock.now();
      const [usage, mem, pods, nodefs, imagefs] = await Promise.all([
        o.host.usage(o.dataDir),
        readMemory(cg, 'usage').catch(() => undefined),
        o.podsCgroup ? readMemory(o.podsCgroup, 'usage').catch(() => undefined) : undefined,
        statfs(o.dataDir).catch(() => undefined),
        statfs(o.imageDir).catch(() => undefined),
      ]);
      const out: Observations = {};
      const capacity = usage.memory.totalBytes;
      if (capacity > 0) {
        // no readable root cgroup (a container without its cgroup mounted): the kernel's MemAvailable
        const available = mem ? Math.max(0, capacity - mem.workingSetBytes) : usage.memory.availableBytes;
        out['memory.available'] = { available, capacity, time };
        // the pods' cgroup is made with the first pod: none yet, none used (the memory controller itself must be readable)
        if (o.podsCgroup && mem) {
          const allocatable = Math.max(0, capacity - (o.reservedMemoryBytes ?? 0));
          out['allocatableMemory.available'] = { available: Math.max(0, allocatable - (pods?.workingSetBytes ?? 0)), capacity: allocatable, time };
        }
      }
      for (const [prefix, fs] of [['nodefs', nodefs], ['imagefs', imagefs]] as const) {
        if (!fs) continue;
        out[`${prefix}.available`] = { available: fs.bavail * fs.bsize, capacity: fs.blocks * fs.bsize, time };
        // filesystems without an inode table (btrfs) report 0 inodes: no signal rather than "none free"
        if (fs.files > 0) out[`${prefix}.inodesFree`] = { available: fs.ffree, capacity: fs.files, time };
      }
      const rl = readRlimit(o.procRoot);
      const [max, used] = rl.maxpid !== undefined && rl.curproc !== undefined ? [rl.maxpid, rl.curproc] : [usage.pids.max, usage.pids.used];
      if (max > 0) out['pid.available'] = { available: Math.max(0, max - used), capacity: max, time };
      return out;
    },
  };
}
