import type { Threshold } from '../eviction/thresholds.ts';

/** Node registration and status tunables; defaults follow the kubelet. */
export interface NodeConfig {
  nodeName: string;
  dataDir: string;
  labels: Record<string, string>;
  internalIP?: string;
  kubeletPort: number;
  maxPods: number;
  /** subtracted from capacity to give allocatable */
  reserved: { cpuMilli: number; memoryBytes: number; ephemeralStorageBytes: number; /** reserved process ids: only the pods cgroup's pids.max takes it (pods-cgroup.ts) */ pids?: number };
  /** the evictionHard thresholds (parsed): memory.available and nodefs.available are held back from allocatable too (allocatable.ts) */
  hardEvictionThresholds?: readonly Threshold[];
  /** check and patch status this often when it changed */
  statusUpdateFrequencyMs: number;
  /**
   * patch at least this often even when nothing changed (the kubelet's nodeStatusReportFrequency,
   * 5 min: liveness is the Lease's, renewed every 10 s; a status that changes is patched within
   * statusUpdateFrequencyMs)
   */
  statusReportFrequencyMs: number;
  /** RuntimeClass handlers this node offers */
  runtimeHandlers: string[];
}

export const defaultNodeConfig = (nodeName: string, dataDir: string): NodeConfig => ({
  nodeName,
  dataDir,
  labels: {},
  kubeletPort: 10250,
  maxPods: 110,
  reserved: { cpuMilli: 0, memoryBytes: 0, ephemeralStorageBytes: 0 },
  statusUpdateFrequencyMs: 10_000,
  statusReportFrequencyMs: 300_000,
  runtimeHandlers: ['runc'],
});
