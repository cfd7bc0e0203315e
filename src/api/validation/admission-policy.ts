import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import { validateLabelSelector } from '../labels/validate.ts';
import { child, duplicate, forbidden, index, invalid, notSupported, required } from '../meta/field-errors.ts';
import { isDNS1035Label, isDNS1123Label, isDNS1123Subdomain, isQualifiedName } from '../meta/name-formats.ts';
import { isPlainObject, type KubeObject } from '../object.ts';
import { FAILURE_POLICIES, MATCH_POLICIES, validateCelExpression, validateMatchConditions, validateRule, type MatchCondition, type WebhookRule } from './admission-registration.ts';

/**
 * admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding:
 * upstream's defaults (v1/defaults.go) and validation (validateValidatingAdmissionPolicySpec,
 * validateValidatingAdmissionPolicyBindingSpec), with every CEL expression compiled at its field.
 */

export const VALIDATION_REASONS = ['Unauthorized', 'Forbidden', 'Invalid', 'RequestEntityTooLarge'] as const;
export const VALIDATION_ACTIONS = ['Deny', 'Warn', 'Audit'] as const;
export const PARAMETER_NOT_FOUND_ACTIONS = ['Allow', 'Deny'] as const;

export interface NamedRule extends WebhookRule {
  resourceNames?: string[];
}
export interface MatchResources {
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  resourceRules?: NamedRule[];
  excludeResourceRules?: NamedRule[];
  matchPolicy?: string;
}
export interface PolicyValidation {
  expression: string;
  message?: string;
  reason?: string;
  messageExpression?: string;
}
export interface PolicyVariable {
  name: string;
  expression: string;
}
export interface AuditAnnotation {
  key: string;
  valueExpression: string;
}
export interface ValidatingAdmissionPolicySpec {
  paramKind?: { apiVersion: string; kind: string };
  matchConstraints?: MatchResources;
  validations?: PolicyValidation[];
  failurePolicy?: string;
  auditAnnotations?: AuditAnnotation[];
  matchConditions?: MatchCondition[];
  variables?: PolicyVariable[];
}
export interface ParamRef {
  name?: string;
  namespace?: string;
  selector?: LabelSelector;
  parameterNotFoundAction?: string;
}
export interface ValidatingAdmissionPolicyBindingSpec {
  policyName: string;
  paramRef?: ParamRef;
  matchResources?: MatchResources;
  validationActions: string[];
}

const specOf = (obj: KubeObject): Record<string, unknown> | undefined => {
  const s = (obj as { spec?: unknown }).spec;
  return isPlainObject(s) ? s : undefined;
};

function defaultMatchResources(m: unknown): void {
  if (!isPlainObject(m)) return;
  const mr = m as MatchResources;
  mr.matchPolicy ??= 'Equivalent';
  mr.namespaceSelector ??= {};
  mr.objectSelector ??= {};
  for (const list of [mr.resourceRules, mr.excludeResourceRules]) {
    for (const r of Array.isArray(list) ? list : []) if (isPlainObject(r)) (r as NamedRule).scope ??= '*';
  }
}

/** SetDefaults_ValidatingAdmissionPolicySpec, _MatchResources, _Rule */
export function defaultValidatingAdmissionPolicy(obj: KubeObject): void {
  const s = specOf(obj);
  if (!s) return;
  s.failurePolicy ??= 'Fail';
  defaultMatchResources(s.matchConstraints);
}

/** SetDefaults_ParamRef (parameterNotFoundAction Deny), _MatchResources */
export function defaultValidatingAdmissionPolicyBinding(obj: KubeObject): void {
  const s = specOf(obj);
  if (!s) return;
  if (isPlainObject(s.paramRef)) (s.paramRef as ParamRef).parameterNotFoundAction ??= 'Deny';
  defaultMatchResources(s.matchResources);
}

function list(raw: unknown, path: string, causes: FieldCause[]): unknown[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    causes.push(invalid(path, raw, 'must be a list'));
    return [];
  }
  return raw;
}

