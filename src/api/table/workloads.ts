import type { ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet } from 'kubernetes-types/apps/v1.js';
import type { CronJob, Job } from 'kubernetes-types/batch/v1.js';
import type { PodTemplateSpec } from 'kubernetes-types/core/v1.js';
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import type { PodDisruptionBudget } from 'kubernetes-types/policy/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { KubeObject } from '../object.ts';
import type { TableColumn, TableDef } from '../resources/types.ts';
import { selectorFromLabelSelector, selectorToString } from '../labels/selector.ts';
import { ageColumn, column, nameColumn } from './columns.ts';
import { humanDuration, since } from './duration.ts';
import { formatLabels } from './service.ts';

/** Printers of k8s.io/kubernetes/pkg/printers/internalversion for the workload kinds. */

const age = (obj: KubeObject, now: Date): string => since(obj.metadata?.creationTimestamp, now);
const name = (obj: KubeObject): string => obj.metadata?.name ?? '';

const wideColumns = (selector = true): TableColumn[] => [
  column('Containers', 'Names of each container in the template.', { priority: 1 }),
  column('Images', 'Images referenced by each container in the template.', { priority: 1 }),
  ...(selector ? [column('Selector', 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', { priority: 1 })] : []),
];

function containers(t: PodTemplateSpec | undefined): [string, string] {
  const cs = t?.spec?.containers ?? [];
  return [cs.map((c) => c.name).join(','), cs.map((c) => c.image ?? '').join(',')];
}

/** metav1.FormatLabelSelector */
export function formatSelector(ls: LabelSelector | undefined): string {
  if (!ls) return '<none>';
  try {
    const s = selectorToString(selectorFromLabelSelector(ls));
    return s === '' ? '<none>' : s;
  } catch {
    return '<error>';
  }
}

export const deploymentTable: TableDef = {
  columns: [
    nameColumn(),
    column('Ready', 'Number of the pod with ready state'),
    column('Up-to-date', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.', { type: 'integer' }),
    column('Available', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.', { type: 'integer' }),
    ageColumn(),
    ...wideColumns(),
  ],
  row(obj, now) {
    const d = obj as unknown as Deployment;
    const st = d.status ?? {};
    return [
      name(obj),
      `${st.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`,
      st.updatedReplicas ?? 0,
      st.availableReplicas ?? 0,
      age(obj, now),
      ...containers(d.spec?.template),
      formatSelector(d.spec?.selector),
    ];
  },
};

export const replicaSetTable: TableDef = {
  columns: [
    nameColumn(),
    column('Desired', 'Replicas is the number of desired replicas.', { type: 'integer' }),
    column('Current', 'Replicas is the most recently observed number of replicas.', { type: 'integer' }),
    column('Ready', 'The number of ready replicas for this replica set.', { type: 'integer' }),
    ageColumn(),
    ...wideColumns(),
  ],
  row(obj, now) {
    const rs = obj as unknown as ReplicaSet;
    return [
      name(obj),
      rs.spec?.replicas ?? 0,
      rs.status?.replicas ?? 0,
      rs.status?.readyReplicas ?? 0,
      age(obj, now),
      ...containers(rs.spec?.template),
      formatSelector(rs.spec?.selector),
    ];
  },
};

export const daemonSetTable: TableDef = {
  columns: [
    nameColumn(),
    column('Desired', 'The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).', { type: 'integer' }),
    column('Current', 'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.', { type: 'integer' }),
    column('Ready', 'numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.', { type: 'integer' }),
    column('Up-to-date', 'The total number of nodes that are running updated daemon pod', { type: 'integer' }),
    column('Available', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)', { type: 'integer' }),
    column('Node Selector', 'NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node\'s labels for the pod to be scheduled on that node.'),
    ageColumn(),
    ...wideColumns(),
  ],
  row(obj, now) {
    const ds = obj as unknown as DaemonSet;
    const st = ds.status;
    return [
      name(obj),
      st?.desiredNumberScheduled ?? 0,
      st?.currentNumberScheduled ?? 0,
      st?.numberReady ?? 0,
      st?.updatedNumberScheduled ?? 0,
      st?.numberAvailable ?? 0,
      formatLabels(ds.spec?.template?.spec?.nodeSelector),
      age(obj, now),
      ...containers(ds.spec?.template),
      formatSelector(ds.spec?.selector),
    ];
  },
};

export const statefulSetTable: TableDef = {
  columns: [nameColumn(), column('Ready', 'Number of the pod with ready state'), ageColumn(), ...wideColumns(false)],
  row(obj, now) {
    const ss = obj as unknown as StatefulSet;
    return [name(obj), `${ss.status?.readyReplicas ?? 0}/${ss.spec?.replicas ?? 0}`, age(obj, now), ...containers(ss.spec?.template)];
  },
};

export const controllerRevisionTable: TableDef = {
  columns: [
    nameColumn(),
    column('Controller', 'Controller of the object'),
    column('Revision', 'Revision indicates the revision of the state represented by Data.', { type: 'integer' }),
    ageColumn(),
  ],
  row(obj, now) {
    const cr = obj as unknown as ControllerRevision;
    const owner = (obj.metadata?.ownerReferences ?? []).find((o) => o.controller);
    const controller = owner ? `${owner.kind.toLowerCase()}.${owner.apiVersion.includes('/') ? owner.apiVersion.split('/')[0] : ''}/${owner.name}`.replace('./', '/') : '<none>';
    return [name(obj), controller, cr.revision, age(obj, now)];
  },
};

function jobStatus(job: Job): string {
  const conds = job.status?.conditions ?? [];
  const has = (t: string): boolean => conds.some((c) => c.type === t && c.status === 'True');
  if (has('Complete')) return 'Complete';
  if (has('Failed')) return 'Failed';
  if (job.metadata?.deletionTimestamp) return 'Terminating';
  if (has('FailureTarget')) return 'FailureTarget';
  if (has('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  if (has('Suspended')) return 'Suspended';
  return 'Running';
}

export const jobTable: TableDef = {
  columns: [
    nameColumn(),
    column('Status', 'Status of the job.'),
    column('Completions', 'The completed job'),
    column('Duration', 'Job execution duration'),
    ageColumn(),
    ...wideColumns(),
  ],
  row(obj, now) {
    const job = obj as unknown as Job;
    const completions = job.spec?.completions !== undefined ? `${job.status?.succeeded ?? 0}/${job.spec.completions}` : `${job.status?.succeeded ?? 0}/1 of ${job.spec?.parallelism ?? 1}`;
    const start = job.status?.startTime ? Date.parse(job.status.startTime) : undefined;
    const end = job.status?.completionTime ? Date.parse(job.status.completionTime) : now.getTime();
    const duration = start === undefined ? '' : humanDuration(end - start);
    return [name(obj), jobStatus(job), completions, duration, age(obj, now), ...containers(job.spec?.template), formatSelector(job.spec?.selector)];
  },
};

export const cronJobTable: TableDef = {
  columns: [
    nameColumn(),
    column('Schedule', 'The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.'),
    column('Timezone', 'The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.'),
    column('Suspend', 'This flag tells the controller to suspend subsequent executions.', { type: 'boolean' }),
    column('Active', 'A list of pointers to currently running jobs.', { type: 'integer' }),
    column('Last Schedule', 'Information when was the last time the job was successfully scheduled.'),
    ageColumn(),
    ...wideColumns(),
  ],
  row(obj, now) {
    const cj = obj as unknown as CronJob;
    const last = cj.status?.lastScheduleTime ? since(cj.status.lastScheduleTime, now) : '<none>';
    const tmpl = cj.spec?.jobTemplate?.spec;
    return [
      name(obj),
      cj.spec?.schedule ?? '',
      cj.spec?.timeZone ?? '<none>',
      cj.spec?.suspend ?? false,
      (cj.status?.active ?? []).length,
      last,
      age(obj, now),
      ...containers(tmpl?.template),
      formatSelector(tmpl?.selector),
    ];
  },
};

export const podDisruptionBudgetTable: TableDef = {
  columns: [
    nameColumn(),
    column('Min Available', 'The minimum number of pods that must be available simultaneously.  This can be either an integer or a string specifying a percentage, e.g. "28%".'),
    column('Max Unavailable', 'The maximum number of pods that may be unavailable simultaneously.  This can be either an integer or a string specifying a percentage, e.g. "28%".'),
    column('Allowed Disruptions', 'Calculated number of pods that may be disrupted at this time.', { type: 'integer' }),
    ageColumn(),
  ],
  row(obj, now) {
    const pdb = obj as unknown as PodDisruptionBudget;
    const s = (v: number | string | undefined): string => (v === undefined ? 'N/A' : String(v));
    return [name(obj), s(pdb.spec?.minAvailable), s(pdb.spec?.maxUnavailable), pdb.status?.disruptionsAllowed ?? 0, age(obj, now)];
  },
};

export const endpointSliceTable: TableDef = {
  columns: [
    nameColumn(),
    column('AddressType', 'The IP protocol for this slice'),
    column('Ports', 'The ports for this slice'),
    column('Endpoints', 'Addresses of the endpoints in this slice'),
    ageColumn(),
  ],
  row(obj, now) {
    const es = obj as unknown as EndpointSlice;
    const ports = (es.ports ?? []).map((p) => (p.port === undefined ? '<unset>' : String(p.port)));
    const addrs = (es.endpoints ?? []).flatMap((e) => e.addresses);
    const shown = addrs.slice(0, 3).join(',');
    const eps = addrs.length === 0 ? '<unset>' : addrs.length > 3 ? `${shown} + ${addrs.length - 3} more...` : shown;
    return [name(obj), es.addressType, ports.length ? ports.join(',') : '<unset>', eps, age(obj, now)];
  },
};
