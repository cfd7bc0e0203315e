import type { ClusterRole, PolicyRule } from 'kubernetes-types/rbac/v1.js';
import { matches, selectorFromLabelSelector } from '../labels/index.ts';
import { jsonEqual } from '../patch/index.ts';

/**
 * The rules an aggregated ClusterRole should hold: the rules of every other ClusterRole its
 * `aggregationRule.clusterRoleSelectors` select (any selector matching is enough), in name
 * order, duplicates dropped — upstream's clusterroleaggregation controller. Undefined when the
 * role does not aggregate.
 */
export function aggregatedRules(role: ClusterRole, all: readonly ClusterRole[]): PolicyRule[] | undefined {
  const selectors = role.aggregationRule?.clusterRoleSelectors;
  if (!selectors) return undefined;
  const sels = selectors.map((s) => selectorFromLabelSelector(s));
  const sources = all
    .filter((c) => c.metadata?.name !== role.metadata?.name && sels.some((s) => matches(s, c.metadata?.labels)))
    .sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1));
  const out: PolicyRule[] = [];
  for (const src of sources) {
    for (const rule of src.rules ?? []) if (!out.some((r) => jsonEqual(r as never, rule as never))) out.push(rule);
  }
  return out;
}
