/**
 * The kubelet's `/stats/summary` JSON (k8s.io/kubelet/pkg/apis/stats/v1alpha1 Summary) from one
 * StatsSample. Field names and units are upstream's; figures a reader does not have are left out
 * (upstream marks every one of them optional).
 */
import type { CpuStats, MemoryStats, NetworkStats } from './types.ts';
import type { FsSample, PodSample, StatsSample } from './collector.ts';
import { ephemeralStorage, type FsUsage } from './pod-storage.ts';

export interface SummaryCpu {
  time: string;
  usageNanoCores?: number;
  usageCoreNanoSeconds: number;
}
export interface SummaryMemory {
  time: string;
  availableBytes?: number;
  usageBytes: number;
  workingSetBytes: number;
  rssBytes: number;
  pageFaults?: number;
  majorPageFaults?: number;
}
export interface SummaryInterface {
  name: string;
  rxBytes: number;
  rxErrors: number;
  txBytes: number;
  txErrors: number;
}
export interface SummaryNetwork extends Partial<SummaryInterface> {
  time: string;
  interfaces: SummaryInterface[];
}
export interface SummaryFs {
  time: string;
  availableBytes: number;
  capacityBytes: number;
  usedBytes: number;
  inodesFree: number;
  inodes: number;
  inodesUsed: number;
}
/** FsStats of what something holds on a filesystem: its usage, and the filesystem's figures where known */
export interface SummaryFsUsage {
  time: string;
  availableBytes?: number;
  capacityBytes?: number;
  usedBytes: number;
  inodesFree?: number;
  inodes?: number;
  inodesUsed: number;
}
/** VolumeStats: FsStats and the volume's name */
export interface SummaryVolume extends SummaryFsUsage {
  name: string;
  /** a PVC-backed volume's claim */
  pvcRef?: { name: string; namespace: string };
}
export interface SummaryContainer {
  name: string;
  startTime?: string;
  cpu: SummaryCpu;
  memory: SummaryMemory;
  /** its writable layer */
  rootfs?: SummaryFsUsage;
  /** its log files */
  logs?: SummaryFsUsage;
}
export interface SummaryPod {
  podRef: { name: string; namespace: string; uid: string };
  startTime?: string;
  containers: SummaryContainer[];
  cpu?: SummaryCpu;
  memory?: SummaryMemory;
  network?: SummaryNetwork;
  /** the agent-managed volumes (emptyDir, configMap, secret, downwardAPI, projected) and local-path PVC volumes (with pvcRef) */
  volume?: SummaryVolume[];
  /** writable layers + logs + disk-backed emptyDirs and configMaps + the hosts file, against the node's filesystem */
  'ephemeral-storage'?: SummaryFsUsage;
}
/** RlimitStats: the node's task limit and tasks in use (pid.available = maxpid − curproc) */
export interface SummaryRlimit {
  time: string;
  maxpid?: number;
  curproc?: number;
}
export interface Summary {
  node: {
    nodeName: string;
    startTime: string;
    cpu?: SummaryCpu;
    memory?: SummaryMemory;
    network?: SummaryNetwork;
    fs?: SummaryFs;
    rlimit?: SummaryRlimit;
  };
  pods: SummaryPod[];
}

function cpu(c: CpuStats, time: string): SummaryCpu {
  const out: SummaryCpu = { time, usageCoreNanoSeconds: c.usageCoreNanoSeconds };
  if (c.usageNanoCores !== undefined) out.usageNanoCores = c.usageNanoCores;
  return out;
}

function memory(m: MemoryStats & { availableBytes?: number }, time: string): SummaryMemory {
  const out: SummaryMemory = { time, usageBytes: m.usageBytes, workingSetBytes: m.workingSetBytes, rssBytes: m.rssBytes };
  if (m.availableBytes !== undefined) out.availableBytes = m.availableBytes;
  if (m.pageFaults !== undefined) out.pageFaults = m.pageFaults;
  if (m.majorPageFaults !== undefined) out.majorPageFaults = m.majorPageFaults;
  return out;
}

