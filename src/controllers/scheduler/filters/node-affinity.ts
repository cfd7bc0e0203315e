import type { NodeSelectorRequirement, NodeSelectorTerm } from 'kubernetes-types/core/v1.js';
import type { NodeObject, PodObject } from '../../common/types.ts';
import { ActionType } from '../events.ts';
import type { Filter } from './types.ts';

export const REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector";

function intOf(s: string | undefined): number | undefined {
  if (s === undefined || !/^-?\d+$/.test(s)) return undefined;
  return Number(s);
}

export function matchExpression(req: NodeSelectorRequirement, values: Record<string, string>): boolean {
  const has = Object.hasOwn(values, req.key);
  const v = values[req.key];
  const list = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return has && list.includes(v);
    case 'NotIn':
      return !has || !list.includes(v);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      const a = intOf(has ? v : undefined);
      const b = intOf(list[0]);
      if (a === undefined || b === undefined || list.length !== 1) return false;
      return req.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** A term with neither expressions nor fields selects nothing (upstream nodeaffinity semantics). */
export function matchTerm(term: NodeSelectorTerm, node: NodeObject): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata.labels ?? {};
  const fieldValues = { 'metadata.name': node.metadata.name ?? '' };
  return (
    exprs.every((e) => matchExpression(e, labels)) &&
    fields.every((f) => (f.key === 'metadata.name' && (f.operator === 'In' || f.operator === 'NotIn')) && matchExpression(f, fieldValues))
  );
}

/** spec.nodeSelector AND requiredDuringSchedulingIgnoredDuringExecution (terms ORed). */
export function matchesRequiredNodeAffinity(pod: PodObject, node: NodeObject): boolean {
  const spec = pod.spec;
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(spec?.nodeSelector ?? {})) {
    if (labels[k] !== v) return false;
  }
  const required = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  return !required || required.nodeSelectorTerms.some((t) => matchTerm(t, node));
}

export const nodeAffinity: Filter = {
  name: 'NodeAffinity',
  filter({ pod, node }) {
    return matchesRequiredNodeAffinity(pod.pod, node) ? [] : [REASON_AFFINITY];
  },
  // upstream's hint: a node that now matches the pod's selector and affinity and did not before
  events: [
    {
      resource: 'Node',
      actions: ActionType.Add | ActionType.UpdateNodeLabel,
      hint: ({ pod }, old, cur) => (cur && matchesRequiredNodeAffinity(pod, cur) && (!old || !matchesRequiredNodeAffinity(pod, old)) ? 'Queue' : 'QueueSkip'),
    },
  ],
};

/**
 * NodeAffinity's score: the summed weights of the preferred terms the node matches (normalised
 * against the best candidate by the caller).
 */
export function preferredNodeAffinityWeight(pod: PodObject, node: NodeObject): number {
  let sum = 0;
  for (const t of pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
    if (t.weight > 0 && matchTerm(t.preference, node)) sum += t.weight;
  }
  return sum;
}