function validateSelector(v: unknown, path: string, causes: FieldCause[]): void {
  if (v === undefined || v === null) causes.push(required(path));
  else if (!isPlainObject(v)) causes.push(invalid(path, v, 'must be a label selector'));
  else causes.push(...validateLabelSelector(v as LabelSelector, path));
}

function validateNamedRules(raw: unknown, path: string, causes: FieldCause[]): void {
  list(raw, path, causes).forEach((r, i) => {
    const p = index(path, i);
    validateRule(r, p, causes);
    if (!isPlainObject(r) || r.resourceNames === undefined || r.resourceNames === null) return;
    const rp = child(p, 'resourceNames');
    const seen = new Set<string>();
    list(r.resourceNames, rp, causes).forEach((n, j) => {
      if (typeof n !== 'string') causes.push(invalid(index(rp, j), n, 'must be a string'));
      else {
        for (const m of isDNS1123Subdomain(n)) causes.push(invalid(index(rp, j), n, m));
        if (seen.has(n)) causes.push(duplicate(index(rp, j), n));
        seen.add(n);
      }
    });
  });
}

/** upstream validateMatchResources */
function validateMatchResources(m: unknown, path: string, causes: FieldCause[]): void {
  if (!isPlainObject(m)) {
    causes.push(invalid(path, m, 'must be an object'));
    return;
  }
  if (m.matchPolicy === undefined || m.matchPolicy === null) causes.push(required(child(path, 'matchPolicy')));
  else if (!(MATCH_POLICIES as readonly unknown[]).includes(m.matchPolicy)) causes.push(notSupported(child(path, 'matchPolicy'), m.matchPolicy, MATCH_POLICIES));
  validateSelector(m.namespaceSelector, child(path, 'namespaceSelector'), causes);
  validateSelector(m.objectSelector, child(path, 'objectSelector'), causes);
  validateNamedRules(m.resourceRules, child(path, 'resourceRules'), causes);
  validateNamedRules(m.excludeResourceRules, child(path, 'excludeResourceRules'), causes);
}

const CEL_IDENTIFIER = /^[_a-zA-Z][_a-zA-Z0-9]*$/;
const CEL_RESERVED = new Set(['true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while']);

function validateParamKind(pk: unknown, path: string, causes: FieldCause[]): void {
  if (!isPlainObject(pk)) {
    causes.push(invalid(path, pk, 'must be an object'));
    return;
  }
  const av = pk.apiVersion;
  if (typeof av !== 'string' || av === '') causes.push(required(child(path, 'apiVersion')));
  else {
    const parts = av.split('/');
    const [group, version] = parts.length === 2 ? parts : ['', parts[0]!];
    if (parts.length > 2 || !version) causes.push(invalid(child(path, 'apiVersion'), av, 'must be a valid group/version'));
    else {
      if (group) for (const m of isDNS1123Subdomain(group)) causes.push(invalid(child(path, 'apiVersion'), group, m));
      for (const m of isDNS1035Label(version)) causes.push(invalid(child(path, 'apiVersion'), version, m));
    }
  }
  if (typeof pk.kind !== 'string' || pk.kind === '') causes.push(required(child(path, 'kind')));
  else for (const m of isDNS1035Label(pk.kind.toLowerCase())) causes.push(invalid(child(path, 'kind'), pk.kind, m));
}

