import { parse as parseYaml } from 'yaml';
import { isDNS1123Subdomain } from '../../api/meta/name-formats.ts';
import type { UserInfo } from '../auth/types.ts';
import type { RequestInfo } from '../request-info.ts';
import { LEVELS, STAGES, type GroupResources, type Level, type Policy, type PolicyRule, type RequestAuditConfig, type Stage } from './types.ts';

/** A policy that cannot be used; the message names the field (`rules[2].level: ...`). */
export class AuditPolicyError extends Error {
  override readonly name = 'AuditPolicyError';
}

const none: RequestAuditConfig = Object.freeze({ level: 'None', omitStages: Object.freeze([]), omitManagedFields: false });

/**
 * The compiled policy: `evaluate` gives the first matching rule's level (upstream
 * policy.NewPolicyRuleEvaluator); no matching rule is level None.
 */
export class AuditPolicy {
  readonly #rules: readonly CompiledRule[];

  constructor(readonly policy: Policy) {
    const policyStages = policy.omitStages ?? [];
    this.#rules = policy.rules.map((rule) => ({
      rule,
      config: Object.freeze({
        level: rule.level,
        omitStages: Object.freeze([...new Set([...policyStages, ...(rule.omitStages ?? [])])]),
        // a rule's own setting wins, also an explicit false (upstream: isOmitManagedFields)
        omitManagedFields: rule.omitManagedFields ?? policy.omitManagedFields ?? false,
      }),
    }));
  }

  /** `user` undefined = the request failed authentication (rules naming users or groups do not match it) */
  evaluate(user: Pick<UserInfo, 'username' | 'groups'> | undefined, info: RequestInfo): RequestAuditConfig {
    for (const r of this.#rules) if (ruleMatches(r.rule, user, info)) return r.config;
    return none;
  }
}

interface CompiledRule {
  rule: PolicyRule;
  config: RequestAuditConfig;
}

/** upstream policy/checker.go ruleMatches */
export function ruleMatches(r: PolicyRule, user: Pick<UserInfo, 'username' | 'groups'> | undefined, info: RequestInfo): boolean {
  if (r.users?.length) {
    if (!user || !r.users.includes(user.username)) return false;
  }
  if (r.userGroups?.length) {
    if (!user || !user.groups.some((g) => r.userGroups!.includes(g))) return false;
  }
  if (r.verbs?.length && !r.verbs.includes(info.verb)) return false;
  if (r.namespaces?.length || r.resources?.length) return resourceMatches(r, info);
  if (r.nonResourceURLs?.length) return !info.isResourceRequest && r.nonResourceURLs.some((spec) => pathMatches(info.path, spec));
  return true;
}

function resourceMatches(r: PolicyRule, info: RequestInfo): boolean {
  if (!info.isResourceRequest) return false;
  // cluster-scoped requests have the namespace ''
  if (r.namespaces?.length && !r.namespaces.includes(info.namespace)) return false;
  if (!r.resources?.length) return true;
  const { resource, subresource, name } = info;
  const combined = subresource ? `${resource}/${subresource}` : resource;
  for (const gr of r.resources) {
    if ((gr.group ?? '') !== info.group) continue;
    if (!gr.resources?.length) return true;
    if (gr.resourceNames?.length && !gr.resourceNames.includes(name)) continue;
    for (const res of gr.resources) {
      if (res === combined || res === '*') return true;
      if (subresource && res.startsWith('*/') && res.slice(2) === subresource) return true;
      if (res.endsWith('/*') && res.slice(0, -2) === resource) return true;
    }
  }
  return false;
}

function pathMatches(path: string, spec: string): boolean {
  if (spec === '*' || spec === path) return true;
  return spec.endsWith('*') && path.startsWith(spec.slice(0, -1));
}

/** Parse a policy file's text (YAML or JSON) and validate it as kube-apiserver does. */
export function parseAuditPolicy(text: string): AuditPolicy {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: false, uniqueKeys: true });
  } catch (err) {
    throw new AuditPolicyError(`not YAML or JSON: ${(err as Error).message}`);
  }
  const errs: string[] = [];
  const policy = checkPolicy(doc, errs);
  if (errs.length) throw new AuditPolicyError(errs.join('; '));
  if (policy.rules.length === 0) throw new AuditPolicyError('rules: Required value: a policy needs at least one rule (upstream: "loaded illegal policy with 0 rules")');
  return new AuditPolicy(policy);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const quote = (v: unknown): string => JSON.stringify(v);

const POLICY_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'rules', 'omitStages', 'omitManagedFields']);
const RULE_FIELDS = new Set(['level', 'users', 'userGroups', 'verbs', 'resources', 'namespaces', 'nonResourceURLs', 'omitStages', 'omitManagedFields']);
const GROUP_RESOURCE_FIELDS = new Set(['group', 'resources', 'resourceNames']);

function unknownFields(o: Obj, known: Set<string>, path: string, errs: string[]): void {
  for (const k of Object.keys(o)) if (!known.has(k)) errs.push(`${path}${path ? '.' : ''}${k}: unknown field`);
}

function strings(v: unknown, path: string, errs: string[]): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    errs.push(`${path}: Invalid value: ${quote(v)}: must be a list of strings`);
    return undefined;
  }
  v.forEach((s, i) => {
    if (typeof s !== 'string') errs.push(`${path}[${i}]: Invalid value: ${quote(s)}: must be a string`);
  });
  return v.filter((s): s is string => typeof s === 'string');
}

function bool(v: unknown, path: string, errs: string[]): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') errs.push(`${path}: Invalid value: ${quote(v)}: must be true or false`);
  return typeof v === 'boolean' ? v : undefined;
}

