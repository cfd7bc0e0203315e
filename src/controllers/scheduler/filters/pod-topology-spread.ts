import type { TopologySpreadConstraint } from 'kubernetes-types/core/v1.js';
import { matches, newRequirement, nothing, selectorFromLabelSelector, type Selector } from '../../../api/labels/index.ts';
import { findToleration } from '../../common/tolerations.ts';
import type { NodeObject, PodObject } from '../../common/types.ts';
import { ActionType } from '../events.ts';
import type { NodeInfo, PodInfo } from '../node-info.ts';
import { matchesRequiredNodeAffinity } from './node-affinity.ts';
import type { Filter } from './types.ts';

export const REASON_SPREAD_MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)";
export const REASON_SPREAD = "node(s) didn't match pod topology spread constraints";

export const LABEL_HOSTNAME = 'kubernetes.io/hostname';

/** One of the pod's topologySpreadConstraints, its selector parsed (with matchLabelKeys). */
export interface SpreadConstraint {
  maxSkew: number;
  topologyKey: string;
  selector: Selector;
  minDomains: number | undefined;
  honorNodeAffinity: boolean;
  honorTaints: boolean;
}

export function spreadConstraints(pod: PodObject, when: 'DoNotSchedule' | 'ScheduleAnyway'): SpreadConstraint[] {
  const labels = pod.metadata.labels;
  return (pod.spec?.topologySpreadConstraints ?? [])
    .filter((c: TopologySpreadConstraint) => c.whenUnsatisfiable === when)
    .map((c) => {
      let selector: Selector;
      try {
        selector = selectorFromLabelSelector(c.labelSelector);
        const keys = (c.matchLabelKeys ?? []).filter((k) => labels?.[k] !== undefined);
        if (keys.length) selector = { ...selector, requirements: [...selector.requirements, ...keys.map((k) => newRequirement(k, 'in', [labels![k]]))] };
      } catch {
        selector = nothing();
      }
      return {
        maxSkew: c.maxSkew,
        topologyKey: c.topologyKey,
        selector,
        minDomains: c.minDomains,
        honorNodeAffinity: (c.nodeAffinityPolicy ?? 'Honor') === 'Honor',
        honorTaints: c.nodeTaintsPolicy === 'Honor',
      };
    });
}

function toleratesNodeTaints(pod: PodObject, node: NodeObject): boolean {
  const tols = pod.spec?.tolerations;
  return (node.spec?.taints ?? []).every((t) => (t.effect !== 'NoSchedule' && t.effect !== 'NoExecute') || findToleration(tols, t) !== undefined);
}

/** The node counts for constraint `c` of `pod` (upstream's matchNodeInclusionPolicies). */
export function nodeIncluded(c: SpreadConstraint, pod: PodObject, node: NodeObject): boolean {
  if (c.honorNodeAffinity && !matchesRequiredNodeAffinity(pod, node)) return false;
  return !c.honorTaints || toleratesNodeTaints(pod, node);
}

export function hasAllKeys(node: NodeObject, constraints: readonly SpreadConstraint[]): boolean {
  const labels = node.metadata.labels;
  return constraints.every((c) => labels?.[c.topologyKey] !== undefined);
}

/** Pods on the node in the pod's namespace, not terminating, that the selector selects. */
export function countMatching(ni: NodeInfo, selector: Selector, namespace: string): number {
  let n = 0;
  for (const p of ni.pods.values()) {
    const m = p.pod.metadata;
    if ((m.namespace ?? 'default') === namespace && !m.deletionTimestamp && matches(selector, m.labels)) n++;
  }
  return n;
}

/** Per DoNotSchedule constraint: matching pods per domain, the smallest count, whether the pod counts itself. */
export interface TopologySpreadState {
  constraints: SpreadConstraint[];
  counts: Map<string, number>[];
  min: number[];
  selfMatch: number[];
}