/** upstream validateValidatingAdmissionPolicySpec */
export function validateValidatingAdmissionPolicy(obj: KubeObject): FieldCause[] {
  const causes: FieldCause[] = [];
  const s = specOf(obj);
  if (!s) return [required('spec')];
  if (s.failurePolicy === undefined || s.failurePolicy === null) causes.push(required('spec.failurePolicy'));
  else if (!(FAILURE_POLICIES as readonly unknown[]).includes(s.failurePolicy)) causes.push(notSupported('spec.failurePolicy', s.failurePolicy, FAILURE_POLICIES));
  if (s.paramKind !== undefined && s.paramKind !== null) validateParamKind(s.paramKind, 'spec.paramKind', causes);
  if (s.matchConstraints === undefined || s.matchConstraints === null) causes.push(required('spec.matchConstraints'));
  else {
    validateMatchResources(s.matchConstraints, 'spec.matchConstraints', causes);
    const rr = isPlainObject(s.matchConstraints) ? s.matchConstraints.resourceRules : undefined;
    if (!Array.isArray(rr) || rr.length === 0) causes.push(required('spec.matchConstraints.resourceRules'));
  }
  // variables first: the expressions after them may name them
  const declared: string[] = [];
  list(s.variables, 'spec.variables', causes).forEach((v, i) => {
    const p = index('spec.variables', i);
    if (!isPlainObject(v)) {
      causes.push(invalid(p, v, 'must be an object'));
      return;
    }
    const name = typeof v.name === 'string' ? v.name.trim() : '';
    if (name === '') causes.push(required(child(p, 'name'), 'name is not specified'));
    else if (!CEL_IDENTIFIER.test(name) || CEL_RESERVED.has(name)) causes.push(invalid(child(p, 'name'), v.name, 'name is not a valid CEL identifier'));
    else if (declared.includes(name)) causes.push(duplicate(child(p, 'name'), v.name));
    if (typeof v.expression !== 'string' || v.expression.trim() === '') causes.push(required(child(p, 'expression'), 'expression is not specified'));
    else validateCelExpression(v.expression, child(p, 'expression'), 'any', causes, { policy: true, variables: declared });
    if (name !== '') declared.push(name);
  });
  const opts = { policy: true, variables: declared };
  const validations = list(s.validations, 'spec.validations', causes);
  const audits = list(s.auditAnnotations, 'spec.auditAnnotations', causes);
  if (validations.length === 0 && audits.length === 0) {
    causes.push(required('spec.validations', 'validations or auditAnnotations must contain at least one item'));
    causes.push(required('spec.auditAnnotations', 'validations or auditAnnotations must contain at least one item'));
  }
  validations.forEach((v, i) => {
    const p = index('spec.validations', i);
    if (!isPlainObject(v)) {
      causes.push(invalid(p, v, 'must be an object'));
      return;
    }
    if (typeof v.expression !== 'string' || v.expression.trim() === '') causes.push(required(child(p, 'expression'), 'expression is not specified'));
    else validateCelExpression(v.expression, child(p, 'expression'), 'bool', causes, opts);
    if (v.messageExpression !== undefined && v.messageExpression !== null && v.messageExpression !== '') {
      if (typeof v.messageExpression !== 'string' || v.messageExpression.trim() === '') causes.push(required(child(p, 'messageExpression'), 'messageExpression must be non-empty if specified'));
      else validateCelExpression(v.messageExpression, child(p, 'messageExpression'), 'string', causes, opts);
    }
    if (v.message !== undefined && v.message !== null && v.message !== '') {
      if (typeof v.message !== 'string') causes.push(invalid(child(p, 'message'), v.message, 'must be a string'));
      else if (v.message.trim() === '') causes.push(invalid(child(p, 'message'), v.message, 'message must be non-empty if specified'));
      else if (/[\n\r]/.test(v.message.trim())) causes.push(invalid(child(p, 'message'), v.message, 'message must not contain line breaks'));
    }
    if (v.reason !== undefined && v.reason !== null && !(VALIDATION_REASONS as readonly unknown[]).includes(v.reason)) causes.push(notSupported(child(p, 'reason'), v.reason, VALIDATION_REASONS));
  });
  const keys = new Set<string>();
  audits.forEach((a, i) => {
    const p = index('spec.auditAnnotations', i);
    if (!isPlainObject(a)) {
      causes.push(invalid(p, a, 'must be an object'));
      return;
    }
    if (typeof a.key !== 'string' || a.key === '') causes.push(required(child(p, 'key')));
    else {
      const qualified = `${obj.metadata.name ?? ''}/${a.key}`;
      for (const m of isQualifiedName(qualified)) causes.push(invalid(child(p, 'key'), a.key, m));
      if (keys.has(a.key)) causes.push(duplicate(child(p, 'key'), a.key));
      keys.add(a.key);
    }
    if (typeof a.valueExpression !== 'string' || a.valueExpression.trim() === '') causes.push(required(child(p, 'valueExpression'), 'valueExpression is not specified'));
    else validateCelExpression(a.valueExpression, child(p, 'valueExpression'), 'any', causes, opts);
  });
  validateMatchConditions(s.matchConditions, 'spec.matchConditions', causes, opts);
  return causes;
}

