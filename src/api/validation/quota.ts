import type { LimitRange, ResourceQuota } from 'kubernetes-types/core/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import type { KubeObject } from '../object.ts';
import { child, duplicate, forbidden, index, invalid, key, notSupported, required } from '../meta/field-errors.ts';
import { isQualifiedName } from '../meta/name-formats.ts';
import { Quantity, tryParseQuantity } from '../meta/quantity.ts';

/** helper.standardQuotaResources */
const STANDARD_QUOTA_RESOURCES = new Set([
  'cpu',
  'memory',
  'ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.storage',
  'requests.ephemeral-storage',
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'pods',
  'resourcequotas',
  'services',
  'replicationcontrollers',
  'secrets',
  'persistentvolumeclaims',
  'configmaps',
  'services.nodeports',
  'services.loadbalancers',
]);

/** counted in whole objects: a fraction is refused (helper.IsIntegerResourceName) */
const INTEGER_RESOURCES = new Set(['pods', 'resourcequotas', 'services', 'replicationcontrollers', 'secrets', 'configmaps', 'persistentvolumeclaims', 'services.nodeports', 'services.loadbalancers']);

export const QUOTA_SCOPES = ['Terminating', 'NotTerminating', 'BestEffort', 'NotBestEffort', 'PriorityClass', 'CrossNamespacePodAffinity'] as const;
const POD_COMPUTE = new Set(['pods', 'cpu', 'memory', 'limits.cpu', 'limits.memory', 'requests.cpu', 'requests.memory']);

const isStandardQuotaResource = (name: string): boolean =>
  STANDARD_QUOTA_RESOURCES.has(name) || name.startsWith('hugepages-') || name.startsWith('requests.hugepages-');

/** helper.IsResourceQuotaScopeValidForResource */
function scopeAllows(scope: string, resource: string): boolean {
  if (scope === 'BestEffort') return resource === 'pods';
  if ((QUOTA_SCOPES as readonly string[]).includes(scope)) return POD_COMPUTE.has(resource);
  return true;
}

/**
 * A Quantity's bad value prints unquoted upstream (field.Error formats a fmt.Stringer with %s),
 * unlike a string's.
 */
function invalidQuantity(field: string, q: Quantity, detail: string): FieldCause {
  return { field, reason: 'FieldValueInvalid', message: `Invalid value: ${q.toString()}: ${detail}` };
}

/** Parses one quantity of a ResourceList, adding upstream's causes for a bad or negative one. */
function quantityAt(raw: unknown, path: string, causes: FieldCause[]): Quantity | undefined {
  const q = tryParseQuantity(typeof raw === 'number' ? String(raw) : (raw as string));
  if (typeof q === 'string') {
    causes.push(invalid(path, raw, q));
    return undefined;
  }
  if (q.sign() < 0) {
    causes.push(invalidQuantity(path, q, 'must be greater than or equal to 0'));
    return undefined;
  }
  return q;
}

/** ValidateResourceQuotaResourceName + ValidateResourceQuantityValue over a quota's ResourceList */
function validateQuotaList(list: Record<string, unknown> | undefined, path: string, causes: FieldCause[]): void {
  for (const [name, raw] of Object.entries(list ?? {})) {
    const p = key(path, name);
    for (const msg of isQualifiedName(name)) causes.push(invalid(p, name, msg));
    if (!name.includes('/') && !isStandardQuotaResource(name)) causes.push(invalid(p, name, 'must be a standard resource for quota'));
    const q = quantityAt(raw, p, causes);
    if (q && INTEGER_RESOURCES.has(name) && q.nanos % 1_000_000_000n !== 0n) causes.push(invalidQuantity(p, q, 'must be an integer'));
  }
}

function validateScopeSelector(rq: ResourceQuota, causes: FieldCause[]): void {
  const path = 'spec.scopeSelector.matchExpressions';
  (rq.spec?.scopeSelector?.matchExpressions ?? []).forEach((req, i) => {
    const p = index(path, i);
    if (!(QUOTA_SCOPES as readonly string[]).includes(req.scopeName)) causes.push(invalid(child(p, 'scopeName'), req.scopeName, 'unsupported scope'));
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) causes.push(invalid(child(p, 'values'), values, "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) causes.push(invalid(child(p, 'values'), values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"));
        break;
      default:
        causes.push(notSupported(child(p, 'operator'), req.operator, ['DoesNotExist', 'Exists', 'In', 'NotIn']));
    }
    if (req.scopeName !== 'PriorityClass' && (QUOTA_SCOPES as readonly string[]).includes(req.scopeName) && req.operator !== 'Exists' && req.operator !== 'DoesNotExist') {
      causes.push(invalid(child(p, 'operator'), req.operator, `must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity`));
    }
  });
}

/** ValidateResourceQuota (create and update of the main resource and of status) */
export function validateResourceQuota(obj: KubeObject): FieldCause[] {
  const rq = obj as unknown as ResourceQuota;
  const causes: FieldCause[] = [];
  const hard = (rq.spec?.hard ?? {}) as Record<string, unknown>;
  validateQuotaList(hard, 'spec.hard', causes);
  const scopes = rq.spec?.scopes ?? [];
  const seen = new Set<string>();
  const scopesPath = 'spec.scopes';
  for (const scope of scopes) {
    if (!(QUOTA_SCOPES as readonly string[]).includes(scope)) causes.push(invalid(scopesPath, scopes, 'unsupported scope'));
    for (const k of Object.keys(hard).sort()) {
      if (isStandardQuotaResource(k) && !scopeAllows(scope, k)) causes.push(invalid(scopesPath, scopes, 'unsupported scope applied to resource'));
    }
    seen.add(scope);
  }
  for (const [a, b] of [['BestEffort', 'NotBestEffort'], ['Terminating', 'NotTerminating']]) {
    if (seen.has(a) && seen.has(b)) causes.push(invalid(scopesPath, scopes, 'conflicting scopes'));
  }
  validateScopeSelector(rq, causes);
  validateQuotaList(rq.status?.hard as Record<string, unknown> | undefined, 'status.hard', causes);
  validateQuotaList(rq.status?.used as Record<string, unknown> | undefined, 'status.used', causes);
  return causes;
}

