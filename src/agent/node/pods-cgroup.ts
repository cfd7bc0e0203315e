/**
 * The pods' parent cgroup (`--cgroup-root`, every pod's `<it>/pod<uid>`) limited to node
 * allocatable, as the kubelet does to its kubepods cgroup (node_container_manager_linux.go) on
 * cgroup v1: the cgroup gets the node's capacity as its limits, and with `pods` in
 * enforceNodeAllocatable (the default) capacity − kube-reserved − system-reserved: upstream's
 * getNodeAllocatableAbsolute, which leaves the hard eviction threshold out (the eviction manager
 * acts before the kernel's OOM killer does). memory.limit_in_bytes, cpu.shares from the CPU and,
 * when pids are reserved, pids.max = pid_max − reserved (v2: memory.max, cpu.weight, pids.max). Written at every start, so a changed
 * reservation applies after a restart. A memory limit below what the pods already use is refused
 * by the kernel (EBUSY: it cannot reclaim enough); that is reported (log + a
 * FailedNodeAllocatableEnforcement Warning Event on the Node) and retried every minute, as the
 * kubelet does, while the cgroup keeps its previous limit and evictions bring usage down.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../client/clock.ts';
import type { EventSink } from '../../client/event-recorder.ts';
import type { Logger } from '../../lib/log.ts';
import { hardEvictionReservation } from './allocatable.ts';
import { isUnifiedCgroup, milliCpuToShares } from '../host/cgroup.ts';
import { cpuSharesToWeight, makeCgroupV2 } from '../host/cgroup-v2.ts';
import type { Threshold } from '../eviction/thresholds.ts';

export interface Reservation {
  cpuMilli: number;
  memoryBytes: number;
  ephemeralStorageBytes: number;
  /** reserved process ids (the kubelet's `pid` reservation) */
  pids?: number;
}

export interface PodsCgroupCapacity {
  cpuMilli: number;
  memoryBytes: number;
  /** /proc/sys/kernel/pid_max: the node's pid capacity */
  pids: number;
}

export interface PodsCgroupLimits {
  memoryBytes: number;
  cpuShares: number;
  /** undefined: no pid reservation, pids.max stays `max` */
  pidsMax?: number;
}

/** the limits the kubelet gives kubepods: allocatable without eviction thresholds with `pods` enforced, capacity without */
export function podsCgroupLimits(capacity: PodsCgroupCapacity, reserved: Reservation, enforcePods: boolean): PodsCgroupLimits {
  if (!enforcePods) return { memoryBytes: capacity.memoryBytes, cpuShares: milliCpuToShares(capacity.cpuMilli) };
  return {
    memoryBytes: Math.max(0, capacity.memoryBytes - reserved.memoryBytes),
    cpuShares: milliCpuToShares(Math.max(0, capacity.cpuMilli - reserved.cpuMilli)),
    ...(reserved.pids ? { pidsMax: Math.max(0, capacity.pids - reserved.pids) } : {}),
  };
}

/**
 * Upstream's validateNodeAllocatable: what is reserved (kube + system + the hard eviction
 * thresholds) must fit the capacity, or the kubelet does not start. The message is upstream's.
 */
export function checkReservation(capacity: PodsCgroupCapacity & { ephemeralStorageBytes: number }, reserved: Reservation, hardThresholds: readonly Threshold[]): string | undefined {
  const evict = hardEvictionReservation(hardThresholds, capacity);
  const rows: [string, number, number][] = [
    ['cpu', reserved.cpuMilli, capacity.cpuMilli],
    ['memory', reserved.memoryBytes + evict.memoryBytes, capacity.memoryBytes],
    ['ephemeral-storage', reserved.ephemeralStorageBytes + evict.ephemeralStorageBytes, capacity.ephemeralStorageBytes],
    ['pid', reserved.pids ?? 0, capacity.pids],
  ];
  const show = (k: string, v: number): string => (k === 'cpu' ? `${v}m` : String(v));
  const errors = rows.filter(([, r, c]) => c - r < 0).map(([k, r, c]) => `Resource "${k}" has a reservation of ${show(k, r)} but capacity of ${show(k, c)}. Expected capacity >= reservation.`);
  return errors.length ? `invalid Node Allocatable configuration. ${errors.join(' ')}` : undefined;
}

/** the node's pid capacity (/proc/sys/kernel/pid_max) */
export function readPidMax(procRoot = '/proc'): number {
  return Number(readFileSync(join(procRoot, 'sys/kernel/pid_max'), 'utf8').trim());
}

