import type { PolicyRule } from 'kubernetes-types/rbac/v1.js';

/** What a rule is matched against: a resource request or a non-resource URL (upstream authorizer.Attributes). */
export type RuleRequest =
  | { kind: 'resource'; verb: string; group: string; resource: string; subresource: string; name: string; namespace: string }
  | { kind: 'nonResource'; verb: string; path: string };

const ALL = '*';

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.includes(ALL) || rule.verbs.includes(verb);
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  const groups = rule.apiGroups ?? [];
  return groups.includes(ALL) || groups.includes(group);
}

/**
 * `pods` matches only the pods resource, `pods/log` only that subresource, `*` everything
 * (subresources included) and `* /scale` (without the space) that subresource of any resource.
 */
export function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  for (const r of rule.resources ?? []) {
    if (r === ALL || r === combined) return true;
    if (subresource && r === `*/${subresource}`) return true;
  }
  return false;
}

/** No resourceNames = any name; otherwise the request must name one of them (a list or create names none). */
export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  const names = rule.resourceNames ?? [];
  if (names.length === 0) return true;
  return name !== '' && names.includes(name);
}

/** `*` any path, `/healthz` exactly that, `/apis/*` that prefix (a trailing star is the only wildcard). */
export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === ALL || u === path) return true;
    if (u.endsWith(ALL) && path.startsWith(u.slice(0, -1))) return true;
  }
  return false;
}

/** upstream rbac.RuleAllows */
export function ruleAllows(req: RuleRequest, rule: PolicyRule): boolean {
  if (req.kind === 'nonResource') return verbMatches(rule, req.verb) && nonResourceURLMatches(rule, req.path);
  return verbMatches(rule, req.verb) && apiGroupMatches(rule, req.group) && resourceMatches(rule, req.resource, req.subresource) && resourceNameMatches(rule, req.name);
}

export function rulesAllow(req: RuleRequest, rules: readonly PolicyRule[]): boolean {
  for (const r of rules) if (ruleAllows(req, r)) return true;
  return false;
}

/** A rule as kubectl describe prints it, for denial reasons and logs. */
export function describeRule(rule: PolicyRule): string {
  const parts: string[] = [];
  if (rule.apiGroups?.length) parts.push(`APIGroups:[${rule.apiGroups.map((g) => JSON.stringify(g)).join(' ')}]`);
  if (rule.resources?.length) parts.push(`Resources:[${rule.resources.map((g) => JSON.stringify(g)).join(' ')}]`);
  if (rule.resourceNames?.length) parts.push(`ResourceNames:[${rule.resourceNames.map((g) => JSON.stringify(g)).join(' ')}]`);
  if (rule.nonResourceURLs?.length) parts.push(`NonResourceURLs:[${rule.nonResourceURLs.map((g) => JSON.stringify(g)).join(' ')}]`);
  parts.push(`Verbs:[${rule.verbs.map((g) => JSON.stringify(g)).join(' ')}]`);
  return `{${parts.join(', ')}}`;
}