const CONTAINER_STANDARD = new Set(['cpu', 'memory', 'ephemeral-storage']);

/** validateLimitRangeResourceName */
function limitResourceNameErrors(type: string, name: string): string[] {
  const qn = isQualifiedName(name);
  if (qn.length > 0) return qn;
  if (name.includes('/')) return [];
  if (type === 'PersistentVolumeClaim') return name === 'storage' ? [] : ['must be a standard limit type or fully qualified'];
  return CONTAINER_STANDARD.has(name) || name.startsWith('hugepages-') ? [] : ['must be a standard limit type or fully qualified'];
}

type LimitSection = 'max' | 'min' | 'default' | 'defaultRequest' | 'maxLimitRequestRatio';
const SECTIONS: LimitSection[] = ['max', 'min', 'default', 'defaultRequest', 'maxLimitRequestRatio'];

/** ratios are compared in thousandths as upstream does below MaxMilliValue */
const milli = (q: Quantity): number => q.milliValue();

/** ValidateLimitRange, with upstream's messages (run after defaulting filled default/defaultRequest) */
export function validateLimitRange(obj: KubeObject): FieldCause[] {
  const lr = obj as unknown as LimitRange;
  const causes: FieldCause[] = [];
  const types = new Set<string>();
  // upstream decodes a missing list as empty (and the body's types were checked before this)
  const limits = Array.isArray(lr.spec?.limits) ? lr.spec.limits : [];
  limits.forEach((item, i) => {
    const p = index('spec.limits', i);
    const type = item.type ?? '';
    if (!type) causes.push(required(child(p, 'type')));
    else for (const msg of isQualifiedName(type)) causes.push(invalid(child(p, 'type'), type, msg));
    if (types.has(type)) causes.push(duplicate(child(p, 'type'), type));
    types.add(type);
    const parsed = Object.fromEntries(SECTIONS.map((s) => [s, new Map<string, Quantity>()])) as Record<LimitSection, Map<string, Quantity>>;
    for (const section of SECTIONS) {
      const list = (item[section] ?? {}) as Record<string, unknown>;
      if (type === 'Pod' && (section === 'default' || section === 'defaultRequest') && Object.keys(list).length > 0) {
        causes.push(forbidden(child(p, section), "may not be specified when `type` is 'Pod'"));
        continue;
      }
      for (const [name, raw] of Object.entries(list)) {
        const kp = key(child(p, section), name);
        for (const msg of limitResourceNameErrors(type, name)) causes.push(invalid(kp, name, msg));
        const q = quantityAt(raw, kp, causes);
        if (q) parsed[section].set(name, q);
      }
    }
    if (type === 'PersistentVolumeClaim' && !parsed.min.has('storage') && !parsed.max.has('storage')) {
      causes.push(required(child(p, 'limits'), 'either minimum or maximum storage value is required, but neither was provided'));
    }
    const names = new Set(SECTIONS.flatMap((s) => [...parsed[s].keys()]));
    for (const k of [...names].sort()) {
      const min = parsed.min.get(k);
      const max = parsed.max.get(k);
      const def = parsed.default.get(k);
      const defReq = parsed.defaultRequest.get(k);
      const ratio = parsed.maxLimitRequestRatio.get(k);
      if (min && max && min.cmp(max) > 0) causes.push(invalidQuantity(key(child(p, 'min'), k), min, `min value ${min} is greater than max value ${max}`));
      if (defReq && min && min.cmp(defReq) > 0) causes.push(invalidQuantity(key(child(p, 'defaultRequest'), k), defReq, `min value ${min} is greater than default request value ${defReq}`));
      if (defReq && max && defReq.cmp(max) > 0) causes.push(invalidQuantity(key(child(p, 'defaultRequest'), k), defReq, `default request value ${defReq} is greater than max value ${max}`));
      if (defReq && def && defReq.cmp(def) > 0) causes.push(invalidQuantity(key(child(p, 'defaultRequest'), k), defReq, `default request value ${defReq} is greater than default limit value ${def}`));
      if (def && min && min.cmp(def) > 0) causes.push(invalidQuantity(key(child(p, 'default'), k), min, `min value ${min} is greater than default value ${def}`));
      if (def && max && def.cmp(max) > 0) causes.push(invalidQuantity(key(child(p, 'default'), k), max, `default value ${def} is greater than max value ${max}`));
      if (ratio && ratio.cmp(Quantity.fromInt(1)) < 0) causes.push(invalidQuantity(key(child(p, 'maxLimitRequestRatio'), k), ratio, `ratio ${ratio} is less than 1`));
      if (ratio && min && max && !min.isZero()) {
        const limit = milli(max) / milli(min);
        if (milli(ratio) / 1000 > limit) {
          causes.push(invalidQuantity(key(child(p, 'maxLimitRequestRatio'), k), ratio, `ratio ${ratio} is greater than max/min = ${limit.toFixed(6)}`));
        }
      }
    }
  });
  return causes;
}
