import { interPodAffinity } from './inter-pod-affinity.ts';
import { nodeAffinity } from './node-affinity.ts';
import { nodePorts } from './node-ports.ts';
import { nodeReady } from './node-ready.ts';
import { nodeResourcesFit } from './node-resources-fit.ts';
import { nodeUnschedulable } from './node-unschedulable.ts';
import { podTopologySpread } from './pod-topology-spread.ts';
import { runtimeHandler } from './runtime-handler.ts';
import { taintToleration } from './taint-toleration.ts';
import type { Filter } from './types.ts';

export type { CycleInput, CycleState, Filter, FilterContext } from './types.ts';
export { interPodAffinity } from './inter-pod-affinity.ts';
export { matchExpression, matchTerm, matchesRequiredNodeAffinity, nodeAffinity, preferredNodeAffinityWeight } from './node-affinity.ts';
export { nodePorts } from './node-ports.ts';
export { nodeReady } from './node-ready.ts';
export { nodeResourcesFit } from './node-resources-fit.ts';
export { nodeUnschedulable } from './node-unschedulable.ts';
export { podTopologySpread } from './pod-topology-spread.ts';
export { runtimeHandler, offeredHandlers, IMPLICIT_HANDLERS } from './runtime-handler.ts';
export { taintToleration } from './taint-toleration.ts';
export { ANNOTATION_SELECTED_NODE, volumeBinding, type PvcObject, type PvObject, type StorageClassObject, type VolumeLookup } from './volume-binding.ts';

/**
 * Run in this order; the first filter that rejects a node gives that node's reasons (as upstream).
 * The scheduler puts VolumeBinding (it needs the scheduler's storage informers) before
 * PodTopologySpread, upstream's place.
 */
export const defaultFilters: readonly Filter[] = [
  nodeReady,
  nodeUnschedulable,
  nodeAffinity,
  taintToleration,
  nodeResourcesFit,
  nodePorts,
  runtimeHandler,
  podTopologySpread,
  interPodAffinity,
];
