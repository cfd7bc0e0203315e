import type { Pod, PodCondition } from 'kubernetes-types/core/v1.js';
import type { FsUsage, VolumeStorage } from '../stats/pod-storage.ts';
import type { Signal } from './thresholds.ts';

/** one signal's reading: how much is left of how much (bytes, inodes or pids) */
export interface Observation {
  available: number;
  capacity: number;
  /** when it was read (ms): a threshold is acted on only when its signal has a newer reading */
  time: number;
}
export type Observations = Partial<Record<Signal, Observation>>;

/** what the node has left, read fresh on each synchronize (host-signals.ts reads the real host) */
export interface SignalSource {
  observe(signal: AbortSignal): Promise<Observations>;
}

export type { FsUsage, VolumeStorage } from '../stats/pod-storage.ts';

export interface ContainerUsage {
  name: string;
  /** the container's cgroup working set (usage − inactive file), as cAdvisor's */
  memoryWorkingSetBytes?: number;
  /** its writable layer */
  rootfs?: FsUsage;
  /** its CRI log files */
  logs?: FsUsage;
}

export interface PodUsage {
  containers: ContainerUsage[];
  /** the agent-managed volumes by name, each marked whether it counts as ephemeral storage (stats/pod-storage.ts) */
  volumes: Record<string, VolumeStorage>;
  /** the pod's hosts file */
  etcHosts?: FsUsage;
  /** processes (threads) in the pod */
  processes?: number;
}

/**
 * the per-pod figures (upstream's stats summary), for the pods asked about, by uid; a pod without
 * figures is absent. Disk figures at most `maxStorageAgeMs` old (default 0: walked now).
 */
export interface PodUsageSource {
  usage(pods: readonly Pod[], signal: AbortSignal, o?: { maxStorageAgeMs?: number }): Promise<Map<string, PodUsage>>;
}

export interface EvictRequest {
  /** 0 for a hard threshold (the runtime still gets MIN_GRACE_SECONDS to stop) */
  gracePeriodSeconds: number;
  /** status.message; status.reason is `Evicted` */
  message: string;
  /** DisruptionTarget, added to the pod's conditions (upstream sets none for local-storage evictions) */
  condition?: PodCondition;
}

/** pod sync as the eviction manager sees it */
export interface EvictionTarget {
  /** the pods this node runs that are not finished */
  activePods(): Pod[];
  /**
   * kills the pod's containers within the grace period, writes it Failed/Evicted and frees its
   * sandbox; resolves true once its containers are stopped (false: no such pod, or it finished meanwhile)
   */
  evict(uid: string, req: EvictRequest, signal: AbortSignal): Promise<boolean>;
}

/** node-level reclaim of disk before any pod is evicted (image garbage collection) */
export interface ImageGarbageCollector {
  /** tries to free `bytes` (more is fine); resolves with the bytes it freed */
  freeSpace(bytes: number, signal: AbortSignal): Promise<number>;
}
