import type {
  Affinity,
  NodeSelectorRequirement,
  NodeSelectorTerm,
  PodAffinityTerm,
  TopologySpreadConstraint,
  WeightedPodAffinityTerm,
} from 'kubernetes-types/core/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import { validateLabelSelector } from '../labels/validate.ts';
import { child, duplicate, forbidden, index, invalid, notSupported, required } from '../meta/field-errors.ts';
import { isDNS1123Label, isQualifiedName } from '../meta/name-formats.ts';

const SET_OPS = ['In', 'NotIn'];
const NODE_OPS = ['DoesNotExist', 'Exists', 'Gt', 'In', 'Lt', 'NotIn'];
const WHEN_UNSATISFIABLE = ['DoNotSchedule', 'ScheduleAnyway'];
const INCLUSION_POLICIES = ['Honor', 'Ignore'];

function qualifiedKey(key: string | undefined, path: string, causes: FieldCause[]): void {
  for (const msg of isQualifiedName(key ?? '')) causes.push(invalid(path, key ?? '', msg));
}

function weight(w: number | undefined, path: string, causes: FieldCause[]): void {
  if (typeof w !== 'number' || !Number.isInteger(w) || w < 1 || w > 100) causes.push(invalid(path, w, 'must be in the range 1-100'));
}

