import type { Labels } from '../../../api/labels/index.ts';
import type { PodObject } from '../../common/types.ts';
import { ActionType, type HintContext, type QueueingHint } from '../events.ts';
import type { PodInfo } from '../node-info.ts';
import { podAffinityInfo, termMatches, topologyPair, type AffinityTerm } from '../pod-affinity-terms.ts';
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
 * upstream's isSchedulableAfterPodChange for a placed pod added, relabelled or gone: Queue when it
 * now matches all the pod's required affinity terms, or no longer matches (or left while matching)
 * one of its anti-affinity terms. hedge adds the symmetric case upstream's hint misses: the placed
 * pod's own required anti-affinity selected the pod and no longer does (or it left).
 */
function afterAssignedPodChange(pi: PodInfo, old: PodObject | undefined, cur: PodObject | undefined, { namespaceLabels: ns }: HintContext): QueueingHint {
  const aff = pi.affinity?.requiredAffinity ?? [];
  const anti = pi.affinity?.requiredAntiAffinity ?? [];
  const matchesAffinity = (p: PodObject): boolean => aff.length > 0 && allMatch(aff, p, ns);
  const matchesAnti = (p: PodObject): boolean => anti.some((t) => termMatches(t, p, ns));
  const blocks = (p: PodObject): boolean => !!p.spec?.affinity?.podAntiAffinity && (podAffinityInfo(p)?.requiredAntiAffinity ?? []).some((t) => termMatches(t, pi.pod, ns));
  if (old && cur) {
    const helps = (!matchesAffinity(old) && matchesAffinity(cur)) || (matchesAnti(old) && !matchesAnti(cur)) || (blocks(old) && !blocks(cur));
    return helps ? 'Queue' : 'QueueSkip';
  }
  if (cur) return matchesAffinity(cur) ? 'Queue' : 'QueueSkip';
  return old && (matchesAnti(old) || blocks(old)) ? 'Queue' : 'QueueSkip';
}

/** the pod's own required terms (none: it was rejected by placed pods' anti-affinity) */
const ownTerms = (pi: PodInfo): AffinityTerm[] => [...(pi.affinity?.requiredAffinity ?? []), ...(pi.affinity?.requiredAntiAffinity ?? [])];

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
  events: [
    { resource: 'AssignedPod', actions: ActionType.Add | ActionType.Delete | ActionType.UpdatePodLabel, hint: afterAssignedPodChange },
    // upstream's hint: a node labelled with one of the pod's topology keys. hedge also queues on a
    // new node (a new domain may be free of the placed pods whose anti-affinity rejected it) and,
    // for a pod with no terms of its own, on any label change (its node may leave the blocked domain)
    {
      resource: 'Node',
      actions: ActionType.Add | ActionType.UpdateNodeLabel,
      hint: (pi, old, cur) => {
        const own = ownTerms(pi);
        if (!old || own.length === 0) return 'Queue';
        return own.some((t) => cur?.metadata.labels?.[t.topologyKey] !== undefined) ? 'Queue' : 'QueueSkip';
      },
    },
    // namespaceSelector terms (the pod's, or placed pods' anti-affinity) read namespace labels
    {
      resource: 'Namespace',
      actions: ActionType.Update,
      hint: (pi) => {
        const own = ownTerms(pi);
        return own.length === 0 || own.some((t) => t.namespaceSelector !== undefined) ? 'Queue' : 'QueueSkip';
      },
    },
  ],
};
