import { eventFields, namespaceFields, nodeFields, podFields, secretFields } from '../fields/field-maps.ts';
import {
  defaultCronJob,
  defaultDaemonSet,
  defaultDeployment,
  defaultEndpoints,
  defaultEndpointSlice,
  defaultJob,
  defaultNamespace,
  defaultNode,
  defaultPod,
  defaultPodDisruptionBudget,
  defaultReplicaSet,
  defaultSecret,
  defaultService,
  defaultStatefulSet,
} from '../defaults/index.ts';
import { nameIsDNS1035Label, nameIsDNSLabel } from '../meta/name.ts';
import {
  validateConfigMap,
  validateControllerRevision,
  validateCronJob,
  validateDaemonSet,
  validateDeployment,
  validateEndpoints,
  validateEndpointSlice,
  validateJob,
  validatePodDisruptionBudget,
  validateReplicaSet,
  validateStatefulSet,
  validateEvent,
  validateLease,
  validateNamespace,
  validateNode,
  validatePod,
  validatePodUpdate,
  validateRuntimeClass,
  validateSecret,
  validateService,
  validateServiceAccount,
} from '../validation/index.ts';
import {
  configMapTable,
  controllerRevisionTable,
  cronJobTable,
  daemonSetTable,
  deploymentTable,
  endpointSliceTable,
  endpointsTable,
  jobTable,
  podDisruptionBudgetTable,
  replicaSetTable,
  statefulSetTable,
  eventTable,
  leaseTable,
  namespaceTable,
  nodeTable,
  podTable,
  runtimeClassTable,
  secretTable,
  serviceAccountTable,
  serviceTable,
} from '../table/index.ts';
import type { ResourceDef, Verb } from '../resources/types.ts';
import { builtinDef } from './builtin-def.ts';
import { horizontalPodAutoscalerV1Def } from './autoscaling-v1.ts';
import { rbacResources } from './rbac.ts';
import { admissionRegistrationResources } from './admission-registration.ts';
import { flowcontrolResources } from './flowcontrol.ts';
import { defaultHorizontalPodAutoscaler } from '../defaults/autoscaling.ts';
import { validateHorizontalPodAutoscaler } from '../validation/autoscaling.ts';
import { crdResourceDef } from '../crd/index.ts';
import { defaultNetworkPolicy, validateNetworkPolicy } from '../validation/network-policy.ts';
import { networkPolicyTable } from '../table/network-policy.ts';
import { horizontalPodAutoscalerTable } from '../table/autoscaling.ts';
import { validateNetworkAttachmentDefinition } from '../validation/network-attachment-definition.ts';
import { validateLimitRange, validateResourceQuota } from '../validation/quota.ts';
import { defaultLimitRange } from '../defaults/quota.ts';
import { limitRangeTable, resourceQuotaTable } from '../table/quota.ts';
import { defaultPriorityClass, validatePriorityClass, validatePriorityClassUpdate } from '../validation/priority-class.ts';
import { priorityClassTable } from '../table/simple.ts';
import { validatePersistentVolume, validatePersistentVolumeClaim, validateStorageClass } from '../validation/storage.ts';
import { defaultPersistentVolume, defaultPersistentVolumeClaim, defaultStorageClass } from '../defaults/storage.ts';
import { persistentVolumeClaimTable, persistentVolumeTable, storageClassTable } from '../table/storage.ts';
import { defaultIngressClass, validateIngress, validateIngressClass, validateIngressClassUpdate, validateIngressUpdate } from '../validation/ingress.ts';
import { ingressClassTable, ingressTable } from '../table/ingress.ts';

/** Namespaces are the one kind upstream does not allow deletecollection on. */
const NAMESPACE_VERBS: Verb[] = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

/**
 * The resource types hedge serves, with names, scope, verbs and subresources as upstream
 * kube-apiserver v1.30+ reports them in discovery. Each call returns fresh objects so callers
 * may adjust them (e.g. tests) without affecting others.
 */
