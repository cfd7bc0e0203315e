/** What RuntimeHandler.stats/sandboxStats return (the summary API is built from these). */

/**
 * How much a stats read gathers: 'full' (the Summary API, /metrics/cadvisor), or 'usage' — CPU time
 * and memory (usage, working set, rss) only, what /metrics/resource reports and metrics-server
 * scrapes every 15 s: 3 cgroup files per cgroup instead of 9, no network counters. A handler may
 * return more than asked.
 */
export type StatsScope = 'full' | 'usage';

export interface CpuStats {
  usageNanoCores?: number;
  /** cumulative CPU time, ns */
  usageCoreNanoSeconds: number;
  /** CFS bandwidth control, where a CPU limit is set and the reader has the counters */
  throttling?: { periods: number; throttledPeriods: number; throttledNanoSeconds: number };
}
export interface MemoryStats {
  usageBytes: number;
  workingSetBytes: number;
  rssBytes: number;
  pageFaults?: number;
  majorPageFaults?: number;
  /** processes the OOM killer killed in this container, cumulative */
  oomKills?: number;
}
export interface NetworkStats {
  interfaces: { name: string; rxBytes: number; txBytes: number; rxErrors: number; txErrors: number }[];
}
export interface BlockIoStats {
  readBytes: number;
  writeBytes: number;
  /** absent where no counter of block requests exists (gVisor: its I/O reaches the disk as host writeback) */
  readOps?: number;
  writeOps?: number;
}
export interface ContainerStats {
  timestamp: Date;
  cpu: CpuStats;
  memory: MemoryStats;
  blkio?: BlockIoStats;
  /** processes (and threads: a cgroup's pids count) in the container now */
  processes?: number;
}
export interface SandboxStats extends ContainerStats {
  network?: NetworkStats;
}
