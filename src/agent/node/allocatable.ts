/**
 * Node allocatable as the kubelet reports it (kubelet_node_status's MachineInfo setter with the
 * container manager's GetNodeAllocatableReservation): capacity − kube/system reserved − the hard
 * eviction threshold of the resource (memory.available for memory, nodefs.available for
 * ephemeral-storage; a percentage is of capacity), at least 0. So the scheduler does not fill a
 * node to where the eviction manager starts evicting. The pods' cgroup limit (and the
 * allocatableMemory.available signal) leaves the eviction threshold out, as upstream's
 * getNodeAllocatableAbsolute does.
 */
import { thresholdQuantity, type Threshold } from '../eviction/thresholds.ts';

export interface NodeResources {
  cpuMilli: number;
  memoryBytes: number;
  ephemeralStorageBytes: number;
}

/** upstream's hardEvictionReservation: what the evictionHard thresholds hold back of `capacity` */
export function hardEvictionReservation(thresholds: readonly Threshold[], capacity: Pick<NodeResources, 'memoryBytes' | 'ephemeralStorageBytes'>): Pick<NodeResources, 'memoryBytes' | 'ephemeralStorageBytes'> {
  const out = { memoryBytes: 0, ephemeralStorageBytes: 0 };
  // evictionHard only: a soft threshold (even with a 0s grace period) reserves nothing, as upstream
  for (const t of thresholds) {
    if (!t.hard) continue;
    if (t.signal === 'memory.available') out.memoryBytes = thresholdQuantity(t.value, capacity.memoryBytes).value();
    else if (t.signal === 'nodefs.available') out.ephemeralStorageBytes = thresholdQuantity(t.value, capacity.ephemeralStorageBytes).value();
  }
  return out;
}

/** capacity − reserved − the hard eviction reservation, each at least 0 */
export function nodeAllocatable(capacity: NodeResources, reserved: NodeResources, hardThresholds: readonly Threshold[] = []): NodeResources {
  const evict = hardEvictionReservation(hardThresholds, capacity);
  return {
    cpuMilli: Math.max(0, capacity.cpuMilli - reserved.cpuMilli),
    memoryBytes: Math.max(0, capacity.memoryBytes - reserved.memoryBytes - evict.memoryBytes),
    ephemeralStorageBytes: Math.max(0, capacity.ephemeralStorageBytes - reserved.ephemeralStorageBytes - evict.ephemeralStorageBytes),
  };
}