/** upstream: the default interface's figures at the top level, every interface in `interfaces` */
function network(n: NetworkStats, time: string): SummaryNetwork {
  const interfaces = n.interfaces.map((i) => ({ name: i.name, rxBytes: i.rxBytes, rxErrors: i.rxErrors, txBytes: i.txBytes, txErrors: i.txErrors }));
  const def = interfaces.find((i) => i.name === 'eth0') ?? interfaces[0];
  return { time, ...def, interfaces };
}

function fs(f: FsSample, time: string): SummaryFs {
  return { time, ...f };
}

/** usage on the node's filesystem (one filesystem holds layers, logs and volumes here) */
function fsUsage(u: FsUsage, nodeFs: FsSample | undefined, time: string): SummaryFsUsage {
  const out: SummaryFsUsage = { time, usedBytes: u.bytes, inodesUsed: u.inodes };
  if (nodeFs) Object.assign(out, { availableBytes: nodeFs.availableBytes, capacityBytes: nodeFs.capacityBytes, inodesFree: nodeFs.inodesFree, inodes: nodeFs.inodes });
  return out;
}

/** upstream's pod storage stats: each container's rootfs and logs, the volumes, and the pod's ephemeral-storage (pod-storage.ts ephemeralStorage) */
function podStorage(p: PodSample, out: SummaryPod, nodeFs: FsSample | undefined): void {
  const st = p.storage;
  if (!st) return;
  const time = new Date(st.time).toISOString();
  for (const c of st.containers) {
    const sc = out.containers.find((x) => x.name === c.name);
    if (!sc) continue;
    if (c.rootfs) sc.rootfs = fsUsage(c.rootfs, nodeFs, time);
    if (c.logs) sc.logs = fsUsage(c.logs, nodeFs, time);
  }
  const volumes = Object.entries(st.volumes);
  if (volumes.length > 0) out.volume = volumes.map(([name, u]) => ({ ...fsUsage(u, nodeFs, time), name, ...(u.pvcRef ? { pvcRef: u.pvcRef } : {}) }));
  out['ephemeral-storage'] = fsUsage(ephemeralStorage(st), nodeFs, time);
}

export function toSummary(s: StatsSample): Summary {
  const nodeTime = s.node.timestamp.toISOString();
  const node: Summary['node'] = { nodeName: s.nodeName, startTime: s.node.startTime.toISOString() };
  if (s.node.cpu) node.cpu = cpu(s.node.cpu, nodeTime);
  if (s.node.memory) node.memory = memory(s.node.memory, nodeTime);
  if (s.node.network) node.network = network(s.node.network, nodeTime);
  if (s.node.fs) node.fs = fs(s.node.fs, nodeTime);
  if (s.node.rlimit) node.rlimit = { time: nodeTime, ...s.node.rlimit };
  const pods = s.pods.map((p): SummaryPod => {
    const out: SummaryPod = {
      podRef: { name: p.name, namespace: p.namespace, uid: p.uid },
      containers: p.containers.map((c) => {
        const t = c.stats.timestamp.toISOString();
        const sc: SummaryContainer = { name: c.name, cpu: cpu(c.stats.cpu, t), memory: memory(c.stats.memory, t) };
        if (c.startTime) sc.startTime = c.startTime.toISOString();
        return sc;
      }),
    };
    if (p.startTime) out.startTime = p.startTime.toISOString();
    if (p.stats) {
      const t = p.stats.timestamp.toISOString();
      out.cpu = cpu(p.stats.cpu, t);
      out.memory = memory(p.stats.memory, t);
      if (p.stats.network) out.network = network(p.stats.network, t);
    }
    podStorage(p, out, s.node.fs);
    return out;
  });
  return { node, pods };
}
