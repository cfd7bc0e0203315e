import type { UserInfo } from '../auth/types.ts';
import type { RequestInfo } from '../request-info.ts';
import type { FlowSchema, NonResourcePolicyRule, PolicyRulesWithSubjects, ResourcePolicyRule, Subject } from './bootstrap.ts';

const SA_PREFIX = 'system:serviceaccount:';

/** FlowSchemas in the order upstream tries them: matchingPrecedence, then name */
export function sortFlowSchemas(schemas: readonly FlowSchema[]): FlowSchema[] {
  return [...schemas].sort((a, b) => a.spec.matchingPrecedence - b.spec.matchingPrecedence || ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : (a.metadata.name ?? '') > (b.metadata.name ?? '') ? 1 : 0));
}

/** the first of `sorted` that matches (upstream's classification); undefined when none does */
export function classify(sorted: readonly FlowSchema[], user: UserInfo, info: RequestInfo): FlowSchema | undefined {
  for (const fs of sorted) if (matchesFlowSchema(fs, user, info)) return fs;
  return undefined;
}

export function matchesFlowSchema(fs: FlowSchema, user: UserInfo, info: RequestInfo): boolean {
  for (const rule of fs.spec.rules ?? []) if (matchesPolicyRule(rule, user, info)) return true;
  return false;
}

function matchesPolicyRule(rule: PolicyRulesWithSubjects, user: UserInfo, info: RequestInfo): boolean {
  if (!rule.subjects.some((s) => matchesSubject(s, user))) return false;
  if (info.isResourceRequest) return (rule.resourceRules ?? []).some((r) => matchesResourceRule(r, info));
  return (rule.nonResourceRules ?? []).some((r) => matchesNonResourceRule(r, info.verb, info.path));
}

export function matchesSubject(s: Subject, user: UserInfo): boolean {
  switch (s.kind) {
    case 'User':
      return s.user !== undefined && (s.user.name === '*' || s.user.name === user.username);
    case 'Group':
      return s.group !== undefined && (s.group.name === '*' || user.groups.includes(s.group.name));
    case 'ServiceAccount': {
      const sa = s.serviceAccount;
      if (!sa || !user.username.startsWith(SA_PREFIX)) return false;
      const rest = user.username.slice(SA_PREFIX.length);
      const colon = rest.indexOf(':');
      if (colon <= 0) return false;
      return rest.slice(0, colon) === sa.namespace && (sa.name === '*' || rest.slice(colon + 1) === sa.name);
    }
    default:
      return false;
  }
}

const has = (list: readonly string[] | undefined, v: string): boolean => list !== undefined && (list.includes('*') || list.includes(v));

function matchesResourceRule(r: ResourcePolicyRule, info: Extract<RequestInfo, { isResourceRequest: true }>): boolean {
  if (!has(r.verbs, info.verb) || !has(r.apiGroups, info.group)) return false;
  const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
  if (!has(r.resources, resource)) return false;
  // a request without a namespace (cluster-scoped, or all namespaces) is matched by clusterScope
  return info.namespace === '' ? r.clusterScope === true : has(r.namespaces, info.namespace);
}

function matchesNonResourceRule(r: NonResourcePolicyRule, verb: string, path: string): boolean {
  if (!has(r.verbs, verb)) return false;
  for (const url of r.nonResourceURLs) {
    if (url === '*' || url === path) return true;
    // `/prefix/*` matches /prefix and everything below it
    if (url.endsWith('/*') && (path.startsWith(url.slice(0, -1)) || path === url.slice(0, -2))) return true;
  }
  return false;
}

/** the flow distinguisher of a request under `fs` (upstream computeFlowDistinguisher) */
export function distinguisher(fs: FlowSchema, user: UserInfo, info: RequestInfo): string {
  switch (fs.spec.distinguisherMethod?.type) {
    case 'ByUser':
      return user.username;
    case 'ByNamespace':
      return info.isResourceRequest ? info.namespace : '';
    default:
      return '';
  }
}
