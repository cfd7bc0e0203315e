import type { ResourceDef } from '../../../api/resources/types.ts';
import type { NamedRule } from '../../../api/validation/admission-policy.ts';
import type { CelMatchedVersion } from '../cel-activation.ts';
import type { AdmissionRequest } from '../types.ts';
import { namespaceSelectorMatches, objectSelectorMatches, ruleMatches, type RuleTarget } from '../webhook/matching.ts';
import type { CompiledMatch } from './compile.ts';

export interface MatchContext {
  namespaceLabels(name: string): Promise<Record<string, string> | undefined>;
  equivalentDefs(def: ResourceDef): readonly ResourceDef[];
}

/** upstream matching.matchesResourceRules for one target: the rule, then its resourceNames (empty: any name) */
function namedRuleMatches(rules: readonly NamedRule[], t: RuleTarget, name: string): boolean {
  return rules.some((r) => ruleMatches(r, t) && (!r.resourceNames || r.resourceNames.length === 0 || r.resourceNames.includes(name)));
}

/**
 * upstream policy matching.Matcher.Matches: namespaceSelector, objectSelector, then not excluded
 * and a resourceRule (exact, else — matchPolicy Equivalent — another served version of the same
 * group/resource). No resourceRules (a binding's matchResources) matches every resource. Returns
 * the version the request is seen in, undefined when it does not match.
 */
export async function matchResources(m: CompiledMatch, req: AdmissionRequest, ctx: MatchContext): Promise<CelMatchedVersion | undefined> {
  const def = req.def;
  const t: RuleTarget = { operation: req.operation, group: def.group, version: def.version, resource: def.plural, subresource: req.subresource, namespace: req.namespace };
  if (!(await namespaceSelectorMatches(m.namespaceSelector, t, req, ctx.namespaceLabels))) return undefined;
  if (!objectSelectorMatches(m.objectSelector, req.object, req.oldObject)) return undefined;
  const name = req.name || (req.object ?? req.oldObject)?.metadata?.name || '';
  const own: CelMatchedVersion = { group: def.group, version: def.version, kind: def.kind, resource: def.plural };
  const equivalent = (rules: readonly NamedRule[]): CelMatchedVersion | undefined => {
    if (namedRuleMatches(rules, t, name)) return own;
    if (m.matchPolicy !== 'Equivalent') return undefined;
    const eq = ctx.equivalentDefs(def).find((d) => namedRuleMatches(rules, { ...t, group: d.group, version: d.version, resource: d.plural }, name));
    return eq ? { group: eq.group, version: eq.version, kind: eq.kind, resource: eq.plural } : undefined;
  };
  if (m.excludeResourceRules.length > 0 && equivalent(m.excludeResourceRules)) return undefined;
  if (m.resourceRules.length === 0) return own;
  return equivalent(m.resourceRules);
}
