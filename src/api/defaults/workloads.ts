import type { DaemonSet, Deployment, ReplicaSet, StatefulSet } from 'kubernetes-types/apps/v1.js';
import type { CronJob, Job, JobSpec } from 'kubernetes-types/batch/v1.js';
import type { PodTemplateSpec } from 'kubernetes-types/core/v1.js';
import { present, type KubeObject } from '../object.ts';
import { defaultPodSpec } from './pod.ts';

/**
 * SetDefaults_* of k8s.io/kubernetes/pkg/apis/{apps,batch}/v1 for the workload kinds. Called
 * after the schema check, so shapes are right where present; anything may still be absent.
 */

function defaultTemplate(t: PodTemplateSpec | undefined): void {
  if (!present(t)) return;
  if (present(t.spec)) defaultPodSpec(t.spec);
}

export function defaultDeployment(obj: KubeObject): void {
  const d = obj as unknown as Deployment;
  if (!present(d.spec)) return;
  const spec = d.spec;
  spec.replicas ??= 1;
  spec.strategy ??= {};
  spec.strategy.type ??= 'RollingUpdate';
  if (spec.strategy.type === 'RollingUpdate') {
    spec.strategy.rollingUpdate ??= {};
    spec.strategy.rollingUpdate.maxUnavailable ??= '25%';
    spec.strategy.rollingUpdate.maxSurge ??= '25%';
  }
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  defaultTemplate(spec.template);
}

export function defaultReplicaSet(obj: KubeObject): void {
  const rs = obj as unknown as ReplicaSet;
  if (!present(rs.spec)) return;
  rs.spec.replicas ??= 1;
  defaultTemplate(rs.spec.template);
}

export function defaultDaemonSet(obj: KubeObject): void {
  const ds = obj as unknown as DaemonSet;
  if (!present(ds.spec)) return;
  const spec = ds.spec;
  spec.updateStrategy ??= {};
  spec.updateStrategy.type ??= 'RollingUpdate';
  if (spec.updateStrategy.type === 'RollingUpdate') {
    spec.updateStrategy.rollingUpdate ??= {};
    spec.updateStrategy.rollingUpdate.maxUnavailable ??= 1;
    spec.updateStrategy.rollingUpdate.maxSurge ??= 0;
  }
  spec.revisionHistoryLimit ??= 10;
  defaultTemplate(spec.template);
}

export function defaultStatefulSet(obj: KubeObject): void {
  const ss = obj as unknown as StatefulSet;
  if (!present(ss.spec)) return;
  const spec = ss.spec;
  spec.replicas ??= 1;
  spec.podManagementPolicy ??= 'OrderedReady';
  spec.updateStrategy ??= {};
  spec.updateStrategy.type ??= 'RollingUpdate';
  if (spec.updateStrategy.type === 'RollingUpdate') {
    spec.updateStrategy.rollingUpdate ??= {};
    spec.updateStrategy.rollingUpdate.partition ??= 0;
  }
  spec.revisionHistoryLimit ??= 10;
  spec.persistentVolumeClaimRetentionPolicy ??= {};
  spec.persistentVolumeClaimRetentionPolicy.whenDeleted ??= 'Retain';
  spec.persistentVolumeClaimRetentionPolicy.whenScaled ??= 'Retain';
  defaultTemplate(spec.template);
}

export function defaultJobSpec(spec: JobSpec): void {
  if (spec.completions === undefined && spec.parallelism === undefined) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  spec.parallelism ??= 1;
  spec.backoffLimit ??= 6;
  spec.completionMode ??= 'NonIndexed';
  spec.suspend ??= false;
  spec.podReplacementPolicy ??= 'TerminatingOrFailed';
  defaultTemplate(spec.template);
}

export function defaultJob(obj: KubeObject): void {
  const job = obj as unknown as Job;
  if (!present(job.spec)) return;
  defaultJobSpec(job.spec);
}

export function defaultCronJob(obj: KubeObject): void {
  const cj = obj as unknown as CronJob;
  if (!present(cj.spec)) return;
  const spec = cj.spec;
  spec.concurrencyPolicy ??= 'Allow';
  spec.suspend ??= false;
  spec.successfulJobsHistoryLimit ??= 3;
  spec.failedJobsHistoryLimit ??= 1;
  if (present(spec.jobTemplate) && present(spec.jobTemplate.spec)) {
    const js = spec.jobTemplate.spec;
    // the job template is defaulted like a Job, except its selector (generated per Job)
    if (js.completions === undefined && js.parallelism === undefined) {
      js.completions = 1;
      js.parallelism = 1;
    }
    js.parallelism ??= 1;
    js.backoffLimit ??= 6;
    js.completionMode ??= 'NonIndexed';
    js.suspend ??= false;
    js.podReplacementPolicy ??= 'TerminatingOrFailed';
    defaultTemplate(js.template);
  }
}

export function defaultPodDisruptionBudget(obj: KubeObject): void {
  const spec = (obj as { spec?: unknown }).spec;
  if (spec === undefined) (obj as { spec?: unknown }).spec = {};
}

export function defaultEndpointSlice(obj: KubeObject): void {
  const es = obj as { endpoints?: unknown; ports?: unknown[] };
  es.endpoints ??= [];
  for (const p of es.ports ?? []) {
    if (present(p)) {
      const port = p as { protocol?: string; name?: string };
      port.protocol ??= 'TCP';
      port.name ??= '';
    }
  }
}
