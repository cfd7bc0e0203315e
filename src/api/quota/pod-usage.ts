import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { isRestartableInit } from '../containers.ts';
import { podQOSClass } from '../defaults/pod.ts';
import { Quantity } from '../meta/quantity.ts';
import { addAmounts, maxAmounts, parseAmounts, type Amounts } from './resource-list.ts';

/** the quota names a pod's compute usage is charged under, besides hugepages and extended resources */
export const POD_RESOURCES = [
  'count/pods',
  'cpu',
  'memory',
  'ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.ephemeral-storage',
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'pods',
];

/**
 * Upstream's regret, kept for compatibility: a quota on any of these makes every container of a
 * new pod state it (pods.go validationSet); no other resource has this rule.
 */
const MUST_SPECIFY = new Set(['cpu', 'memory', 'requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory']);

const ONE = Quantity.fromInt(1);
const NATIVE_PREFIXES = ['kubernetes.io/', 'requests.', 'limits.'];
const isExtended = (name: string): boolean => name.includes('/') && !NATIVE_PREFIXES.some((p) => name.startsWith(p));

type Side = 'requests' | 'limits';
const containerAmounts = (c: Container, side: Side): Amounts => parseAmounts(c.resources?.[side] as Record<string, unknown> | undefined);

/**
 * resourcehelper.PodRequests / PodLimits over every resource name: app containers and sidecars
 * add up, each ordinary init container counts with the sidecars started before it, the larger of
 * the two wins; then spec.overhead (for limits only where the pod has a limit of that name), unless
 * `withOverhead` is false (LimitRanger's pod totals leave it out).
 */
export function podAmounts(pod: Pod, side: Side, withOverhead = true): Amounts {
  const spec = pod.spec;
  let total: Amounts = new Map();
  for (const c of spec?.containers ?? []) total = addAmounts(total, containerAmounts(c, side));
  let sidecars: Amounts = new Map();
  let initMax: Amounts = new Map();
  for (const c of spec?.initContainers ?? []) {
    const a = containerAmounts(c, side);
    if (isRestartableInit(c)) {
      total = addAmounts(total, a);
      sidecars = addAmounts(sidecars, a);
      initMax = maxAmounts(initMax, sidecars);
    } else {
      initMax = maxAmounts(initMax, addAmounts(a, sidecars));
    }
  }
  total = maxAmounts(total, initMax);
  if (!withOverhead) return total;
  const overhead = parseAmounts(spec?.overhead as Record<string, unknown> | undefined);
  if (side === 'limits') for (const k of [...overhead.keys()]) if (!total.has(k)) overhead.delete(k);
  return addAmounts(total, overhead);
}

/** podComputeUsageHelper: `pods` = 1, then the quota names of the given requests and limits. */
export function computeUsage(requests: Amounts, limits: Amounts): Amounts {
  const out: Amounts = new Map([['pods', ONE]]);
  for (const r of ['cpu', 'memory', 'ephemeral-storage']) {
    const req = requests.get(r);
    if (req) {
      out.set(r, req);
      out.set(`requests.${r}`, req);
    }
    const lim = limits.get(r);
    if (lim) out.set(`limits.${r}`, lim);
  }
  for (const [name, q] of requests) {
    if (name.startsWith('hugepages-')) {
      out.set(name, q);
      out.set(`requests.${name}`, q);
    } else if (isExtended(name)) {
      out.set(`requests.${name}`, q);
    }
  }
  return out;
}

/**
 * QuotaV1Pod: a pod in a terminal phase, or marked for deletion with its grace period over, no
 * longer holds compute resources (its object still counts for `count/pods`).
 */
export function podHoldsResources(pod: Pod, now: Date): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  const ts = pod.metadata?.deletionTimestamp;
  const grace = pod.metadata?.deletionGracePeriodSeconds;
  if (ts && grace !== undefined && now.getTime() > Date.parse(ts) + grace * 1000) return false;
  return true;
}

/** PodUsageFunc */
export function podUsage(pod: Pod, now: Date): Amounts {
  const out: Amounts = new Map([['count/pods', ONE]]);
  if (!podHoldsResources(pod, now)) return out;
  return addAmounts(out, computeUsage(podAmounts(pod, 'requests'), podAmounts(pod, 'limits')));
}

/** the quota resource names (from a quota's hard) the pod evaluator charges */
export function podMatchingResources(names: readonly string[]): string[] {
  return names.filter((n) => POD_RESOURCES.includes(n) || n.startsWith('hugepages-') || n.startsWith('requests.hugepages-') || (n.startsWith('requests.') && isExtended(n.slice('requests.'.length))));
}

/**
 * The pod evaluator's Constraints: when a quota limits cpu or memory, each container must state
 * it. Returns upstream's `must specify limits.cpu for: a,b; requests.memory for: a`, or undefined.
 */
export function podConstraintError(pod: Pod, required: readonly string[]): string | undefined {
  const need = required.filter((r) => MUST_SPECIFY.has(r));
  if (need.length === 0) return undefined;
  const missing = new Map<string, Set<string>>();
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    const has = computeUsage(containerAmounts(c, 'requests'), containerAmounts(c, 'limits'));
    for (const r of need) if (!has.has(r)) (missing.get(r) ?? missing.set(r, new Set()).get(r)!).add(c.name);
  }
  if (missing.size === 0) return undefined;
  const parts = [...missing.keys()].sort().map((r) => `${r} for: ${[...missing.get(r)!].sort().join(',')}`);
  return `must specify ${parts.join('; ')}`;
}

/** a scope selector requirement (spec.scopes become `{scopeName, operator: Exists}`) */
export interface ScopeRequirement {
  scopeName: string;
  operator: string;
  values?: string[];
}

const isTerminating = (pod: Pod): boolean => typeof pod.spec?.activeDeadlineSeconds === 'number' && pod.spec.activeDeadlineSeconds >= 0;
const isBestEffort = (pod: Pod): boolean => podQOSClass(pod.spec ?? { containers: [] }) === 'BestEffort';

function usesCrossNamespaceAffinity(pod: Pod): boolean {
  const a = pod.spec?.affinity;
  const terms = [
    ...(a?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(a?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((w) => w.podAffinityTerm),
    ...(a?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(a?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((w) => w.podAffinityTerm),
  ];
  return terms.some((t) => (t.namespaces ?? []).length > 0 || t.namespaceSelector !== undefined);
}

/** podMatchesScopeFunc */
export function podMatchesScope(req: ScopeRequirement, pod: Pod): boolean {
  switch (req.scopeName) {
    case 'Terminating':
      return isTerminating(pod);
    case 'NotTerminating':
      return !isTerminating(pod);
    case 'BestEffort':
      return isBestEffort(pod);
    case 'NotBestEffort':
      return !isBestEffort(pod);
    case 'CrossNamespacePodAffinity':
      return usesCrossNamespaceAffinity(pod);
    case 'PriorityClass': {
      // a label selector over the one label {PriorityClass: <the pod's class>}
      const cls = pod.spec?.priorityClassName ?? '';
      const values = req.values ?? [];
      switch (req.operator) {
        case 'Exists':
          return cls !== '';
        case 'DoesNotExist':
          return cls === '';
        case 'In':
          return cls !== '' && values.includes(cls);
        case 'NotIn':
          return cls === '' || !values.includes(cls);
        default:
          return false;
      }
    }
    default:
      return false;
  }
}