export class PodsCgroupLimitError extends Error {}

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;

/**
 * Writes `limits` on `<cgroupFs>/{memory,cpu,pids}/<cgroup>` (made if missing; a controller not
 * mounted is skipped). Memory first: when the kernel refuses it (the pods use more than the new
 * limit and it cannot reclaim the difference) nothing is changed and a PodsCgroupLimitError says
 * how much they use.
 */
export function applyPodsCgroupLimits(o: { cgroupFs: string; cgroup: string; limits: PodsCgroupLimits }): void {
  if (isUnifiedCgroup(o.cgroupFs)) return applyPodsCgroupLimitsV2(o);
  const dir = (ctl: string): string | undefined => {
    if (!existsSync(join(o.cgroupFs, ctl))) return undefined;
    const d = join(o.cgroupFs, ctl, o.cgroup);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const mem = dir('memory');
  if (mem) {
    try {
      writeFileSync(join(mem, 'memory.limit_in_bytes'), String(o.limits.memoryBytes));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
      const usage = Number(readFileSync(join(mem, 'memory.usage_in_bytes'), 'utf8').trim());
      throw new PodsCgroupLimitError(
        `memory limit ${o.limits.memoryBytes} (${mib(o.limits.memoryBytes)}) is below what the pods use: ${usage} (${mib(usage)}) in ${mem}, and the kernel could not reclaim the difference; the previous limit stays until usage falls below it`,
        { cause: err },
      );
    }
  }
  const cpu = dir('cpu');
  if (cpu) writeFileSync(join(cpu, 'cpu.shares'), String(o.limits.cpuShares));
  const pids = dir('pids');
  if (pids) writeFileSync(join(pids, 'pids.max'), o.limits.pidsMax === undefined ? 'max' : String(o.limits.pidsMax));
}

/**
 * The same on the unified hierarchy: `<cgroupFs>/<cgroup>` (made, with cpu, memory and pids
 * enabled down to it) gets memory.max, cpu.weight (the shares converted as runc and the kubelet
 * do) and pids.max. The kernel takes a memory.max below the usage (it reclaims, and OOM-kills in
 * the cgroup what it cannot): it is written as the kubelet writes it.
 */
function applyPodsCgroupLimitsV2(o: { cgroupFs: string; cgroup: string; limits: PodsCgroupLimits }): void {
  const dir = makeCgroupV2(o.cgroupFs, o.cgroup);
  writeFileSync(join(dir, 'memory.max'), String(o.limits.memoryBytes));
  writeFileSync(join(dir, 'cpu.weight'), String(cpuSharesToWeight(o.limits.cpuShares)));
  writeFileSync(join(dir, 'pids.max'), o.limits.pidsMax === undefined ? 'max' : String(o.limits.pidsMax));
}

export interface EnforcePodsCgroupOptions {
  cgroupFs: string;
  cgroup: string;
  limits: PodsCgroupLimits;
  nodeName: string;
  events: EventSink;
  clock: Clock;
  logger: Logger;
  /** between attempts while the kernel refuses (upstream's: a minute) */
  retryMs?: number;
}

/** applyPodsCgroupLimits until it succeeds or `signal` aborts, an Event on the Node either way (upstream's reasons and words) */
export async function enforcePodsCgroupLimits(o: EnforcePodsCgroupOptions, signal: AbortSignal): Promise<void> {
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: o.nodeName, uid: o.nodeName } };
  let lastError = '';
  while (!signal.aborted) {
    try {
      applyPodsCgroupLimits(o);
      o.logger.info({ cgroup: o.cgroup, ...o.limits }, 'pods cgroup limited to node allocatable');
      o.events.emit({ involved: node, type: 'Normal', reason: 'NodeAllocatableEnforced', message: 'Updated Node Allocatable limit across pods' });
      return;
    } catch (err) {
      const message = `Failed to update Node Allocatable Limits "${o.cgroup}": ${(err as Error).message}`;
      // once per distinct failure in the log; the Event counts the repeats
      if (message !== lastError) o.logger.error({ cgroup: o.cgroup }, message);
      lastError = message;
      o.events.emit({ involved: node, type: 'Warning', reason: 'FailedNodeAllocatableEnforcement', message });
    }
    try {
      await o.clock.sleep(o.retryMs ?? 60_000, signal);
    } catch {
      return;
    }
  }
}
