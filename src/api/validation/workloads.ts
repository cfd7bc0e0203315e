import type { DaemonSet, Deployment, ReplicaSet, StatefulSet } from 'kubernetes-types/apps/v1.js';
import type { CronJob, JobSpec } from 'kubernetes-types/batch/v1.js';
import type { PodTemplateSpec } from 'kubernetes-types/core/v1.js';
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import { matches, selectorFromLabelSelector } from '../labels/selector.ts';
import { validateLabelSelector, validateLabels } from '../labels/validate.ts';
import { child, duplicate, forbidden, index, invalid, notSupported, required } from '../meta/field-errors.ts';
import { validateAnnotations } from '../meta/object-meta.ts';
import { present, type KubeObject } from '../object.ts';
import { parseCronSchedule } from '../cron/schedule.ts';
import { validatePodSpec } from './pod.ts';
import { semanticEqual } from './semantic.ts';

/**
 * ValidateDeployment / ReplicaSet / DaemonSet / StatefulSet / Job / CronJob and friends from
 * k8s.io/kubernetes/pkg/apis/{apps,batch,policy,discovery}/validation — the rules users hit.
 */

type IntOrString = number | string;

function nonNegative(value: unknown, path: string, causes: FieldCause[]): void {
  if (typeof value === 'number' && value < 0) causes.push(invalid(path, value, 'must be greater than or equal to 0'));
}

/** metav1.LabelSelector printed the way Go's %#v would be too noisy; upstream users read the field path. */
function selectorCauses(selector: LabelSelector | undefined, template: PodTemplateSpec | undefined, path: string, opts: { allowEmpty?: boolean } = {}): FieldCause[] {
  const causes: FieldCause[] = [];
  const selPath = child(path, 'selector');
  if (!present(selector)) {
    causes.push(required(selPath));
    return causes;
  }
  causes.push(...validateLabelSelector(selector, selPath));
  const empty = Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0;
  if (empty && !opts.allowEmpty) {
    causes.push(invalid(selPath, selector, 'empty selector is invalid for deployment'));
    return causes;
  }
  if (causes.length > 0 || !present(template)) return causes;
  const labels = template.metadata?.labels ?? {};
  try {
    if (!matches(selectorFromLabelSelector(selector), labels)) {
      causes.push(invalid(child(child(child(path, 'template'), 'metadata'), 'labels'), labels, '`selector` does not match template `labels`'));
    }
  } catch (err) {
    causes.push(invalid(selPath, selector, (err as Error).message));
  }
  return causes;
}

function templateCauses(template: PodTemplateSpec | undefined, path: string, restartPolicies: readonly string[]): FieldCause[] {
  const tp = child(path, 'template');
  if (!present(template)) return [required(tp)];
  const causes: FieldCause[] = [];
  const meta = template.metadata ?? {};
  causes.push(...validateLabels(meta.labels, child(child(tp, 'metadata'), 'labels')));
  causes.push(...validateAnnotations(meta.annotations, child(child(tp, 'metadata'), 'annotations')));
  causes.push(...validatePodSpec(template.spec, child(tp, 'spec')));
  const rp = template.spec?.restartPolicy;
  if (rp !== undefined && !restartPolicies.includes(rp)) causes.push(notSupported(child(child(tp, 'spec'), 'restartPolicy'), rp, restartPolicies));
  if (rp === undefined && restartPolicies.length === 2) causes.push(required(child(child(tp, 'spec'), 'restartPolicy'), `valid values: ${restartPolicies.map((r) => JSON.stringify(r)).join(', ')}`));
  if (template.spec?.activeDeadlineSeconds !== undefined && restartPolicies.includes('Always')) {
    causes.push(forbidden(child(child(tp, 'spec'), 'activeDeadlineSeconds'), 'activeDeadlineSeconds in ReplicaSet is not Supported'));
  }
  return causes;
}

const PERCENT_RE = /^[0-9]+%$/;