function prepareSpread(pod: PodInfo, nodes: readonly NodeInfo[]): TopologySpreadState | undefined {
  const constraints = spreadConstraints(pod.pod, 'DoNotSchedule');
  if (constraints.length === 0) return undefined;
  const ns = pod.pod.metadata.namespace ?? 'default';
  const counts = constraints.map(() => new Map<string, number>());
  for (const ni of nodes) {
    const node = ni.node;
    if (!node || !hasAllKeys(node, constraints)) continue;
    constraints.forEach((c, i) => {
      if (!nodeIncluded(c, pod.pod, node)) return;
      const v = node.metadata.labels![c.topologyKey];
      counts[i].set(v, (counts[i].get(v) ?? 0) + countMatching(ni, c.selector, ns));
    });
  }
  const min = constraints.map((c, i) => {
    // fewer domains than minDomains: the global minimum is taken as 0 (KEP-3022)
    if (c.minDomains !== undefined && counts[i].size < c.minDomains) return 0;
    return counts[i].size ? Math.min(...counts[i].values()) : 0;
  });
  const selfMatch = constraints.map((c) => (matches(c.selector, pod.pod.metadata.labels) ? 1 : 0));
  return { constraints, counts, min, selfMatch };
}

/**
 * PodTopologySpread's filter (`whenUnsatisfiable: DoNotSchedule`): placing the pod on the node
 * must keep each constraint's skew (the node's domain's matching pods + the pod itself − the
 * least-loaded domain) within `maxSkew`. Domains are the values of `topologyKey` over the nodes
 * the constraint's nodeAffinityPolicy (default Honor) and nodeTaintsPolicy (default Ignore)
 * include; a node without every constraint's key is rejected.
 */
const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export const podTopologySpread: Filter = {
  name: 'PodTopologySpread',
  prepare({ pod, nodes }, state) {
    state.topologySpread = prepareSpread(pod, nodes);
    return state.topologySpread !== undefined;
  },
  filter({ node, cycle }) {
    const s = cycle.topologySpread;
    if (!s) return [];
    if (!hasAllKeys(node, s.constraints)) return [REASON_SPREAD_MISSING_LABEL];
    for (let i = 0; i < s.constraints.length; i++) {
      const c = s.constraints[i];
      const here = s.counts[i].get(node.metadata.labels![c.topologyKey]) ?? 0;
      if (here + s.selfMatch[i] - s.min[i] > c.maxSkew) return [REASON_SPREAD];
    }
    return [];
  },
  events: [
    // upstream's hint: a placed pod in the pod's namespace that a constraint selects (before or
    // after) came, changed labels or left; hedge also counts one starting to terminate
    {
      resource: 'AssignedPod',
      actions: ActionType.Add | ActionType.Delete | ActionType.UpdatePodLabel | ActionType.UpdatePodTerminating,
      hint: ({ pod }, old, cur) => {
        const other = cur ?? old;
        if (!other || (other.metadata.namespace ?? 'default') !== (pod.metadata.namespace ?? 'default')) return 'QueueSkip';
        const cs = spreadConstraints(pod, 'DoNotSchedule');
        const selected = (p: PodObject | undefined): boolean => !!p && cs.some((c) => matches(c.selector, p.metadata.labels));
        return selected(old) || selected(cur) ? 'Queue' : 'QueueSkip';
      },
    },
    // upstream's hint: a node with every topology key added or deleted, gaining or losing them,
    // or (having them) changing a key's value or its taints
    {
      resource: 'Node',
      actions: ActionType.Add | ActionType.Delete | ActionType.UpdateNodeLabel | ActionType.UpdateNodeTaint,
      hint: ({ pod }, old, cur) => {
        const cs = spreadConstraints(pod, 'DoNotSchedule');
        const was = !!old && hasAllKeys(old, cs);
        const is = !!cur && hasAllKeys(cur, cs);
        if (old && cur) {
          if (was !== is) return 'Queue';
          const moved = cs.some((c) => old.metadata.labels?.[c.topologyKey] !== cur.metadata.labels?.[c.topologyKey]);
          return is && (moved || !sameJson(old.spec?.taints, cur.spec?.taints)) ? 'Queue' : 'QueueSkip';
        }
        return was || is ? 'Queue' : 'QueueSkip';
      },
    },
  ],
};