export function builtinResources(): ResourceDef[] {
  return [
    builtinDef({
      group: '',
      version: 'v1',
      kind: 'Namespace', table: namespaceTable,
      plural: 'namespaces',
      singular: 'namespace',
      shortNames: ['ns'],
      namespaced: false,
      verbs: NAMESPACE_VERBS,
      subresources: ['status', 'finalize'],
      hasStatus: true,
      fieldSelectors: namespaceFields,
      nameFn: nameIsDNSLabel,
      defaults: defaultNamespace,
      spec: validateNamespace,
    }),
    builtinDef({
      group: '',
      version: 'v1',
      kind: 'Node', table: nodeTable,
      plural: 'nodes',
      singular: 'node',
      shortNames: ['no'],
      namespaced: false,
      subresources: ['status'],
      hasStatus: true,
      fieldSelectors: nodeFields,
      defaults: defaultNode,
      spec: validateNode,
    }),
    builtinDef({
      group: '',
      version: 'v1',
      kind: 'Pod', table: podTable,
      plural: 'pods',
      singular: 'pod',
      shortNames: ['po'],
      categories: ['all'],
      namespaced: true,
      subresources: ['status', 'binding', 'log', 'exec', 'eviction', 'ephemeralcontainers'],
      hasStatus: true,
      fieldSelectors: podFields,
      defaults: defaultPod,
      spec: validatePod,
      update: (obj, old) => validatePodUpdate(obj, old!),
    }),
    builtinDef({ group: '', version: 'v1', kind: 'ConfigMap', table: configMapTable, plural: 'configmaps', singular: 'configmap', shortNames: ['cm'], namespaced: true, spec: validateConfigMap }),
    builtinDef({ group: '', version: 'v1', kind: 'Secret', table: secretTable, plural: 'secrets', singular: 'secret', namespaced: true, fieldSelectors: secretFields, defaults: defaultSecret, spec: validateSecret }),
    builtinDef({
      group: '',
      version: 'v1',
      kind: 'Service', table: serviceTable,
      plural: 'services',
      singular: 'service',
      shortNames: ['svc'],
      categories: ['all'],
      namespaced: true,
      subresources: ['status'],
      hasStatus: true,
      nameFn: nameIsDNS1035Label,
      defaults: defaultService,
      spec: validateService,
    }),
    builtinDef({
      group: '',
      version: 'v1',
      kind: 'ServiceAccount', table: serviceAccountTable,
      plural: 'serviceaccounts',
      singular: 'serviceaccount',
      shortNames: ['sa'],
      namespaced: true,
      spec: validateServiceAccount,
    }),
    builtinDef({ group: '', version: 'v1', kind: 'Endpoints', table: endpointsTable, plural: 'endpoints', singular: 'endpoints', shortNames: ['ep'], namespaced: true, defaults: defaultEndpoints, spec: validateEndpoints }),
    builtinDef({ group: '', version: 'v1', kind: 'Event', table: eventTable, plural: 'events', singular: 'event', shortNames: ['ev'], namespaced: true, fieldSelectors: eventFields, spec: validateEvent }),
    builtinDef({
      group: '',
      version: 'v1',
      kind: 'ResourceQuota',
      table: resourceQuotaTable,
      plural: 'resourcequotas',
      singular: 'resourcequota',
      shortNames: ['quota'],
      namespaced: true,
      subresources: ['status'],
      hasStatus: true,
      spec: validateResourceQuota,
    }),
    builtinDef({
      group: '',
      version: 'v1',
      kind: 'LimitRange',
      table: limitRangeTable,
      plural: 'limitranges',
      singular: 'limitrange',
      shortNames: ['limits'],
      namespaced: true,
      defaults: defaultLimitRange,
      spec: validateLimitRange,
    }),
    builtinDef({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', table: leaseTable, plural: 'leases', singular: 'lease', namespaced: true, spec: validateLease }),
    builtinDef({
      group: 'node.k8s.io',
      version: 'v1',
      kind: 'RuntimeClass', table: runtimeClassTable,
      plural: 'runtimeclasses',
      singular: 'runtimeclass',
      namespaced: false,
      spec: validateRuntimeClass,
    }),
    builtinDef({
      group: 'scheduling.k8s.io',
      version: 'v1',
      kind: 'PriorityClass',
      table: priorityClassTable,
      plural: 'priorityclasses',
      singular: 'priorityclass',
      shortNames: ['pc'],
      namespaced: false,
      defaults: defaultPriorityClass,
      spec: validatePriorityClass,
      update: validatePriorityClassUpdate,
    }),
    ...storageResources(),
    ...rbacResources(),
    ...workloadResources(),
    crdResourceDef(),
    ...admissionRegistrationResources(),
    ...flowcontrolResources(),
  ];
}

/** PersistentVolumeClaims, PersistentVolumes and StorageClasses, with upstream's short names */
function storageResources(): ResourceDef[] {
  return [
    builtinDef({
      group: '',
      version: 'v1',
      kind: 'PersistentVolumeClaim',
      plural: 'persistentvolumeclaims',
      singular: 'persistentvolumeclaim',
      shortNames: ['pvc'],
      namespaced: true,
      subresources: ['status'],
      hasStatus: true,
      table: persistentVolumeClaimTable,
      defaults: defaultPersistentVolumeClaim,
      spec: validatePersistentVolumeClaim,
    }),
    builtinDef({
      group: '',
      version: 'v1',
      kind: 'PersistentVolume',
      plural: 'persistentvolumes',
      singular: 'persistentvolume',
      shortNames: ['pv'],
      namespaced: false,
      subresources: ['status'],
      hasStatus: true,
      table: persistentVolumeTable,
      defaults: defaultPersistentVolume,
      spec: validatePersistentVolume,
    }),
    builtinDef({
      group: 'storage.k8s.io',
      version: 'v1',
      kind: 'StorageClass',
      plural: 'storageclasses',
      singular: 'storageclass',
      shortNames: ['sc'],
      namespaced: false,
      table: storageClassTable,
      defaults: defaultStorageClass,
      spec: validateStorageClass,
    }),
  ];
}

/**
 * apps/v1, batch/v1, policy/v1 and discovery.k8s.io/v1: the workload kinds and what their
 * controllers write, with upstream's discovery facts (short names, `all` category, subresources).
 */
function workloadResources(): ResourceDef[] {
  const hpaV2 = builtinDef({
    group: 'autoscaling',
    version: 'v2',
    namespaced: true,
    kind: 'HorizontalPodAutoscaler',
    table: horizontalPodAutoscalerTable,
    plural: 'horizontalpodautoscalers',
    singular: 'horizontalpodautoscaler',
    shortNames: ['hpa'],
    categories: ['all'],
    subresources: ['status'],
    hasStatus: true,
    defaults: defaultHorizontalPodAutoscaler,
    spec: validateHorizontalPodAutoscaler,
  });
  const apps = { group: 'apps', version: 'v1', namespaced: true } as const;
  const batch = { group: 'batch', version: 'v1', namespaced: true } as const;
  const scalable = { subresources: ['status', 'scale'], hasStatus: true };
  return [
    builtinDef({ ...apps, kind: 'ControllerRevision', plural: 'controllerrevisions', singular: 'controllerrevision', table: controllerRevisionTable, spec: validateControllerRevision }),
    builtinDef({
      ...apps,
      kind: 'DaemonSet',
      plural: 'daemonsets',
      singular: 'daemonset',
      shortNames: ['ds'],
      categories: ['all'],
      subresources: ['status'],
      hasStatus: true,
      table: daemonSetTable,
      defaults: defaultDaemonSet,
      spec: validateDaemonSet,
    }),
    builtinDef({
      ...apps,
      ...scalable,
      kind: 'Deployment',
      plural: 'deployments',
      singular: 'deployment',
      shortNames: ['deploy'],
      categories: ['all'],
      table: deploymentTable,
      defaults: defaultDeployment,
      spec: validateDeployment,
    }),
    builtinDef({
      ...apps,
      ...scalable,
      kind: 'ReplicaSet',
      plural: 'replicasets',
      singular: 'replicaset',
      shortNames: ['rs'],
      categories: ['all'],
      table: replicaSetTable,
      defaults: defaultReplicaSet,
      spec: validateReplicaSet,
    }),
    builtinDef({
      ...apps,
      ...scalable,
      kind: 'StatefulSet',
      plural: 'statefulsets',
      singular: 'statefulset',
      shortNames: ['sts'],
      categories: ['all'],
      table: statefulSetTable,
      defaults: defaultStatefulSet,
      spec: validateStatefulSet,
    }),
    builtinDef({
      ...batch,
      kind: 'CronJob',
      plural: 'cronjobs',
      singular: 'cronjob',
      shortNames: ['cj'],
      categories: ['all'],
      subresources: ['status'],
      hasStatus: true,
      table: cronJobTable,
      defaults: defaultCronJob,
      spec: validateCronJob,
    }),
    builtinDef({
      ...batch,
      kind: 'Job',
      plural: 'jobs',
      singular: 'job',
      categories: ['all'],
      subresources: ['status'],
      hasStatus: true,
      table: jobTable,
      defaults: defaultJob,
      spec: validateJob,
    }),
    // v2 first: the group's preferred version, and the stored one
    hpaV2,
    horizontalPodAutoscalerV1Def(hpaV2),
    builtinDef({
      group: 'policy',
      version: 'v1',
      namespaced: true,
      kind: 'PodDisruptionBudget',
      plural: 'poddisruptionbudgets',
      singular: 'poddisruptionbudget',
      shortNames: ['pdb'],
      subresources: ['status'],
      hasStatus: true,
      table: podDisruptionBudgetTable,
      defaults: defaultPodDisruptionBudget,
      spec: validatePodDisruptionBudget,
    }),
    builtinDef({
      group: 'networking.k8s.io',
      version: 'v1',
      namespaced: true,
      kind: 'NetworkPolicy',
      plural: 'networkpolicies',
      singular: 'networkpolicy',
      shortNames: ['netpol'],
      table: networkPolicyTable,
      defaults: defaultNetworkPolicy,
      spec: validateNetworkPolicy,
    }),
    // served as kube-apiserver serves them; routing traffic is an ingress controller's work (none yet)
    builtinDef({
      group: 'networking.k8s.io',
      version: 'v1',
      namespaced: true,
      kind: 'Ingress',
      plural: 'ingresses',
      singular: 'ingress',
      shortNames: ['ing'],
      subresources: ['status'],
      hasStatus: true,
      table: ingressTable,
      spec: validateIngress,
      update: validateIngressUpdate,
    }),
    builtinDef({
      group: 'networking.k8s.io',
      version: 'v1',
      namespaced: false,
      kind: 'IngressClass',
      plural: 'ingressclasses',
      singular: 'ingressclass',
      table: ingressClassTable,
      defaults: defaultIngressClass,
      spec: validateIngressClass,
      update: validateIngressClassUpdate,
    }),
    // the Multus CRD, served built in: the CNI config of an extra or alternative pod network (agent/network/multus)
    builtinDef({
      group: 'k8s.cni.cncf.io',
      version: 'v1',
      namespaced: true,
      kind: 'NetworkAttachmentDefinition',
      plural: 'network-attachment-definitions',
      singular: 'network-attachment-definition',
      shortNames: ['net-attach-def'],
      spec: validateNetworkAttachmentDefinition,
    }),
    builtinDef({
      group: 'discovery.k8s.io',
      version: 'v1',
      namespaced: true,
      kind: 'EndpointSlice',
      plural: 'endpointslices',
      singular: 'endpointslice',
      table: endpointSliceTable,
      defaults: defaultEndpointSlice,
      spec: validateEndpointSlice,
      // EndpointSlices have no spec; every change is a new generation, as upstream's strategy does
      generationChanged: (a, b) => JSON.stringify({ ...a, metadata: undefined }) !== JSON.stringify({ ...b, metadata: undefined }),
    }),
  ];
}