/** ValidatePositiveIntOrPercent + IsNotMoreThan100Percent */
function intOrPercent(v: IntOrString | undefined, path: string, causes: FieldCause[]): void {
  if (v === undefined) return;
  if (typeof v === 'string') {
    if (!PERCENT_RE.test(v)) {
      causes.push(invalid(path, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"));
      return;
    }
    if (Number.parseInt(v, 10) > 100) causes.push(invalid(path, v, 'must not be greater than 100%'));
    return;
  }
  nonNegative(v, path, causes);
}

function isZero(v: IntOrString | undefined): boolean {
  return v === 0 || v === '0%';
}

function immutable(obj: unknown, old: unknown, path: string, causes: FieldCause[]): void {
  if (!semanticEqual(obj ?? null, old ?? null)) causes.push(invalid(path, obj ?? null, 'field is immutable'));
}

function specOf<T>(obj: KubeObject): T | undefined {
  const spec = (obj as { spec?: unknown }).spec;
  return present(spec) ? (spec as T) : undefined;
}

export function validateDeployment(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const spec = specOf<NonNullable<Deployment['spec']>>(obj);
  if (!spec) return [required('spec')];
  const causes: FieldCause[] = [];
  nonNegative(spec.replicas, 'spec.replicas', causes);
  causes.push(...selectorCauses(spec.selector, spec.template, 'spec'));
  causes.push(...templateCauses(spec.template, 'spec', ['Always']));
  const st = spec.strategy;
  if (st) {
    const types = ['Recreate', 'RollingUpdate'];
    if (st.type === undefined) causes.push(required('spec.strategy.type'));
    else if (!types.includes(st.type)) causes.push(notSupported('spec.strategy.type', st.type, types));
    if (st.type === 'Recreate' && st.rollingUpdate) {
      causes.push(forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
    }
    const ru = st.rollingUpdate;
    if (st.type === 'RollingUpdate' && ru) {
      intOrPercent(ru.maxUnavailable, 'spec.strategy.rollingUpdate.maxUnavailable', causes);
      intOrPercent(ru.maxSurge, 'spec.strategy.rollingUpdate.maxSurge', causes);
      if (isZero(ru.maxSurge) && isZero(ru.maxUnavailable)) {
        causes.push(invalid('spec.strategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
      }
    }
  }
  nonNegative(spec.minReadySeconds, 'spec.minReadySeconds', causes);
  nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit', causes);
  if (spec.progressDeadlineSeconds !== undefined) {
    nonNegative(spec.progressDeadlineSeconds, 'spec.progressDeadlineSeconds', causes);
    if (spec.progressDeadlineSeconds <= (spec.minReadySeconds ?? 0)) {
      causes.push(invalid('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
    }
  }
  if (oldObj) {
    const old = specOf<NonNullable<Deployment['spec']>>(oldObj);
    immutable(spec.selector, old?.selector, 'spec.selector', causes);
  }
  return causes;
}

export function validateReplicaSet(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const spec = specOf<NonNullable<ReplicaSet['spec']>>(obj);
  if (!spec) return [required('spec')];
  const causes: FieldCause[] = [];
  nonNegative(spec.replicas, 'spec.replicas', causes);
  nonNegative(spec.minReadySeconds, 'spec.minReadySeconds', causes);
  causes.push(...selectorCauses(spec.selector, spec.template, 'spec'));
  if (spec.template !== undefined || (spec.replicas ?? 1) > 0) causes.push(...templateCauses(spec.template, 'spec', ['Always']));
  if (oldObj) immutable(spec.selector, specOf<NonNullable<ReplicaSet['spec']>>(oldObj)?.selector, 'spec.selector', causes);
  return causes;
}

export function validateDaemonSet(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const spec = specOf<NonNullable<DaemonSet['spec']>>(obj);
  if (!spec) return [required('spec')];
  const causes: FieldCause[] = [];
  causes.push(...selectorCauses(spec.selector, spec.template, 'spec'));
  causes.push(...templateCauses(spec.template, 'spec', ['Always']));
  nonNegative(spec.minReadySeconds, 'spec.minReadySeconds', causes);
  nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit', causes);
  const us = spec.updateStrategy;
  if (us) {
    const types = ['OnDelete', 'RollingUpdate'];
    if (us.type !== undefined && !types.includes(us.type)) causes.push(notSupported('spec.updateStrategy.type', us.type, types));
    if (us.type === 'RollingUpdate' && us.rollingUpdate) {
      intOrPercent(us.rollingUpdate.maxUnavailable, 'spec.updateStrategy.rollingUpdate.maxUnavailable', causes);
      intOrPercent(us.rollingUpdate.maxSurge, 'spec.updateStrategy.rollingUpdate.maxSurge', causes);
      if (isZero(us.rollingUpdate.maxSurge ?? 0) && isZero(us.rollingUpdate.maxUnavailable ?? 1)) {
        causes.push(invalid('spec.updateStrategy.rollingUpdate.maxUnavailable', us.rollingUpdate.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
      }
    }
  }
  if (oldObj) immutable(spec.selector, specOf<NonNullable<DaemonSet['spec']>>(oldObj)?.selector, 'spec.selector', causes);
  return causes;
}

export function validateStatefulSet(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const spec = specOf<NonNullable<StatefulSet['spec']>>(obj);
  if (!spec) return [required('spec')];
  const causes: FieldCause[] = [];
  nonNegative(spec.replicas, 'spec.replicas', causes);
  const policies = ['OrderedReady', 'Parallel'];
  if (spec.podManagementPolicy !== undefined && !policies.includes(spec.podManagementPolicy)) {
    causes.push(notSupported('spec.podManagementPolicy', spec.podManagementPolicy, policies));
  }
  const us = spec.updateStrategy;
  if (us?.type !== undefined && !['OnDelete', 'RollingUpdate'].includes(us.type)) causes.push(notSupported('spec.updateStrategy.type', us.type, ['OnDelete', 'RollingUpdate']));
  nonNegative(us?.rollingUpdate?.partition, 'spec.updateStrategy.rollingUpdate.partition', causes);
  causes.push(...selectorCauses(spec.selector, spec.template, 'spec'));
  // the pods get one volume per claim template (the controller adds them), so mounts may name them
  const claimNames: string[] = [];
  (spec.volumeClaimTemplates ?? []).forEach((t, i) => {
    const name = t?.metadata?.name;
    const np = child(child(index('spec.volumeClaimTemplates', i), 'metadata'), 'name');
    if (!name) causes.push(required(np));
    else if (claimNames.includes(name)) causes.push(duplicate(np, name));
    else claimNames.push(name);
  });
  const declared = new Set((spec.template?.spec?.volumes ?? []).map((v) => v.name));
  const claimVolumes = claimNames.filter((n) => !declared.has(n)).map((n) => ({ name: n, persistentVolumeClaim: { claimName: n } }));
  const template = spec.template?.spec && claimVolumes.length ? { ...spec.template, spec: { ...spec.template.spec, volumes: [...(spec.template.spec.volumes ?? []), ...claimVolumes] } } : spec.template;
  causes.push(...templateCauses(template, 'spec', ['Always']));
  nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit', causes);
  if (oldObj) {
    const old = specOf<NonNullable<StatefulSet['spec']>>(oldObj);
    const mutable = new Set(['replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds']);
    const strip = (s: object | undefined): Record<string, unknown> =>
      Object.fromEntries(Object.entries(s ?? {}).filter(([k]) => !mutable.has(k)));
    if (!semanticEqual(strip(spec), strip(old))) {
      causes.push(
        forbidden(
          'spec',
          "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ),
      );
    }
  }
  return causes;
}

function jobSpecCauses(spec: JobSpec, path: string, opts: { generatedSelector: boolean }): FieldCause[] {
  const causes: FieldCause[] = [];
  nonNegative(spec.parallelism, child(path, 'parallelism'), causes);
  nonNegative(spec.completions, child(path, 'completions'), causes);
  nonNegative(spec.backoffLimit, child(path, 'backoffLimit'), causes);
  nonNegative(spec.ttlSecondsAfterFinished, child(path, 'ttlSecondsAfterFinished'), causes);
  if (spec.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds <= 0) {
    causes.push(invalid(child(path, 'activeDeadlineSeconds'), spec.activeDeadlineSeconds, 'must be greater than 0'));
  }
  const modes = ['NonIndexed', 'Indexed'];
  if (spec.completionMode !== undefined && !modes.includes(spec.completionMode)) causes.push(notSupported(child(path, 'completionMode'), spec.completionMode, modes));
  if (spec.completionMode === 'Indexed' && spec.completions === undefined) {
    causes.push(required(child(path, 'completions'), 'when completion mode is Indexed'));
  }
  if (opts.generatedSelector) causes.push(...selectorCauses(spec.selector, spec.template, path));
  causes.push(...templateCauses(spec.template, path, ['OnFailure', 'Never']));
  return causes;
}

export function validateJob(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const spec = specOf<JobSpec>(obj);
  if (!spec) return [required('spec')];
  const causes = jobSpecCauses(spec, 'spec', { generatedSelector: true });
  if (oldObj) {
    const old = specOf<JobSpec>(oldObj);
    immutable(spec.selector, old?.selector, 'spec.selector', causes);
    if (!old?.suspend || spec.suspend) immutable(spec.template, old?.template, 'spec.template', causes);
    if (spec.completionMode !== 'Indexed') immutable(spec.completions, old?.completions, 'spec.completions', causes);
    immutable(spec.completionMode, old?.completionMode, 'spec.completionMode', causes);
  }
  return causes;
}

export function validateCronJob(obj: KubeObject): FieldCause[] {
  const spec = specOf<NonNullable<CronJob['spec']>>(obj);
  if (!spec) return [required('spec')];
  const causes: FieldCause[] = [];
  if (!spec.schedule) causes.push(required('spec.schedule'));
  else {
    const parsed = parseCronSchedule(spec.schedule);
    if (typeof parsed === 'string') causes.push(invalid('spec.schedule', spec.schedule, parsed));
  }
  const policies = ['Allow', 'Forbid', 'Replace'];
  if (spec.concurrencyPolicy !== undefined && !policies.includes(spec.concurrencyPolicy)) {
    causes.push(notSupported('spec.concurrencyPolicy', spec.concurrencyPolicy, policies));
  }
  nonNegative(spec.startingDeadlineSeconds, 'spec.startingDeadlineSeconds', causes);
  nonNegative(spec.successfulJobsHistoryLimit, 'spec.successfulJobsHistoryLimit', causes);
  nonNegative(spec.failedJobsHistoryLimit, 'spec.failedJobsHistoryLimit', causes);
  const jt = spec.jobTemplate;
  if (!present(jt) || !present(jt.spec)) causes.push(required('spec.jobTemplate.spec'));
  else {
    causes.push(...validateLabels(jt.metadata?.labels, 'spec.jobTemplate.metadata.labels'));
    causes.push(...jobSpecCauses(jt.spec, 'spec.jobTemplate.spec', { generatedSelector: jt.spec.selector !== undefined }));
  }
  return causes;
}

export function validatePodDisruptionBudget(obj: KubeObject): FieldCause[] {
  const spec = specOf<{ minAvailable?: IntOrString; maxUnavailable?: IntOrString; selector?: LabelSelector; unhealthyPodEvictionPolicy?: string }>(obj) ?? {};
  const causes: FieldCause[] = [];
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
    causes.push(invalid('spec', spec, 'minAvailable and maxUnavailable cannot be both set'));
  }
  intOrPercent(spec.minAvailable, 'spec.minAvailable', causes);
  intOrPercent(spec.maxUnavailable, 'spec.maxUnavailable', causes);
  causes.push(...validateLabelSelector(spec.selector, 'spec.selector'));
  const policies = ['IfHealthyBudget', 'AlwaysAllow'];
  if (spec.unhealthyPodEvictionPolicy !== undefined && !policies.includes(spec.unhealthyPodEvictionPolicy)) {
    causes.push(notSupported('spec.unhealthyPodEvictionPolicy', spec.unhealthyPodEvictionPolicy, policies));
  }
  return causes;
}

export function validateControllerRevision(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const cr = obj as { revision?: number; data?: unknown };
  const causes: FieldCause[] = [];
  nonNegative(cr.revision, 'revision', causes);
  if (oldObj) immutable(cr.data, (oldObj as { data?: unknown }).data, 'data', causes);
  return causes;
}

interface EndpointSliceLike {
  addressType?: string;
  endpoints?: { addresses?: string[] }[];
  ports?: { name?: string; protocol?: string; port?: number }[];
}

export function validateEndpointSlice(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const es = obj as EndpointSliceLike;
  const causes: FieldCause[] = [];
  const types = ['IPv4', 'IPv6', 'FQDN'];
  if (!es.addressType) causes.push(required('addressType'));
  else if (!types.includes(es.addressType)) causes.push(notSupported('addressType', es.addressType, types));
  (es.endpoints ?? []).forEach((ep, i) => {
    const p = index('endpoints', i);
    const n = (ep.addresses ?? []).length;
    if (n === 0) causes.push(required(child(p, 'addresses'), 'must contain at least 1 address'));
    else if (n > 100) causes.push({ field: child(p, 'addresses'), reason: 'FieldValueTooMany', message: `Too many: ${n}: must have at most 100 items` });
  });
  (es.ports ?? []).forEach((port, i) => {
    const p = index('ports', i);
    const protocols = ['TCP', 'UDP', 'SCTP'];
    if (port.protocol !== undefined && !protocols.includes(port.protocol)) causes.push(notSupported(child(p, 'protocol'), port.protocol, protocols));
    if (port.port !== undefined && (port.port < 1 || port.port > 65535)) causes.push(invalid(child(p, 'port'), port.port, 'must be between 1 and 65535, inclusive'));
  });
  if (oldObj) immutable(es.addressType, (oldObj as EndpointSliceLike).addressType, 'addressType', causes);
  return causes;
}
