import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import { validateLabelSelector } from '../labels/validate.ts';
import { compileAdmissionExpression, type AdmissionCelOptions } from '../cel/index.ts';
import { child, duplicate, index, invalid, notSupported, required, tooMany } from '../meta/field-errors.ts';
import { isDNS1035Label, isDNS1123Subdomain, isQualifiedName, isValidPortNum } from '../meta/name-formats.ts';
import { isPlainObject, type KubeObject } from '../object.ts';

/**
 * admissionregistration.k8s.io/v1 Validating/MutatingWebhookConfiguration: upstream's defaults
 * (pkg/apis/admissionregistration/v1/defaults.go) and validation
 * (pkg/apis/admissionregistration/validation), plus the JSON type checks Go's decoder makes.
 */

export const WEBHOOK_OPERATIONS = ['*', 'CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;
export const WEBHOOK_SCOPES = ['*', 'Cluster', 'Namespaced'] as const;
export const FAILURE_POLICIES = ['Ignore', 'Fail'] as const;
export const MATCH_POLICIES = ['Exact', 'Equivalent'] as const;
/** v1 accepts only these on create; Some/Unknown are v1beta1 leftovers */
export const SIDE_EFFECT_CLASSES = ['None', 'NoneOnDryRun'] as const;
export const REINVOCATION_POLICIES = ['Never', 'IfNeeded'] as const;
/** the AdmissionReview versions hedge sends (upstream also speaks v1beta1) */
export const ADMISSION_REVIEW_VERSIONS = ['v1'] as const;
export const DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10;

/** A webhook as stored (after defaulting and validation: the fields the dispatcher relies on are set). */
export interface WebhookRule {
  operations?: string[];
  apiGroups?: string[];
  apiVersions?: string[];
  resources?: string[];
  scope?: string;
}
export interface ServiceReference {
  namespace: string;
  name: string;
  path?: string;
  port?: number;
}
export interface WebhookClientConfig {
  url?: string;
  service?: ServiceReference;
  caBundle?: string;
}
export interface Webhook {
  name: string;
  clientConfig: WebhookClientConfig;
  rules?: WebhookRule[];
  failurePolicy?: string;
  matchPolicy?: string;
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  sideEffects?: string;
  timeoutSeconds?: number;
  admissionReviewVersions?: string[];
  /** mutating webhooks only */
  reinvocationPolicy?: string;
  matchConditions?: MatchCondition[];
}
export interface MatchCondition {
  name: string;
  expression: string;
}

function webhooksOf(obj: KubeObject): unknown[] | undefined {
  const w = (obj as { webhooks?: unknown }).webhooks;
  return Array.isArray(w) ? w : undefined;
}

/** SetDefaults_ValidatingWebhook / _MutatingWebhook / _Rule / _ServiceReference */
function defaultWebhooks(obj: KubeObject, mutating: boolean): void {
  for (const raw of webhooksOf(obj) ?? []) {
    if (!isPlainObject(raw)) continue;
    const h = raw as unknown as Webhook;
    h.failurePolicy ??= 'Fail';
    h.matchPolicy ??= 'Equivalent';
    h.namespaceSelector ??= {};
    h.objectSelector ??= {};
    h.timeoutSeconds ??= DEFAULT_WEBHOOK_TIMEOUT_SECONDS;
    if (mutating) h.reinvocationPolicy ??= 'Never';
    for (const r of Array.isArray(h.rules) ? h.rules : []) if (isPlainObject(r)) (r as WebhookRule).scope ??= '*';
    const svc = isPlainObject(h.clientConfig) ? h.clientConfig.service : undefined;
    if (isPlainObject(svc)) (svc as unknown as ServiceReference).port ??= 443;
  }
}

export const defaultValidatingWebhookConfiguration = (obj: KubeObject): void => defaultWebhooks(obj, false);
export const defaultMutatingWebhookConfiguration = (obj: KubeObject): void => defaultWebhooks(obj, true);

function stringList(value: unknown, path: string, causes: FieldCause[]): string[] | undefined {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    causes.push(invalid(path, value, 'must be a list of strings'));
    return undefined;
  }
  return value as string[];
}

/** a list field that must not mix `*` with anything else (validateRuleWithOperations) */
function validateWildcardList(value: unknown, path: string, causes: FieldCause[], what: string): string[] | undefined {
  const list = stringList(value, path, causes);
  if (!list) return undefined;
  if (list.length === 0) causes.push(required(path));
  if (list.length > 1 && list.includes('*')) causes.push(invalid(path, list, `if '*' is present, must not specify other ${what}`));
  return list;
}

