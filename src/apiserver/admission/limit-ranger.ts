import type { Container, LimitRange, LimitRangeItem, Pod } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { parseAmounts, type Amounts } from '../../api/quota/resource-list.ts';
import { podAmounts } from '../../api/quota/pod-usage.ts';
import type { Quantity } from '../../api/meta/quantity.ts';
import { HedgeError } from '../../lib/errors.ts';
import type { AdmissionPlugin, AdmissionRequest } from './types.ts';

export interface LimitRangerOptions {
  /** the LimitRanges of a namespace, as stored */
  listLimitRanges(namespace: string, signal: AbortSignal): Promise<KubeObject[]>;
}

/** the annotation upstream records the defaults it filled in under */
export const LIMIT_RANGER_ANNOTATION = 'kubernetes.io/limit-ranger';

const isPodCreate = (req: AdmissionRequest): boolean =>
  req.operation === 'CREATE' && req.subresource === '' && req.def.group === '' && req.def.plural === 'pods' && !!req.object;

const items = (lr: KubeObject): LimitRangeItem[] => {
  const limits = (lr as unknown as LimitRange).spec?.limits;
  return Array.isArray(limits) ? limits : [];
};

/** defaultContainerResourceRequirements: the Container items' default (limits) and defaultRequest */
function containerDefaults(lr: KubeObject): { requests: Record<string, string>; limits: Record<string, string> } {
  const out = { requests: {} as Record<string, string>, limits: {} as Record<string, string> };
  for (const item of items(lr)) {
    if (item.type !== 'Container') continue;
    Object.assign(out.requests, item.defaultRequest);
    Object.assign(out.limits, item.default);
  }
  return out;
}

/** mergeContainerResources: fills what the container left out; returns upstream's annotation parts */
function mergeDefaults(c: Container, defaults: ReturnType<typeof containerDefaults>, label: string): string[] {
  const r = (c.resources ??= {});
  const setLimits = Object.keys(defaults.limits).filter((k) => !(k in (r.limits ?? {}))).sort();
  const setRequests = Object.keys(defaults.requests).filter((k) => !(k in (r.requests ?? {}))).sort();
  if (setLimits.length > 0) r.limits = { ...r.limits, ...Object.fromEntries(setLimits.map((k) => [k, defaults.limits[k]])) };
  if (setRequests.length > 0) r.requests = { ...r.requests, ...Object.fromEntries(setRequests.map((k) => [k, defaults.requests[k]])) };
  const parts: string[] = [];
  if (setRequests.length > 0) parts.push(`${setRequests.join(', ')} request for ${label} ${c.name}`);
  if (setLimits.length > 0) parts.push(`${setLimits.join(', ')} limit for ${label} ${c.name}`);
  return parts;
}

function minConstraint(type: string, name: string, enforced: Quantity, requests: Amounts, limits: Amounts): string | undefined {
  const req = requests.get(name);
  const lim = limits.get(name);
  if (!req) return `minimum ${name} usage per ${type} is ${enforced}.  No request is specified`;
  if (req.cmp(enforced) < 0) return `minimum ${name} usage per ${type} is ${enforced}, but request is ${req}`;
  if (lim && lim.cmp(enforced) < 0) return `minimum ${name} usage per ${type} is ${enforced}, but limit is ${lim}`;
  return undefined;
}

function maxConstraint(type: string, name: string, enforced: Quantity, requests: Amounts, limits: Amounts): string | undefined {
  const req = requests.get(name);
  const lim = limits.get(name);
  if (!lim) return `maximum ${name} usage per ${type} is ${enforced}.  No limit is specified`;
  if (lim.cmp(enforced) > 0) return `maximum ${name} usage per ${type} is ${enforced}, but limit is ${lim}`;
  if (req && req.cmp(enforced) > 0) return `maximum ${name} usage per ${type} is ${enforced}, but request is ${req}`;
  return undefined;
}

function ratioConstraint(type: string, name: string, enforced: Quantity, requests: Amounts, limits: Amounts): string | undefined {
  const req = requests.get(name);
  const lim = limits.get(name);
  const head = `${name} max limit to request ratio per ${type} is ${enforced}`;
  if (!req || req.milliValue() === 0) return `${head}, but no request is specified or request is 0`;
  if (!lim || lim.milliValue() === 0) return `${head}, but no limit is specified or limit is 0`;
  const observed = lim.milliValue() / req.milliValue();
  if (observed * 1000 > enforced.milliValue()) return `${head}, but provided ratio is ${observed.toFixed(6)}`;
  return undefined;
}

/** min, max and maxLimitRequestRatio of one item against one set of requests and limits, in name order */
function checkItem(item: LimitRangeItem, requests: Amounts, limits: Amounts, errs: string[]): void {
  const type = item.type;
  const run = (list: Record<string, unknown> | undefined, check: typeof minConstraint): void => {
    for (const [name, enforced] of [...parseAmounts(list)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const err = check(type, name, enforced, requests, limits);
      if (err) errs.push(err);
    }
  };
  run(item.min, minConstraint);
  run(item.max, maxConstraint);
  run(item.maxLimitRequestRatio, ratioConstraint);
}

/** PodValidateLimitFunc: every container against `Container` items, the pod's totals against `Pod` items */
export function podLimitErrors(lr: KubeObject, pod: Pod): string[] {
  const errs: string[] = [];
  for (const item of items(lr)) {
    if (item.type === 'Container') {
      for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
        checkItem(item, parseAmounts(c.resources?.requests), parseAmounts(c.resources?.limits), errs);
      }
    } else if (item.type === 'Pod') {
      checkItem(item, podAmounts(pod, 'requests', false), podAmounts(pod, 'limits', false), errs);
    }
  }
  return errs;
}

/**
 * Upstream's LimitRanger on pod create (hedge serves no PersistentVolumeClaims): mutate fills each
 * container's missing limits and requests from the namespace's `type: Container` items
 * (`default`, `defaultRequest`) and records them in the kubernetes.io/limit-ranger annotation;
 * validate refuses a pod outside any item's min, max or maxLimitRequestRatio, 403 with
 * upstream's messages.
 */
export function limitRangerPlugin(opts: LimitRangerOptions): AdmissionPlugin {
  return {
    name: 'LimitRanger',
    async mutate(req) {
      if (!isPodCreate(req) || !req.object) return;
      const ranges = await opts.listLimitRanges(req.namespace, req.signal);
      if (ranges.length === 0) return;
      const pod = req.object as unknown as Pod;
      const parts: string[] = [];
      for (const lr of ranges) {
        const defaults = containerDefaults(lr);
        for (const c of pod.spec?.containers ?? []) parts.push(...mergeDefaults(c, defaults, 'container'));
        for (const c of pod.spec?.initContainers ?? []) parts.push(...mergeDefaults(c, defaults, 'init container'));
      }
      if (parts.length > 0) {
        req.object.metadata.annotations = { ...req.object.metadata.annotations, [LIMIT_RANGER_ANNOTATION]: `LimitRanger plugin set: ${parts.join('; ')}` };
      }
    },
    async validate(req) {
      if (!isPodCreate(req) || !req.object) return;
      for (const lr of await opts.listLimitRanges(req.namespace, req.signal)) {
        const errs = podLimitErrors(lr, req.object as unknown as Pod);
        if (errs.length === 0) continue;
        // utilerrors.NewAggregate: one message as is, several in brackets
        const msg = errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`;
        throw new HedgeError('Forbidden', `pods "${req.name}" is forbidden: ${msg}`, { details: { kind: 'pods', name: req.name } });
      }
    },
  };
}