/** ValidateNodeSelectorRequirement: In/NotIn need values, Exists/DoesNotExist take none, Gt/Lt one integer. */
function nodeRequirement(r: NodeSelectorRequirement, path: string, causes: FieldCause[]): void {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
    case 'NotIn':
      if (values.length === 0) causes.push(required(child(path, 'values'), "must be specified when `operator` is 'In' or 'NotIn'"));
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (values.length > 0) causes.push(forbidden(child(path, 'values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
      break;
    case 'Gt':
    case 'Lt':
      if (values.length !== 1) causes.push(required(child(path, 'values'), "must be specified single value when `operator` is 'Lt' or 'Gt'"));
      else if (!/^-?\d+$/.test(values[0])) causes.push(invalid(index(child(path, 'values'), 0), values[0], 'must be an integer'));
      break;
    default:
      causes.push(notSupported(child(path, 'operator'), r.operator, NODE_OPS));
  }
  qualifiedKey(r.key, child(path, 'key'), causes);
}

/** ValidateNodeSelectorTerm (also a PV's spec.nodeAffinity.required terms) */
export function nodeSelectorTerm(t: NodeSelectorTerm, path: string, causes: FieldCause[]): void {
  (t.matchExpressions ?? []).forEach((r, i) => nodeRequirement(r, index(child(path, 'matchExpressions'), i), causes));
  (t.matchFields ?? []).forEach((f, i) => {
    const p = index(child(path, 'matchFields'), i);
    if (f.key !== 'metadata.name') causes.push(notSupported(child(p, 'key'), f.key, ['metadata.name']));
    if (!SET_OPS.includes(f.operator)) causes.push(notSupported(child(p, 'operator'), f.operator, SET_OPS));
    else if ((f.values ?? []).length !== 1) causes.push(required(child(p, 'values'), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"));
  });
}

function podAffinityTerm(t: PodAffinityTerm, path: string, causes: FieldCause[]): void {
  causes.push(...validateLabelSelector(t.labelSelector, child(path, 'labelSelector')));
  causes.push(...validateLabelSelector(t.namespaceSelector, child(path, 'namespaceSelector')));
  (t.namespaces ?? []).forEach((ns, i) => {
    for (const msg of isDNS1123Label(ns)) causes.push(invalid(index(child(path, 'namespaces'), i), ns, msg));
  });
  if (!t.topologyKey) causes.push(required(child(path, 'topologyKey'), 'can not be empty'));
  else qualifiedKey(t.topologyKey, child(path, 'topologyKey'), causes);
  const keys = new Set<string>();
  for (const field of ['matchLabelKeys', 'mismatchLabelKeys'] as const) {
    (t[field] ?? []).forEach((k, i) => {
      const p = index(child(path, field), i);
      if (!t.labelSelector) causes.push(forbidden(p, 'must not be specified when labelSelector is not set'));
      qualifiedKey(k, p, causes);
      if (keys.has(k)) causes.push(invalid(p, k, 'exists in both matchLabelKeys and mismatchLabelKeys'));
      keys.add(k);
    });
  }
}

function podAffinityTerms(req: PodAffinityTerm[] | undefined, pref: WeightedPodAffinityTerm[] | undefined, path: string, causes: FieldCause[]): void {
  (req ?? []).forEach((t, i) => podAffinityTerm(t, index(child(path, 'requiredDuringSchedulingIgnoredDuringExecution'), i), causes));
  (pref ?? []).forEach((t, i) => {
    const p = index(child(path, 'preferredDuringSchedulingIgnoredDuringExecution'), i);
    weight(t.weight, child(p, 'weight'), causes);
    podAffinityTerm(t.podAffinityTerm ?? ({} as PodAffinityTerm), child(p, 'podAffinityTerm'), causes);
  });
}

/** validateAffinity: node affinity terms, pod affinity and anti-affinity terms, weights 1–100. */
export function validateAffinity(a: Affinity | undefined, path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  if (!a) return causes;
  const na = a.nodeAffinity;
  if (na) {
    const np = child(path, 'nodeAffinity');
    const req = na.requiredDuringSchedulingIgnoredDuringExecution;
    if (req) {
      const rp = child(np, 'requiredDuringSchedulingIgnoredDuringExecution');
      if (!req.nodeSelectorTerms?.length) causes.push(required(child(rp, 'nodeSelectorTerms'), 'must have at least one node selector term'));
      (req.nodeSelectorTerms ?? []).forEach((t, i) => nodeSelectorTerm(t, index(child(rp, 'nodeSelectorTerms'), i), causes));
    }
    (na.preferredDuringSchedulingIgnoredDuringExecution ?? []).forEach((t, i) => {
      const p = index(child(np, 'preferredDuringSchedulingIgnoredDuringExecution'), i);
      weight(t.weight, child(p, 'weight'), causes);
      nodeSelectorTerm(t.preference ?? {}, child(p, 'preference'), causes);
    });
  }
  if (a.podAffinity) {
    podAffinityTerms(a.podAffinity.requiredDuringSchedulingIgnoredDuringExecution, a.podAffinity.preferredDuringSchedulingIgnoredDuringExecution, child(path, 'podAffinity'), causes);
  }
  if (a.podAntiAffinity) {
    const anti = a.podAntiAffinity;
    podAffinityTerms(anti.requiredDuringSchedulingIgnoredDuringExecution, anti.preferredDuringSchedulingIgnoredDuringExecution, child(path, 'podAntiAffinity'), causes);
  }
  return causes;
}

/** validateTopologySpreadConstraints, as upstream (one constraint per topologyKey + whenUnsatisfiable). */
export function validateTopologySpreadConstraints(constraints: TopologySpreadConstraint[] | undefined, path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  const seen = new Set<string>();
  (constraints ?? []).forEach((c, i) => {
    const p = index(path, i);
    if (typeof c.maxSkew !== 'number' || !Number.isInteger(c.maxSkew) || c.maxSkew <= 0) causes.push(invalid(child(p, 'maxSkew'), c.maxSkew, 'must be greater than zero'));
    if (!c.topologyKey) causes.push(required(child(p, 'topologyKey'), 'can not be empty'));
    else qualifiedKey(c.topologyKey, child(p, 'topologyKey'), causes);
    if (!c.whenUnsatisfiable) causes.push(required(child(p, 'whenUnsatisfiable')));
    else if (!WHEN_UNSATISFIABLE.includes(c.whenUnsatisfiable)) causes.push(notSupported(child(p, 'whenUnsatisfiable'), c.whenUnsatisfiable, WHEN_UNSATISFIABLE));
    if (c.minDomains !== undefined && c.minDomains !== null) {
      if (!Number.isInteger(c.minDomains) || c.minDomains <= 0) causes.push(invalid(child(p, 'minDomains'), c.minDomains, 'must be greater than 0'));
      else if (c.whenUnsatisfiable !== 'DoNotSchedule') {
        causes.push(invalid(child(p, 'minDomains'), c.minDomains, `can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ${c.whenUnsatisfiable}`));
      }
    }
    for (const field of ['nodeAffinityPolicy', 'nodeTaintsPolicy'] as const) {
      const v = c[field];
      if (v !== undefined && !INCLUSION_POLICIES.includes(v)) causes.push(notSupported(child(p, field), v, INCLUSION_POLICIES));
    }
    const key = `{${c.topologyKey}, ${c.whenUnsatisfiable}}`;
    if (seen.has(key)) causes.push(duplicate(child(p, '{topologyKey, whenUnsatisfiable}'), key));
    seen.add(key);
    causes.push(...validateLabelSelector(c.labelSelector, child(p, 'labelSelector')));
    const selectorKeys = new Set([...Object.keys(c.labelSelector?.matchLabels ?? {}), ...(c.labelSelector?.matchExpressions ?? []).map((e) => e.key)]);
    (c.matchLabelKeys ?? []).forEach((k, j) => {
      const kp = index(child(p, 'matchLabelKeys'), j);
      if (!c.labelSelector) causes.push(forbidden(kp, 'must not be specified when labelSelector is not set'));
      qualifiedKey(k, kp, causes);
      if (selectorKeys.has(k)) causes.push(invalid(kp, k, 'exists in both matchLabelKeys and labelSelector'));
    });
  });
  return causes;
}