/** upstream validateResources: `x`, `x/y`, `x/*`, `* /x`, `*`, `* /*` and the combinations that overlap */
function validateResources(list: string[], path: string, causes: FieldCause[]): void {
  const wildSub = new Set<string>();
  const wildRes = new Set<string>();
  let doubleWildcard = false;
  let singleWildcard = false;
  let plain = false;
  list.forEach((resSub, i) => {
    if (resSub === '') {
      causes.push(required(index(path, i)));
      return;
    }
    if (resSub === '*/*') doubleWildcard = true;
    if (resSub === '*') singleWildcard = true;
    const slash = resSub.indexOf('/');
    if (slash < 0) {
      plain ||= resSub !== '*';
      return;
    }
    const res = resSub.slice(0, slash);
    const sub = resSub.slice(slash + 1);
    if (wildSub.has(res)) causes.push(invalid(index(path, i), resSub, `if '${res}/*' is present, must not specify ${resSub}`));
    if (wildRes.has(sub)) causes.push(invalid(index(path, i), resSub, `if '*/${sub}' is present, must not specify ${resSub}`));
    if (sub === '*') wildSub.add(res);
    if (res === '*') wildRes.add(sub);
  });
  if (list.length > 1 && doubleWildcard) causes.push(invalid(path, list, "if '*/*' is present, must not specify other resources"));
  if (singleWildcard && plain) causes.push(invalid(path, list, "if '*' is present, must not specify other resources without subresources"));
}

export function validateRule(rule: unknown, path: string, causes: FieldCause[]): void {
  if (!isPlainObject(rule)) {
    causes.push(invalid(path, rule, 'must be an object'));
    return;
  }
  const ops = validateWildcardList(rule.operations, child(path, 'operations'), causes, 'operations');
  ops?.forEach((op, i) => {
    if (!(WEBHOOK_OPERATIONS as readonly string[]).includes(op)) causes.push(notSupported(index(child(path, 'operations'), i), op, WEBHOOK_OPERATIONS));
  });
  validateWildcardList(rule.apiGroups, child(path, 'apiGroups'), causes, 'API groups');
  const versions = validateWildcardList(rule.apiVersions, child(path, 'apiVersions'), causes, 'API versions');
  versions?.forEach((v, i) => {
    if (v === '') causes.push(required(index(child(path, 'apiVersions'), i)));
  });
  const resources = stringList(rule.resources, child(path, 'resources'), causes);
  if (resources) {
    if (resources.length === 0) causes.push(required(child(path, 'resources')));
    else validateResources(resources, child(path, 'resources'), causes);
  }
  if (rule.scope !== undefined && !(WEBHOOK_SCOPES as readonly unknown[]).includes(rule.scope)) causes.push(notSupported(child(path, 'scope'), rule.scope, WEBHOOK_SCOPES));
}

/** upstream ValidateWebhookURL with forceHttps */
function validateWebhookUrl(value: unknown, path: string, causes: FieldCause[]): void {
  if (typeof value !== 'string') {
    causes.push(invalid(path, value, 'must be a string'));
    return;
  }
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    causes.push(invalid(path, value, 'url must be a valid URL'));
    return;
  }
  if (u.protocol !== 'https:') causes.push(invalid(path, u.protocol.replace(/:$/, ''), "'https' is the only allowed URL scheme"));
  if (u.host === '') causes.push(invalid(path, u.host, 'host must be specified'));
  if (u.username || u.password) causes.push(invalid(path, u.username, 'user information is not permitted in the URL'));
  if (u.hash) causes.push(invalid(path, u.hash.slice(1), 'fragments are not permitted in the URL'));
  if (u.search) causes.push(invalid(path, u.search.slice(1), 'query parameters are not permitted in the URL'));
}

