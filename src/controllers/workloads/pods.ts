import type { PodTemplateSpec } from 'kubernetes-types/core/v1.js';
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { PodObject } from '../common/types.ts';

/** podutil.IsPodActive: not finished and not being deleted */
export function isActive(p: PodObject): boolean {
  return p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed' && !p.metadata.deletionTimestamp;
}

export function isReady(p: PodObject): boolean {
  return (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** podutil.IsPodAvailable: ready for at least minReadySeconds */
export function isAvailable(p: PodObject, minReadySeconds: number, now: number): boolean {
  const c = (p.status?.conditions ?? []).find((x) => x.type === 'Ready' && x.status === 'True');
  if (!c) return false;
  if (minReadySeconds <= 0) return true;
  const t = c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : Number.NaN;
  return !Number.isNaN(t) && t + minReadySeconds * 1000 <= now;
}

/** GetPodFromTemplate: the pod a controller creates from its template */
export function podFromTemplate(template: PodTemplateSpec | undefined, opts: { namespace: string; owner: OwnerReference; generateName?: string; name?: string; extraLabels?: Record<string, string> }): PodObject {
  const meta = template?.metadata ?? {};
  const pod: PodObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: opts.namespace,
      labels: { ...meta.labels, ...opts.extraLabels },
      ownerReferences: [opts.owner],
    },
    spec: structuredClone(template?.spec ?? { containers: [] }),
  };
  if (meta.annotations) pod.metadata.annotations = { ...meta.annotations };
  if (meta.finalizers) pod.metadata.finalizers = [...meta.finalizers];
  if (opts.name) pod.metadata.name = opts.name;
  else pod.metadata.generateName = opts.generateName;
  return pod;
}

/**
 * controller.ActivePods ordering for scale-down: unassigned < assigned, pending < unknown <
 * running, not ready < ready, ready for less time < longer, more restarts < fewer, newer < older.
 */
export function deletionOrder(a: PodObject, b: PodObject): number {
  const assigned = (p: PodObject): number => (p.spec?.nodeName ? 1 : 0);
  if (assigned(a) !== assigned(b)) return assigned(a) - assigned(b);
  const phase = (p: PodObject): number => ({ Pending: 0, Unknown: 1, Running: 2 })[p.status?.phase ?? 'Pending'] ?? 0;
  if (phase(a) !== phase(b)) return phase(a) - phase(b);
  const ready = (p: PodObject): number => (isReady(p) ? 1 : 0);
  if (ready(a) !== ready(b)) return ready(a) - ready(b);
  const restarts = (p: PodObject): number => (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
  if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a);
  const created = (p: PodObject): number => Date.parse(p.metadata.creationTimestamp ?? '') || 0;
  return created(b) - created(a);
}
