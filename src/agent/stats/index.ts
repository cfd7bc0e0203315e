export {
  parseFlatKeyed,
  parseBlkio,
  readCpu,
  readMemory,
  readBlkio,
  readPids,
  readOomKilled,
  readCgroupStats,
  withNanoCores,
  type CgroupRef,
} from './cgroup.ts';
export { parseNetDev, readNetDev } from './net-dev.ts';
export type { BlockIoStats, ContainerStats, CpuStats, MemoryStats, NetworkStats, SandboxStats } from './types.ts';
export { StatsCollector, type StatsCollectorOptions, type StatsPodSource, type StatsSample, type PodSample, type ContainerSample, type NodeSample } from './collector.ts';
export { toSummary, type Summary } from './summary.ts';
export { renderCadvisorMetrics } from './cadvisor-metrics.ts';
