import type { PodAffinityTerm, WeightedPodAffinityTerm } from 'kubernetes-types/core/v1.js';
import { matches, newRequirement, nothing, selectorFromLabelSelector, type Labels, type Selector } from '../../api/labels/index.ts';
import type { PodObject } from '../common/types.ts';

/** One pod (anti-)affinity term, its selectors parsed once per pod version. */
export interface AffinityTerm {
  selector: Selector;
  /** namespaces the term names, or the pod's own when it names none and has no namespaceSelector */
  namespaces: ReadonlySet<string>;
  /** namespaceSelector; `{}` selects every namespace */
  namespaceSelector: Selector | undefined;
  topologyKey: string;
  /** 1 for required terms; the preferred term's weight (1–100) */
  weight: number;
}

/** A pod's inter-pod affinity, split as upstream's PodInfo does. */
export interface PodAffinityInfo {
  requiredAffinity: AffinityTerm[];
  requiredAntiAffinity: AffinityTerm[];
  preferredAffinity: AffinityTerm[];
  preferredAntiAffinity: AffinityTerm[];
}

/**
 * The term's labelSelector plus `matchLabelKeys` (key In [the pod's value]) and
 * `mismatchLabelKeys` (key NotIn [...]) for the keys the pod carries. The apiserver has validated
 * the selector; one that still does not parse selects nothing rather than failing the pod.
 */
function termSelector(term: PodAffinityTerm, labels: Labels): Selector {
  try {
    const sel = selectorFromLabelSelector(term.labelSelector);
    const extra = [
      ...(term.matchLabelKeys ?? []).filter((k) => labels?.[k] !== undefined).map((k) => newRequirement(k, 'in', [labels![k]])),
      ...(term.mismatchLabelKeys ?? []).filter((k) => labels?.[k] !== undefined).map((k) => newRequirement(k, 'notin', [labels![k]])),
    ];
    return extra.length ? { ...sel, requirements: [...sel.requirements, ...extra] } : sel;
  } catch {
    return nothing();
  }
}

function parseTerm(pod: PodObject, term: PodAffinityTerm, weight: number): AffinityTerm {
  let namespaceSelector: Selector | undefined;
  try {
    namespaceSelector = term.namespaceSelector ? selectorFromLabelSelector(term.namespaceSelector) : undefined;
  } catch {
    namespaceSelector = nothing();
  }
  const named = term.namespaces ?? [];
  const namespaces = new Set(named.length === 0 && !term.namespaceSelector ? [pod.metadata.namespace ?? 'default'] : named);
  return { selector: termSelector(term, pod.metadata.labels), namespaces, namespaceSelector, topologyKey: term.topologyKey, weight };
}

const required = (pod: PodObject, terms: PodAffinityTerm[] | undefined): AffinityTerm[] => (terms ?? []).map((t) => parseTerm(pod, t, 1));
const preferred = (pod: PodObject, terms: WeightedPodAffinityTerm[] | undefined): AffinityTerm[] =>
  (terms ?? []).filter((t) => t.weight > 0).map((t) => parseTerm(pod, t.podAffinityTerm, t.weight));

/** undefined when the pod has neither podAffinity nor podAntiAffinity terms (almost every pod). */
export function podAffinityInfo(pod: PodObject): PodAffinityInfo | undefined {
  const a = pod.spec?.affinity;
  if (!a?.podAffinity && !a?.podAntiAffinity) return undefined;
  const info: PodAffinityInfo = {
    requiredAffinity: required(pod, a.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution),
    requiredAntiAffinity: required(pod, a.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution),
    preferredAffinity: preferred(pod, a.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution),
    preferredAntiAffinity: preferred(pod, a.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution),
  };
  const n = info.requiredAffinity.length + info.requiredAntiAffinity.length + info.preferredAffinity.length + info.preferredAntiAffinity.length;
  return n === 0 ? undefined : info;
}

/** Does `pod` fall under `term` (its namespace among the term's, its labels selected)? */
export function termMatches(term: AffinityTerm, pod: PodObject, namespaceLabels: (ns: string) => Labels): boolean {
  const ns = pod.metadata.namespace ?? 'default';
  if (!term.namespaces.has(ns) && !(term.namespaceSelector && matches(term.namespaceSelector, namespaceLabels(ns)))) return false;
  return matches(term.selector, pod.metadata.labels);
}

/** `topologyKey\0value` of the node the term is evaluated on; undefined when the node lacks the key. */
export function topologyPair(key: string, nodeLabels: Labels): string | undefined {
  const v = nodeLabels?.[key];
  return v === undefined ? undefined : `${key}\0${v}`;
}