/** upstream validateValidatingAdmissionPolicyBindingSpec */
export function validateValidatingAdmissionPolicyBinding(obj: KubeObject): FieldCause[] {
  const causes: FieldCause[] = [];
  const s = specOf(obj);
  if (!s) return [required('spec')];
  if (typeof s.policyName !== 'string' || s.policyName === '') causes.push(required('spec.policyName'));
  else for (const m of isDNS1123Subdomain(s.policyName)) causes.push(invalid('spec.policyName', s.policyName, m));
  if (s.paramRef !== undefined && s.paramRef !== null) {
    const pr = s.paramRef;
    if (!isPlainObject(pr)) causes.push(invalid('spec.paramRef', pr, 'must be an object'));
    else {
      const hasName = typeof pr.name === 'string' && pr.name !== '';
      const hasSelector = pr.selector !== undefined && pr.selector !== null;
      if (hasName) {
        for (const m of isDNS1123Subdomain(pr.name as string)) causes.push(invalid('spec.paramRef.name', pr.name, m));
        if (hasSelector) causes.push(forbidden('spec.paramRef.name', 'name and selector are mutually exclusive'));
      }
      if (hasSelector) {
        validateSelector(pr.selector, 'spec.paramRef.selector', causes);
        if (hasName) causes.push(forbidden('spec.paramRef.selector', 'name and selector are mutually exclusive'));
      }
      if (!hasName && !hasSelector) causes.push(required('spec.paramRef', 'one of name or selector must be specified'));
      if (pr.namespace !== undefined && pr.namespace !== null && pr.namespace !== '') {
        if (typeof pr.namespace !== 'string') causes.push(invalid('spec.paramRef.namespace', pr.namespace, 'must be a string'));
        else for (const m of isDNS1123Label(pr.namespace)) causes.push(invalid('spec.paramRef.namespace', pr.namespace, m));
      }
      if (pr.parameterNotFoundAction === undefined || pr.parameterNotFoundAction === null || pr.parameterNotFoundAction === '') causes.push(required('spec.paramRef.parameterNotFoundAction'));
      else if (!(PARAMETER_NOT_FOUND_ACTIONS as readonly unknown[]).includes(pr.parameterNotFoundAction)) causes.push(notSupported('spec.paramRef.parameterNotFoundAction', pr.parameterNotFoundAction, PARAMETER_NOT_FOUND_ACTIONS));
    }
  }
  if (s.matchResources !== undefined && s.matchResources !== null) validateMatchResources(s.matchResources, 'spec.matchResources', causes);
  const actions = new Set<string>();
  const va = list(s.validationActions, 'spec.validationActions', causes);
  va.forEach((a, i) => {
    const p = index('spec.validationActions', i);
    if (!(VALIDATION_ACTIONS as readonly unknown[]).includes(a)) causes.push(notSupported(p, a, VALIDATION_ACTIONS));
    if (actions.has(a as string)) causes.push(duplicate(p, a));
    actions.add(a as string);
  });
  if (actions.has('Deny') && actions.has('Warn')) {
    causes.push(invalid('spec.validationActions', va, 'must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)'));
  }
  if (actions.size === 0) causes.push(required('spec.validationActions', 'at least one validation action is required'));
  return causes;
}
