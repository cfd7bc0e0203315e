import type { ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject } from 'kubernetes-types/rbac/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import type { KubeObject } from '../object.ts';
import { child, index, invalid, notSupported, required } from '../meta/field-errors.ts';
import { validatePathSegmentName } from '../meta/name.ts';
import { validateLabelSelector } from '../labels/validate.ts';
import { isDNS1123Subdomain } from '../meta/name-formats.ts';

const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** upstream ValidatePolicyRule */
function validateRule(rule: PolicyRule, namespaced: boolean, path: string, causes: FieldCause[]): void {
  if (!rule.verbs?.length) causes.push(required(child(path, 'verbs'), 'verbs must contain at least one value'));
  const urls = rule.nonResourceURLs ?? [];
  if (urls.length > 0) {
    if (namespaced) causes.push(invalid(child(path, 'nonResourceURLs'), urls, 'namespaced rules cannot apply to non-resource URLs'));
    if ((rule.apiGroups?.length ?? 0) > 0 || (rule.resources?.length ?? 0) > 0 || (rule.resourceNames?.length ?? 0) > 0) {
      causes.push(invalid(child(path, 'nonResourceURLs'), urls, 'rules cannot apply to both regular resources and non-resource URLs'));
    }
    return;
  }
  if (!rule.apiGroups?.length) causes.push(required(child(path, 'apiGroups'), 'resource rules must supply at least one api group'));
  if (!rule.resources?.length) causes.push(required(child(path, 'resources'), 'resource rules must supply at least one resource'));
}

function validateRules(rules: PolicyRule[] | undefined, namespaced: boolean, causes: FieldCause[]): void {
  (rules ?? []).forEach((r, i) => validateRule(r, namespaced, index('rules', i), causes));
}

export function validateRole(obj: KubeObject): FieldCause[] {
  const causes: FieldCause[] = [];
  validateRules((obj as unknown as Role).rules, true, causes);
  return causes;
}

export function validateClusterRole(obj: KubeObject): FieldCause[] {
  const role = obj as unknown as ClusterRole;
  const causes: FieldCause[] = [];
  validateRules(role.rules, false, causes);
  const sels = role.aggregationRule?.clusterRoleSelectors;
  if (role.aggregationRule && !sels?.length) causes.push(required('aggregationRule.clusterRoleSelectors'));
  (sels ?? []).forEach((s, i) => causes.push(...validateLabelSelector(s, index('aggregationRule.clusterRoleSelectors', i))));
  return causes;
}

function validateRoleRef(ref: RoleRef | undefined, kinds: readonly string[], causes: FieldCause[]): void {
  if (!ref) {
    causes.push(required('roleRef'));
    return;
  }
  if (ref.apiGroup !== RBAC_GROUP) causes.push(notSupported('roleRef.apiGroup', ref.apiGroup ?? '', [RBAC_GROUP]));
  if (!ref.kind) causes.push(required('roleRef.kind'));
  else if (!kinds.includes(ref.kind)) causes.push(notSupported('roleRef.kind', ref.kind, kinds));
  if (!ref.name) causes.push(required('roleRef.name'));
  else for (const msg of validatePathSegmentName(ref.name, false)) causes.push(invalid('roleRef.name', ref.name, msg));
}

/** upstream ValidateRoleBindingSubject */
function validateSubject(s: Subject, clusterScoped: boolean, path: string, causes: FieldCause[]): void {
  if (!s.name) causes.push(required(child(path, 'name')));
  switch (s.kind) {
    case 'ServiceAccount':
      if (s.name) for (const msg of isDNS1123Subdomain(s.name)) causes.push(invalid(child(path, 'name'), s.name, msg));
      if (s.apiGroup) causes.push(notSupported(child(path, 'apiGroup'), s.apiGroup, ['']));
      if (clusterScoped && !s.namespace) causes.push(required(child(path, 'namespace')));
      break;
    case 'User':
    case 'Group':
      if (s.apiGroup !== RBAC_GROUP) causes.push(notSupported(child(path, 'apiGroup'), s.apiGroup ?? '', [RBAC_GROUP]));
      break;
    default:
      causes.push(notSupported(child(path, 'kind'), s.kind ?? '', ['ServiceAccount', 'User', 'Group']));
  }
}

function validateBinding(obj: KubeObject, old: KubeObject | undefined, clusterScoped: boolean): FieldCause[] {
  const b = obj as unknown as RoleBinding | ClusterRoleBinding;
  const causes: FieldCause[] = [];
  validateRoleRef(b.roleRef, clusterScoped ? ['ClusterRole'] : ['Role', 'ClusterRole'], causes);
  (b.subjects ?? []).forEach((s, i) => validateSubject(s, clusterScoped, index('subjects', i), causes));
  if (old) {
    const o = (old as unknown as RoleBinding).roleRef;
    if (o && (o.apiGroup !== b.roleRef?.apiGroup || o.kind !== b.roleRef?.kind || o.name !== b.roleRef?.name)) {
      causes.push(invalid('roleRef', b.roleRef, 'cannot change roleRef'));
    }
  }
  return causes;
}

export const validateRoleBinding = (obj: KubeObject, old?: KubeObject): FieldCause[] => validateBinding(obj, old, false);
export const validateClusterRoleBinding = (obj: KubeObject, old?: KubeObject): FieldCause[] => validateBinding(obj, old, true);
