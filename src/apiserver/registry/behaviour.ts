import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';

/**
 * Per-resource behaviour of upstream's REST strategies that is about storage semantics rather
 * than validation (which lives in ResourceDef): graceful pod deletion, namespace phases.
 */

export const isCore = (def: ResourceDef, plural: string): boolean => def.group === '' && def.plural === plural;

/** Upstream returns the deleted object for these; everything else gets a Success Status. */
export function returnsDeletedObject(def: ResourceDef): boolean {
  return isCore(def, 'pods') || isCore(def, 'services');
}

export function prepareCreateSpecial(def: ResourceDef, obj: KubeObject): void {
  if (isCore(def, 'namespaces')) {
    const spec = (obj.spec ??= {}) as { finalizers?: string[] };
    if (!spec.finalizers?.includes('kubernetes')) spec.finalizers = [...(spec.finalizers ?? []), 'kubernetes'];
    obj.status = { ...(obj.status as object | undefined), phase: 'Active' };
  }
  if (def.group === 'batch' && def.plural === 'jobs') generateJobSelector(obj);
  // upstream's resourcequota strategy: usage is the quota controller's to report, never the creator's
  if (isCore(def, 'resourcequotas')) delete obj.status;
  // upstream's PV and PVC strategies: a new one starts Pending whatever status it was sent with
  if (isCore(def, 'persistentvolumeclaims') || isCore(def, 'persistentvolumes')) obj.status = { phase: 'Pending' };
  // upstream's ingress strategy: the load balancer status is the controller's to write, through /status
  if (def.group === 'networking.k8s.io' && def.plural === 'ingresses') obj.status = { loadBalancer: {} };
  if (isCore(def, 'pods')) {
    const status = (obj.status ?? {}) as { phase?: string };
    if (!status.phase) obj.status = { ...status, phase: 'Pending' };
  }
}

interface PodLike {
  spec?: { nodeName?: string; terminationGracePeriodSeconds?: number };
  status?: { phase?: string };
}

/**
 * Grace period for a delete (upstream CheckGracefulDelete): only pods bound to a node and not
 * yet terminal get one; 0 means remove now.
 */
export function gracePeriodFor(def: ResourceDef, obj: KubeObject, requested: number | undefined): number {
  if (!isCore(def, 'pods')) return 0;
  const pod = obj as KubeObject & PodLike;
  let grace = requested ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
  if (grace < 0) grace = 1;
  if (!pod.spec?.nodeName) return 0;
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return 0;
  return grace;
}

interface JobLike {
  spec?: { manualSelector?: boolean; selector?: { matchLabels?: Record<string, string> }; template?: { metadata?: { labels?: Record<string, string> } } };
}

/**
 * Upstream's job strategy PrepareForCreate: unless manualSelector, the selector is the Job's
 * uid and the template carries the labels that select it (so two Jobs never share pods).
 */
function generateJobSelector(obj: KubeObject): void {
  const job = obj as KubeObject & JobLike;
  const spec = job.spec;
  const uid = obj.metadata.uid;
  if (typeof spec !== 'object' || spec === null || spec.manualSelector === true || !uid) return;
  spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
  if (typeof spec.template !== 'object' || spec.template === null) return;
  const meta = (spec.template.metadata ??= {});
  meta.labels = {
    ...meta.labels,
    'batch.kubernetes.io/controller-uid': uid,
    'batch.kubernetes.io/job-name': obj.metadata.name ?? '',
    'controller-uid': uid,
    'job-name': obj.metadata.name ?? '',
  };
}