function validateClientConfig(cc: unknown, path: string, causes: FieldCause[]): void {
  if (!isPlainObject(cc)) {
    causes.push(required(path, 'exactly one of url or service is required'));
    return;
  }
  const c = cc as WebhookClientConfig & Record<string, unknown>;
  const hasUrl = c.url !== undefined && c.url !== null;
  const hasSvc = c.service !== undefined && c.service !== null;
  if (hasUrl === hasSvc) causes.push(required(path, 'exactly one of url or service is required'));
  if (hasUrl) validateWebhookUrl(c.url, child(path, 'url'), causes);
  if (hasSvc) {
    const sp = child(path, 'service');
    if (!isPlainObject(c.service)) causes.push(invalid(sp, c.service, 'must be an object'));
    else {
      const s = c.service as Record<string, unknown>;
      if (typeof s.name !== 'string' || s.name === '') causes.push(required(child(sp, 'name'), 'service name is required'));
      if (typeof s.namespace !== 'string' || s.namespace === '') causes.push(required(child(sp, 'namespace'), 'service namespace is required'));
      if (s.path !== undefined && s.path !== null) {
        if (typeof s.path !== 'string') causes.push(invalid(child(sp, 'path'), s.path, 'must be a string'));
        else if (s.path !== '' && !s.path.startsWith('/')) causes.push(invalid(child(sp, 'path'), s.path, "must start with a '/'"));
        else if (s.path.split('/').some((seg, i) => i > 0 && (seg === '.' || seg === '..'))) causes.push(invalid(child(sp, 'path'), s.path, "segment[...]: must not be '.' or '..'"));
      }
      if (s.port !== undefined && s.port !== null) {
        if (typeof s.port !== 'number' || !Number.isInteger(s.port)) causes.push(invalid(child(sp, 'port'), s.port, 'must be an integer'));
        else for (const m of isValidPortNum(s.port)) causes.push(invalid(child(sp, 'port'), s.port, `port is not valid: ${m}`));
      }
    }
  }
  if (c.caBundle !== undefined && c.caBundle !== null && (typeof c.caBundle !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(c.caBundle))) {
    causes.push(invalid(child(path, 'caBundle'), '', 'must be base64-encoded bytes'));
  }
}

function oneOf(value: unknown, path: string, allowed: readonly string[], causes: FieldCause[]): void {
  if (value !== undefined && !allowed.includes(value as string)) causes.push(notSupported(path, value, allowed));
}

/** upstream IsFullyQualifiedName: a DNS subdomain with at least three segments */
function validateWebhookName(name: unknown, path: string, causes: FieldCause[]): void {
  if (typeof name !== 'string' || name === '') {
    causes.push(required(path));
    return;
  }
  const errs = isDNS1123Subdomain(name);
  if (errs.length > 0) for (const m of errs) causes.push(invalid(path, name, m));
  else if (name.split('.').length < 3) causes.push(invalid(path, name, 'should be a domain with at least three segments separated by dots'));
}

function validateWebhook(raw: unknown, path: string, mutating: boolean, causes: FieldCause[]): void {
  if (!isPlainObject(raw)) {
    causes.push(invalid(path, raw, 'must be an object'));
    return;
  }
  const h = raw as Record<string, unknown> & Partial<Webhook>;
  validateWebhookName(h.name, child(path, 'name'), causes);
  if (h.rules !== undefined && !Array.isArray(h.rules)) causes.push(invalid(child(path, 'rules'), h.rules, 'must be a list'));
  else (h.rules ?? []).forEach((r, i) => validateRule(r, index(child(path, 'rules'), i), causes));
  oneOf(h.failurePolicy, child(path, 'failurePolicy'), FAILURE_POLICIES, causes);
  oneOf(h.matchPolicy, child(path, 'matchPolicy'), MATCH_POLICIES, causes);
  if (h.sideEffects === undefined || h.sideEffects === null) causes.push(required(child(path, 'sideEffects'), `must specify one of ${SIDE_EFFECT_CLASSES.join(', ')}`));
  else oneOf(h.sideEffects, child(path, 'sideEffects'), SIDE_EFFECT_CLASSES, causes);
  if (mutating) oneOf(h.reinvocationPolicy, child(path, 'reinvocationPolicy'), REINVOCATION_POLICIES, causes);
  if (h.timeoutSeconds !== undefined && h.timeoutSeconds !== null) {
    const t = h.timeoutSeconds;
    if (typeof t !== 'number' || !Number.isInteger(t)) causes.push(invalid(child(path, 'timeoutSeconds'), t, 'must be an integer'));
    else if (t < 1 || t > 30) causes.push(invalid(child(path, 'timeoutSeconds'), t, 'the timeout value must be between 1 and 30 seconds'));
  }
  for (const sel of ['namespaceSelector', 'objectSelector'] as const) {
    const v = h[sel];
    if (v === undefined || v === null) continue;
    if (!isPlainObject(v)) causes.push(invalid(child(path, sel), v, 'must be a label selector'));
    else causes.push(...validateLabelSelector(v as LabelSelector, child(path, sel)));
  }
  const arvPath = child(path, 'admissionReviewVersions');
  const versions = stringList(h.admissionReviewVersions, arvPath, causes);
  if (versions) {
    if (versions.length === 0) causes.push(required(arvPath, `must specify one of ${ADMISSION_REVIEW_VERSIONS.join(', ')}`));
    const seen = new Set<string>();
    versions.forEach((v, i) => {
      if (seen.has(v)) causes.push(duplicate(index(arvPath, i), v));
      seen.add(v);
      for (const m of isDNS1035Label(v)) causes.push(invalid(index(arvPath, i), v, m));
    });
    if (versions.length > 0 && !versions.some((v) => (ADMISSION_REVIEW_VERSIONS as readonly string[]).includes(v))) {
      causes.push(invalid(arvPath, versions, `must include at least one of ${ADMISSION_REVIEW_VERSIONS.join(', ')}`));
    }
  }
  validateClientConfig(h.clientConfig, child(path, 'clientConfig'), causes);
  validateMatchConditions(h.matchConditions, child(path, 'matchConditions'), causes);
}

