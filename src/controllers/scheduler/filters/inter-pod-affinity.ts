import type { Labels } from '../../../api/labels/index.ts';
import { termMatches, topologyPair, type AffinityTerm } from '../pod-affinity-terms.ts';
import type { Filter } from './types.ts';

export const REASON_POD_AFFINITY = "node(s) didn't match pod affinity rules";
export const REASON_POD_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules";
export const REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";

/** Counts per topology pair (`key\0value`), computed once per attempt (upstream's preFilterState). */
export interface InterPodAffinityState {
  /** pairs where an existing pod's required anti-affinity selects the incoming pod */
  existingAntiAffinity: Map<string, number>;
  /** pairs holding pods that match every one of the incoming pod's required affinity terms */
  affinity: Map<string, number>;
  /** pairs holding pods one of the incoming pod's required anti-affinity terms selects */
  antiAffinity: Map<string, number>;
  /** the incoming pod matches all its own affinity terms (the first pod of a self-affine group may go anywhere) */
  selfAffine: boolean;
}

function bump(m: Map<string, number>, pair: string | undefined): void {
  if (pair !== undefined) m.set(pair, (m.get(pair) ?? 0) + 1);
}

const allMatch = (terms: AffinityTerm[], pod: Parameters<typeof termMatches>[1], ns: (n: string) => Labels): boolean =>
  terms.every((t) => termMatches(t, pod, ns));

/**
 * InterPodAffinity's filter: required podAffinity and podAntiAffinity of the incoming pod against
 * the pods already placed (bound or assumed), and the required anti-affinity of those pods
 * against the incoming one (symmetry), per topology domain (the nodes sharing a `topologyKey`
 * value). Upstream's semantics, including the first pod of a group with affinity to itself.
 */
export const interPodAffinity: Filter = {
  name: 'InterPodAffinity',
  prepare({ pod, nodes, namespaceLabels }, state) {
    const existingAntiAffinity = new Map<string, number>();
    for (const ni of nodes) {
      if (ni.cluster.podsWithRequiredAntiAffinity === 0) break;
      for (const other of ni.podsWithRequiredAntiAffinity.values()) {
        for (const t of other.affinity?.requiredAntiAffinity ?? []) {
          if (termMatches(t, pod.pod, namespaceLabels)) bump(existingAntiAffinity, topologyPair(t.topologyKey, ni.node?.metadata.labels));
        }
      }
    }
    const req = pod.affinity;
    const aff = req?.requiredAffinity ?? [];
    const anti = req?.requiredAntiAffinity ?? [];
    if (existingAntiAffinity.size === 0 && aff.length === 0 && anti.length === 0) return false;
    const affinity = new Map<string, number>();
    const antiAffinity = new Map<string, number>();
    if (aff.length || anti.length) {
      for (const ni of nodes) {
        const labels = ni.node?.metadata.labels;
        for (const other of ni.pods.values()) {
          if (aff.length && allMatch(aff, other.pod, namespaceLabels)) for (const t of aff) bump(affinity, topologyPair(t.topologyKey, labels));
          for (const t of anti) if (termMatches(t, other.pod, namespaceLabels)) bump(antiAffinity, topologyPair(t.topologyKey, labels));
        }
      }
    }
    state.interPodAffinity = { existingAntiAffinity, affinity, antiAffinity, selfAffine: aff.length > 0 && allMatch(aff, pod.pod, namespaceLabels) };
    return true;
  },
  filter({ pod, node, cycle }) {
    const s = cycle.interPodAffinity;
    if (!s) return [];
    const labels = node.metadata.labels;
    let podsExist = true;
    for (const t of pod.affinity?.requiredAffinity ?? []) {
      const pair = topologyPair(t.topologyKey, labels);
      if (pair === undefined) return [REASON_POD_AFFINITY];
      if (!s.affinity.get(pair)) podsExist = false;
    }
    if (!podsExist && !(s.affinity.size === 0 && s.selfAffine)) return [REASON_POD_AFFINITY];
    for (const t of pod.affinity?.requiredAntiAffinity ?? []) {
      const pair = topologyPair(t.topologyKey, labels);
      if (pair !== undefined && s.antiAffinity.get(pair)) return [REASON_POD_ANTI_AFFINITY];
    }
    for (const pair of s.existingAntiAffinity.keys()) {
      const cut = pair.indexOf('\0');
      if (labels?.[pair.slice(0, cut)] === pair.slice(cut + 1)) return [REASON_EXISTING_ANTI_AFFINITY];
    }
    return [];
  },
};
