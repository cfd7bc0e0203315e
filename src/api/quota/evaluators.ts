import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../object.ts';
import { Quantity, tryParseQuantity } from '../meta/quantity.ts';
import type { Amounts } from './resource-list.ts';
import { podConstraintError, podMatchesScope, podMatchingResources, podUsage, type ScopeRequirement } from './pod-usage.ts';

/**
 * How one kind of object is charged against a ResourceQuota (upstream's quota.Evaluator):
 * the pod and service evaluators of pkg/quota/v1/evaluator/core, and the generic object count
 * evaluator every other resource gets.
 */
export interface QuotaEvaluator {
  readonly group: string;
  readonly resource: string;
  /** operations that change usage: pods and object counts on CREATE, services also on UPDATE (a type change) */
  readonly chargesUpdates: boolean;
  /** which of a quota's resource names this evaluator charges */
  matchingResources(names: readonly string[]): string[];
  /** what one object uses, under every name this evaluator knows */
  usage(obj: KubeObject, now: Date): Amounts;
  /** whether the object falls in a scope; kinds without scopes are in none */
  matchesScope(req: ScopeRequirement, obj: KubeObject): boolean;
  /** refuses an object that does not state what a quota on `required` needs (pods: cpu/memory) */
  constraintError(obj: KubeObject, required: readonly string[]): string | undefined;
}

const ONE = Quantity.fromInt(1);
const ZERO = Quantity.fromInt(0);

/** `count/<resource>` for the core group, `count/<resource>.<group>` otherwise (ObjectCountQuotaResourceNameFor) */
export function objectCountName(group: string, resource: string): string {
  return group ? `count/${resource}.${group}` : `count/${resource}`;
}

/** the pre-`count/` names a few core kinds are also charged under */
const LEGACY_NAMES: Record<string, string> = {
  configmaps: 'configmaps',
  secrets: 'secrets',
  replicationcontrollers: 'replicationcontrollers',
  resourcequotas: 'resourcequotas',
  persistentvolumeclaims: 'persistentvolumeclaims',
};

const inNoScope = (): boolean => false;
const noConstraint = (): undefined => undefined;

function objectCountEvaluator(group: string, resource: string): QuotaEvaluator {
  const names = [objectCountName(group, resource), ...(group === '' && LEGACY_NAMES[resource] ? [LEGACY_NAMES[resource]] : [])];
  return {
    group,
    resource,
    chargesUpdates: false,
    matchingResources: (hard) => hard.filter((n) => names.includes(n)),
    usage: () => new Map(names.map((n) => [n, ONE])),
    matchesScope: inNoScope,
    constraintError: noConstraint,
  };
}

const podEvaluator: QuotaEvaluator = {
  group: '',
  resource: 'pods',
  chargesUpdates: false,
  matchingResources: podMatchingResources,
  usage: (obj, now) => podUsage(obj as unknown as Pod, now),
  matchesScope: (req, obj) => podMatchesScope(req, obj as unknown as Pod),
  constraintError: (obj, required) => podConstraintError(obj as unknown as Pod, required),
};

const SERVICE_RESOURCES = ['count/services', 'services', 'services.nodeports', 'services.loadbalancers'];

/** services.go: node ports are what the Service asks for, not yet what was allocated */
function serviceUsage(svc: Service): Amounts {
  const ports = svc.spec?.ports ?? [];
  let nodePorts = ZERO;
  let loadBalancers = ZERO;
  if (svc.spec?.type === 'NodePort') nodePorts = Quantity.fromInt(ports.length);
  if (svc.spec?.type === 'LoadBalancer') {
    loadBalancers = ONE;
    nodePorts = Quantity.fromInt(svc.spec.allocateLoadBalancerNodePorts === false ? ports.filter((p) => p.nodePort).length : ports.length);
  }
  return new Map([
    ['count/services', ONE],
    ['services', ONE],
    ['services.nodeports', nodePorts],
    ['services.loadbalancers', loadBalancers],
  ]);
}

const serviceEvaluator: QuotaEvaluator = {
  group: '',
  resource: 'services',
  chargesUpdates: true,
  matchingResources: (hard) => hard.filter((n) => SERVICE_RESOURCES.includes(n)),
  usage: (obj) => serviceUsage(obj as unknown as Service),
  matchesScope: inNoScope,
  constraintError: noConstraint,
};

const STORAGE_CLASS_SUFFIX = '.storageclass.storage.k8s.io/';
const PVC_RESOURCES = ['count/persistentvolumeclaims', 'persistentvolumeclaims', 'requests.storage'];

/** persistent_volume_claims.go: one claim and its storage request, overall and per class */
function claimUsage(obj: KubeObject): Amounts {
  const spec = (obj.spec ?? {}) as { storageClassName?: string; resources?: { requests?: Record<string, unknown> } };
  const raw = spec.resources?.requests?.storage;
  const parsed = raw === undefined ? undefined : tryParseQuantity(String(raw));
  const storage = parsed === undefined || typeof parsed === 'string' ? ZERO : parsed;
  const out: Amounts = new Map([
    ['count/persistentvolumeclaims', ONE],
    ['persistentvolumeclaims', ONE],
    ['requests.storage', storage],
  ]);
  const cls = obj.metadata.annotations?.['volume.beta.kubernetes.io/storage-class'] ?? spec.storageClassName;
  if (cls) {
    out.set(`${cls}${STORAGE_CLASS_SUFFIX}persistentvolumeclaims`, ONE);
    out.set(`${cls}${STORAGE_CLASS_SUFFIX}requests.storage`, storage);
  }
  return out;
}

const claimEvaluator: QuotaEvaluator = {
  group: '',
  resource: 'persistentvolumeclaims',
  // a claim's request may grow
  chargesUpdates: true,
  matchingResources: (hard) => hard.filter((n) => PVC_RESOURCES.includes(n) || (n.includes(STORAGE_CLASS_SUFFIX) && (n.endsWith('/persistentvolumeclaims') || n.endsWith('/requests.storage')))),
  usage: claimUsage,
  matchesScope: inNoScope,
  constraintError: noConstraint,
};

/** what is never charged (upstream's default ignored resources): events would be a write per event */
const IGNORED = new Set(['/events', 'events.k8s.io/events']);

/** The evaluator for a resource, or undefined for the ones quota ignores. */
export function evaluatorFor(group: string, resource: string): QuotaEvaluator | undefined {
  if (IGNORED.has(`${group}/${resource}`)) return undefined;
  if (group === '' && resource === 'pods') return podEvaluator;
  if (group === '' && resource === 'services') return serviceEvaluator;
  if (group === '' && resource === 'persistentvolumeclaims') return claimEvaluator;
  return objectCountEvaluator(group, resource);
}

/** The scope requirements of a quota: each spec.scopes entry as `Exists`, then scopeSelector's. */
export function quotaScopes(quota: KubeObject): ScopeRequirement[] {
  const spec = (quota.spec ?? {}) as { scopes?: string[]; scopeSelector?: { matchExpressions?: ScopeRequirement[] } };
  return [...(spec.scopes ?? []).map((scopeName) => ({ scopeName, operator: 'Exists' })), ...(spec.scopeSelector?.matchExpressions ?? [])];
}

/** generic.Matches: the quota limits something this evaluator charges and the object is in all its scopes */
export function quotaMatches(ev: QuotaEvaluator, hardNames: readonly string[], scopes: readonly ScopeRequirement[], obj: KubeObject): boolean {
  return ev.matchingResources(hardNames).length > 0 && scopes.every((s) => ev.matchesScope(s, obj));
}