function stages(v: unknown, path: string, errs: string[]): Stage[] | undefined {
  const list = strings(v, path, errs);
  list?.forEach((s, i) => {
    if (!(STAGES as readonly string[]).includes(s)) errs.push(`${path}[${i}]: Invalid value: ${quote(s)}: allowed stages are ${STAGES.join(',')}`);
  });
  return list?.filter((s): s is Stage => (STAGES as readonly string[]).includes(s));
}

function checkPolicy(doc: unknown, errs: string[]): Policy {
  const empty: Policy = { apiVersion: 'audit.k8s.io/v1', kind: 'Policy', rules: [] };
  if (!isObj(doc)) {
    errs.push('the file must hold one audit.k8s.io/v1 Policy object');
    return empty;
  }
  if (doc.apiVersion !== 'audit.k8s.io/v1') errs.push(`apiVersion: Unsupported value: ${quote(doc.apiVersion ?? '')}: supported values: "audit.k8s.io/v1"`);
  if (doc.kind !== 'Policy') errs.push(`kind: Unsupported value: ${quote(doc.kind ?? '')}: supported values: "Policy"`);
  unknownFields(doc, POLICY_FIELDS, '', errs);
  if (doc.metadata !== undefined && doc.metadata !== null && !isObj(doc.metadata)) errs.push(`metadata: Invalid value: ${quote(doc.metadata)}: must be an object`);
  const out: Policy = {
    ...empty,
    omitStages: stages(doc.omitStages, 'omitStages', errs),
    omitManagedFields: bool(doc.omitManagedFields, 'omitManagedFields', errs),
  };
  if (doc.rules === undefined || doc.rules === null) return out;
  if (!Array.isArray(doc.rules)) {
    errs.push(`rules: Invalid value: ${quote(doc.rules)}: must be a list of rules`);
    return out;
  }
  out.rules = doc.rules.map((r, i) => checkRule(r, `rules[${i}]`, errs));
  return out;
}

function checkRule(r: unknown, path: string, errs: string[]): PolicyRule {
  if (!isObj(r)) {
    errs.push(`${path}: Invalid value: ${quote(r)}: must be an object`);
    return { level: 'None' };
  }
  unknownFields(r, RULE_FIELDS, path, errs);
  if (!(LEVELS as readonly unknown[]).includes(r.level)) {
    errs.push(`${path}.level: ${r.level === undefined ? 'Required value' : `Unsupported value: ${quote(r.level)}`}: supported values: ${LEVELS.map(quote).join(', ')}`);
  }
  const rule: PolicyRule = {
    level: (LEVELS as readonly unknown[]).includes(r.level) ? (r.level as Level) : 'None',
    users: strings(r.users, `${path}.users`, errs),
    userGroups: strings(r.userGroups, `${path}.userGroups`, errs),
    verbs: strings(r.verbs, `${path}.verbs`, errs),
    namespaces: strings(r.namespaces, `${path}.namespaces`, errs),
    nonResourceURLs: strings(r.nonResourceURLs, `${path}.nonResourceURLs`, errs),
    omitStages: stages(r.omitStages, `${path}.omitStages`, errs),
    omitManagedFields: bool(r.omitManagedFields, `${path}.omitManagedFields`, errs),
  };
  rule.nonResourceURLs?.forEach((url, i) => {
    if (url === '*') return;
    if (!url.startsWith('/')) errs.push(`${path}.nonResourceURLs[${i}]: Invalid value: ${quote(url)}: non-resource URL rules must begin with a '/' character`);
    if (url !== '' && url.slice(0, -1).includes('*')) errs.push(`${path}.nonResourceURLs[${i}]: Invalid value: ${quote(url)}: non-resource URL wildcards '*' must be the final character of the rule`);
  });
  if (r.resources !== undefined && r.resources !== null) {
    if (!Array.isArray(r.resources)) errs.push(`${path}.resources: Invalid value: ${quote(r.resources)}: must be a list of {group, resources, resourceNames}`);
    else rule.resources = r.resources.map((gr, i) => checkGroupResources(gr, `${path}.resources[${i}]`, errs));
  }
  if (rule.nonResourceURLs?.length && (rule.resources?.length || rule.namespaces?.length)) {
    errs.push(`${path}.nonResourceURLs: Invalid value: ${quote(rule.nonResourceURLs)}: rules cannot apply to both regular resources and non-resource URLs`);
  }
  // drop the absent keys: the compiled rule is compared and printed as given
  for (const k of Object.keys(rule) as (keyof PolicyRule)[]) if (rule[k] === undefined) delete rule[k];
  return rule;
}

function checkGroupResources(gr: unknown, path: string, errs: string[]): GroupResources {
  if (!isObj(gr)) {
    errs.push(`${path}: Invalid value: ${quote(gr)}: must be an object`);
    return {};
  }
  unknownFields(gr, GROUP_RESOURCE_FIELDS, path, errs);
  const out: GroupResources = {};
  if (gr.group !== undefined && gr.group !== null) {
    if (typeof gr.group !== 'string') errs.push(`${path}.group: Invalid value: ${quote(gr.group)}: must be a string`);
    else {
      // '' is the core group; others are lower-case DNS subdomains
      if (gr.group !== '') for (const msg of isDNS1123Subdomain(gr.group)) errs.push(`${path}.group: Invalid value: ${quote(gr.group)}: ${msg}`);
      out.group = gr.group;
    }
  }
  const resources = strings(gr.resources, `${path}.resources`, errs);
  const names = strings(gr.resourceNames, `${path}.resourceNames`, errs);
  if (resources) out.resources = resources;
  if (names) out.resourceNames = names;
  if (names?.length && !resources?.length) errs.push(`${path}.resourceNames: Invalid value: ${quote(names)}: using resourceNames requires at least one resource`);
  return out;
}
