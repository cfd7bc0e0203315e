import type { Deployment, DeploymentCondition, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { PodTemplateSpec } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { semanticEqual } from '../../api/validation/semantic.ts';

export type DeploymentObject = Deployment & KubeObject;
export type RsObject = ReplicaSet & KubeObject;

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';
export const POD_TEMPLATE_HASH = 'pod-template-hash';

/** annotations a Deployment keeps to itself (upstream skipCopyAnnotation) */
const SKIP_COPY = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  'deprecated.deployment.rollback.to',
]);

export function copyableAnnotations(d: DeploymentObject): Record<string, string> {
  return Object.fromEntries(Object.entries(d.metadata.annotations ?? {}).filter(([k]) => !SKIP_COPY.has(k)));
}

export function revisionOf(obj: KubeObject): number {
  const v = Number.parseInt(obj.metadata.annotations?.[REVISION_ANNOTATION] ?? '', 10);
  return Number.isNaN(v) ? 0 : v;
}

/** EqualIgnoreHash: templates equal once the pod-template-hash label is dropped */
export function templatesEqual(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  const strip = (t: PodTemplateSpec | undefined): unknown => {
    const c = structuredClone(t ?? {});
    if (c.metadata?.labels) {
      delete c.metadata.labels[POD_TEMPLATE_HASH];
      if (Object.keys(c.metadata.labels).length === 0) delete c.metadata.labels;
    }
    return c;
  };
  return semanticEqual(strip(a), strip(b));
}

/** intstr.GetScaledValueFromIntOrPercent */
export function scaledValue(v: number | string | undefined, total: number, roundUp: boolean): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const pct = Number.parseInt(v, 10);
  if (Number.isNaN(pct)) return 0;
  const x = (pct * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/** ResolveFenceposts: maxSurge rounds up, maxUnavailable down; both zero means one unavailable */
export function fenceposts(d: DeploymentObject): { maxSurge: number; maxUnavailable: number } {
  const desired = d.spec?.replicas ?? 1;
  const ru = d.spec?.strategy?.rollingUpdate;
  const maxSurge = scaledValue(ru?.maxSurge ?? '25%', desired, true);
  let maxUnavailable = scaledValue(ru?.maxUnavailable ?? '25%', desired, false);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

export function maxUnavailableOf(d: DeploymentObject): number {
  const desired = d.spec?.replicas ?? 1;
  if (d.spec?.strategy?.type !== 'RollingUpdate' || desired === 0) return 0;
  return Math.min(fenceposts(d).maxUnavailable, desired);
}

export const specReplicas = (rs: RsObject): number => rs.spec?.replicas ?? 0;

export function setCondition(conds: DeploymentCondition[], c: DeploymentCondition): DeploymentCondition[] {
  const prior = conds.find((x) => x.type === c.type);
  if (prior && prior.status === c.status && prior.reason === c.reason) {
    // same state: keep the transition time; a new message or update time is fine
    return conds.map((x) => (x.type === c.type ? { ...c, lastTransitionTime: prior.lastTransitionTime } : x));
  }
  if (prior && prior.status === c.status) c = { ...c, lastTransitionTime: prior.lastTransitionTime };
  return [...conds.filter((x) => x.type !== c.type), c];
}