export const MAX_MATCH_CONDITIONS = 64;

/**
 * upstream validateMatchConditions: at most 64, names unique qualified names, expressions that
 * compile to a bool against object, oldObject, request (and params, namespaceObject, variables
 * for a policy).
 */
export function validateMatchConditions(raw: unknown, path: string, causes: FieldCause[], opts: AdmissionCelOptions = {}): void {
  if (raw === undefined || raw === null) return;
  if (!Array.isArray(raw)) {
    causes.push(invalid(path, raw, 'must be a list'));
    return;
  }
  if (raw.length > MAX_MATCH_CONDITIONS) causes.push(tooMany(path, raw.length, MAX_MATCH_CONDITIONS));
  const names = new Set<string>();
  raw.forEach((c: unknown, i) => {
    const p = index(path, i);
    if (!isPlainObject(c)) {
      causes.push(invalid(p, c, 'must be an object'));
      return;
    }
    validateCelExpression(c.expression, child(p, 'expression'), 'bool', causes, opts);
    if (typeof c.name !== 'string' || c.name === '') causes.push(required(child(p, 'name')));
    else {
      for (const m of isQualifiedName(c.name)) causes.push(invalid(child(p, 'name'), c.name, m));
      if (names.has(c.name)) causes.push(duplicate(child(p, 'name'), c.name));
      names.add(c.name);
    }
  });
}

/** upstream validateCELCondition + convertCELErrorToValidationError */
export function validateCelExpression(expr: unknown, path: string, want: 'bool' | 'string' | 'any', causes: FieldCause[], opts: AdmissionCelOptions = {}): void {
  if (expr !== undefined && expr !== null && typeof expr !== 'string') {
    causes.push(invalid(path, expr, 'must be a string'));
    return;
  }
  const r = compileAdmissionExpression(typeof expr === 'string' ? expr.trim() : '', want, opts);
  if (r.ok) return;
  causes.push(r.required ? required(path) : invalid(path, expr, r.message));
}

function validateConfiguration(obj: KubeObject, mutating: boolean): FieldCause[] {
  const causes: FieldCause[] = [];
  const raw = (obj as { webhooks?: unknown }).webhooks;
  if (raw === undefined || raw === null) return causes;
  const hooks = webhooksOf(obj);
  if (!hooks) return [invalid('webhooks', raw, 'must be a list')];
  const names = new Set<string>();
  hooks.forEach((h, i) => {
    const path = index('webhooks', i);
    validateWebhook(h, path, mutating, causes);
    const name = isPlainObject(h) ? h.name : undefined;
    if (typeof name === 'string' && name !== '') {
      if (names.has(name)) causes.push(duplicate(child(path, 'name'), name));
      names.add(name);
    }
  });
  return causes;
}

export const validateValidatingWebhookConfiguration = (obj: KubeObject): FieldCause[] => validateConfiguration(obj, false);
export const validateMutatingWebhookConfiguration = (obj: KubeObject): FieldCause[] => validateConfiguration(obj, true);
