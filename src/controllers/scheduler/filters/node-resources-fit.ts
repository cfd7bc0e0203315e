import type { NodeObject } from '../../common/types.ts';
import { ActionType } from '../events.ts';
import type { PodInfo } from '../node-info.ts';
import { nodeAllocatable } from '../pod-resources.ts';
import type { Filter } from './types.ts';

/** upstream's isFit: the pod fits the node's allocatable with nothing on it */
function fitsEmpty({ requests: r }: PodInfo, node: NodeObject): boolean {
  const a = nodeAllocatable(node);
  return a.pods >= 1 && r.milliCPU <= a.milliCPU && r.memory <= a.memory && (r.ephemeralStorage === 0 || r.ephemeralStorage <= a.ephemeralStorage);
}

/** upstream's haveAnyRequestedResourcesIncreased: more pods, or more of a resource the pod requests */
function requestedIncreased({ requests: r }: PodInfo, old: NodeObject, cur: NodeObject): boolean {
  const a = nodeAllocatable(old);
  const b = nodeAllocatable(cur);
  if (b.pods > a.pods) return true;
  return (r.milliCPU > 0 && b.milliCPU > a.milliCPU) || (r.memory > 0 && b.memory > a.memory) || (r.ephemeralStorage > 0 && b.ephemeralStorage > a.ephemeralStorage);
}

/** requests + overhead against allocatable minus what the node's pods already request; every shortfall is reported. */
export const nodeResourcesFit: Filter = {
  name: 'NodeResourcesFit',
  filter({ pod, nodeInfo }) {
    const out: string[] = [];
    const alloc = nodeInfo.allocatable;
    const used = nodeInfo.requested;
    const want = pod.requests;
    if (nodeInfo.pods.size + 1 > alloc.pods) out.push('Too many pods');
    if (want.milliCPU > 0 && used.milliCPU + want.milliCPU > alloc.milliCPU) out.push('Insufficient cpu');
    if (want.memory > 0 && used.memory + want.memory > alloc.memory) out.push('Insufficient memory');
    if (want.ephemeralStorage > 0 && used.ephemeralStorage + want.ephemeralStorage > alloc.ephemeralStorage) {
      out.push('Insufficient ephemeral-storage');
    }
    return out;
  },
  events: [
    // any placed pod leaving frees room on its node (upstream: Pod/Delete of a scheduled pod)
    { resource: 'AssignedPod', actions: ActionType.Delete },
    // upstream's hint: a node the pod fits when empty, added or with more of what the pod requests
    {
      resource: 'Node',
      actions: ActionType.Add | ActionType.UpdateNodeAllocatable,
      hint: (pod, old, cur) => (cur && fitsEmpty(pod, cur) && (!old || requestedIncreased(pod, old, cur)) ? 'Queue' : 'QueueSkip'),
    },
  ],
};
