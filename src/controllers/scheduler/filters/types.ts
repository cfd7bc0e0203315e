import type { Labels } from '../../../api/labels/index.ts';
import type { NodeObject } from '../../common/types.ts';
import type { EventRegistration } from '../events.ts';
import type { NodeInfo, PodInfo } from '../node-info.ts';
import type { InterPodAffinityState } from './inter-pod-affinity.ts';
import type { TopologySpreadState } from './pod-topology-spread.ts';
import type { VolumeBindingState } from './volume-binding.ts';

/**
 * What filters compute once per scheduling attempt, over every node, before any node is
 * filtered (upstream's PreFilter results in CycleState). One field per filter that has a
 * `prepare`; absent when that filter has nothing to check for this pod.
 */
export interface CycleState {
  interPodAffinity?: InterPodAffinityState;
  topologySpread?: TopologySpreadState;
  volumeBinding?: VolumeBindingState;
}

/** The cluster as a filter's `prepare` sees it. */
export interface CycleInput {
  pod: PodInfo;
  /** every node the scheduler knows with its Node object (the candidates and the rest) */
  nodes: readonly NodeInfo[];
  /** labels of a namespace (for namespaceSelector in pod affinity terms); undefined when unknown */
  namespaceLabels(name: string): Labels;
}

export interface FilterContext {
  pod: PodInfo;
  nodeInfo: NodeInfo;
  node: NodeObject;
  /**
   * the runtime handler the pod needs (its RuntimeClass's `handler`); undefined when the pod
   * names no RuntimeClass and any node's default handler will do
   */
  runtimeHandler: string | undefined;
  /** what the filters' `prepare` computed for this attempt */
  cycle: CycleState;
}

/** One scheduling predicate. Returns the reasons the node does not fit (empty = fits), worded like upstream. */
export interface Filter {
  name: string;
  /**
   * once per attempt, before the nodes are filtered: store what `filter` needs in `state`;
   * false when the filter has nothing to check for this pod (every node passes it), so the
   * attempt skips it; a message when no node can take the pod (upstream's PreFilter
   * Unschedulable: e.g. its PersistentVolumeClaim does not exist)
   */
  prepare?(input: CycleInput, state: CycleState): boolean | string;
  filter(ctx: FilterContext): string[];
  /**
   * The cluster events that may make a pod this filter rejected fit, each with its QueueingHint
   * (upstream's EventsToRegister). Absent: every event may (the pod is retried on any change).
   */
  events?: readonly EventRegistration[];
}
