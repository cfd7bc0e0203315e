/**
 * Field numbers of the few types kubectl sends as protobuf (`kubectl create namespace|configmap|
 * secret|serviceaccount|...`, `kubectl autoscale`), from k8s.io/api and k8s.io/apimachinery generated.proto.
 */
export type FieldType =
  | { t: 'string' }
  | { t: 'bytes' }
  | { t: 'int64' }
  | { t: 'int32' }
  | { t: 'bool' }
  | { t: 'time' }
  | { t: 'intstr' }
  | { t: 'message'; schema: string }
  | { t: 'map'; value: 'string' | 'bytes' | 'quantity' };

export interface FieldSpec {
  name: string;
  type: FieldType;
  repeated?: boolean;
  /** a Go non-pointer field with omitempty: gogo writes its zero value, JSON would leave it out */
  omitZero?: boolean;
  /** an embedded Go struct with `json:",inline"`: its fields belong to the enclosing object in JSON */
  inline?: boolean;
}

export type Schema = Record<number, FieldSpec>;

const s = (name: string): FieldSpec => ({ name, type: { t: 'string' } });
const msg = (name: string, schema: string, repeated = false): FieldSpec => ({ name, type: { t: 'message', schema }, repeated });

export const schemas: Record<string, Schema> = {
  TypeMeta: { 1: s('apiVersion'), 2: s('kind') },
  Unknown: { 1: msg('typeMeta', 'TypeMeta'), 2: { name: 'raw', type: { t: 'bytes' } }, 3: s('contentEncoding'), 4: s('contentType') },
  ObjectMeta: {
    1: s('name'),
    2: s('generateName'),
    3: s('namespace'),
    4: s('selfLink'),
    5: s('uid'),
    6: s('resourceVersion'),
    7: { name: 'generation', type: { t: 'int64' } },
    8: { name: 'creationTimestamp', type: { t: 'time' } },
    9: { name: 'deletionTimestamp', type: { t: 'time' } },
    10: { name: 'deletionGracePeriodSeconds', type: { t: 'int64' } },
    11: { name: 'labels', type: { t: 'map', value: 'string' } },
    12: { name: 'annotations', type: { t: 'map', value: 'string' } },
    13: msg('ownerReferences', 'OwnerReference', true),
    14: { name: 'finalizers', type: { t: 'string' }, repeated: true },
  },
  OwnerReference: {
    1: s('kind'),
    3: s('name'),
    4: s('uid'),
    5: s('apiVersion'),
    6: { name: 'controller', type: { t: 'bool' } },
    7: { name: 'blockOwnerDeletion', type: { t: 'bool' } },
  },
  ObjectReference: { 1: s('kind'), 2: s('namespace'), 3: s('name'), 4: s('uid'), 5: s('apiVersion'), 6: s('resourceVersion'), 7: s('fieldPath') },
  LocalObjectReference: { 1: s('name') },
  Namespace: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'NamespaceSpec'), 3: msg('status', 'NamespaceStatus') },
  NamespaceSpec: { 1: { name: 'finalizers', type: { t: 'string' }, repeated: true } },
  NamespaceStatus: { 1: s('phase') },
  ConfigMap: {
    1: msg('metadata', 'ObjectMeta'),
    2: { name: 'data', type: { t: 'map', value: 'string' } },
    3: { name: 'binaryData', type: { t: 'map', value: 'bytes' } },
    4: { name: 'immutable', type: { t: 'bool' } },
  },
  Secret: {
    1: msg('metadata', 'ObjectMeta'),
    2: { name: 'data', type: { t: 'map', value: 'bytes' } },
    3: s('type'),
    4: { name: 'stringData', type: { t: 'map', value: 'string' } },
    5: { name: 'immutable', type: { t: 'bool' } },
  },
  DeleteOptions: {
    1: { name: 'gracePeriodSeconds', type: { t: 'int64' } },
    2: msg('preconditions', 'Preconditions'),
    3: { name: 'orphanDependents', type: { t: 'bool' } },
    4: s('propagationPolicy'),
    5: { name: 'dryRun', type: { t: 'string' }, repeated: true },
  },
  Preconditions: { 1: s('uid'), 2: s('resourceVersion') },
  ServiceAccount: {
    1: msg('metadata', 'ObjectMeta'),
    2: msg('secrets', 'ObjectReference', true),
    3: msg('imagePullSecrets', 'LocalObjectReference', true),
    4: { name: 'automountServiceAccountToken', type: { t: 'bool' } },
  },
  // authorization.k8s.io/v1 and authentication.k8s.io/v1: kubectl auth can-i|whoami, kubectl create token
  SelfSubjectAccessReview: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'SelfSubjectAccessReviewSpec') },
  SelfSubjectAccessReviewSpec: { 1: msg('resourceAttributes', 'ResourceAttributes'), 2: msg('nonResourceAttributes', 'NonResourceAttributes') },
  ResourceAttributes: { 1: s('namespace'), 2: s('verb'), 3: s('group'), 4: s('version'), 5: s('resource'), 6: s('subresource'), 7: s('name') },
  NonResourceAttributes: { 1: s('path'), 2: s('verb') },
  SelfSubjectReview: { 1: msg('metadata', 'ObjectMeta') },
  TokenRequest: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'TokenRequestSpec') },
  TokenRequestSpec: {
    1: { name: 'audiences', type: { t: 'string' }, repeated: true },
    3: msg('boundObjectRef', 'BoundObjectReference'),
    4: { name: 'expirationSeconds', type: { t: 'int64' } },
  },
  BoundObjectReference: { 1: s('kind'), 2: s('apiVersion'), 3: s('name'), 4: s('uid') },
  // kubectl auth can-i --list; SubjectAccessReview from other tools
  SelfSubjectRulesReview: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'SelfSubjectRulesReviewSpec') },
  SelfSubjectRulesReviewSpec: { 1: s('namespace') },
  SubjectAccessReview: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'SubjectAccessReviewSpec') },
  SubjectAccessReviewSpec: {
    1: msg('resourceAttributes', 'ResourceAttributes'),
    2: msg('nonResourceAttributes', 'NonResourceAttributes'),
    3: s('user'),
    4: { name: 'groups', type: { t: 'string' }, repeated: true },
    6: s('uid'),
  },
  // rbac.authorization.k8s.io/v1: kubectl create role|clusterrole|rolebinding|clusterrolebinding
  PolicyRule: {
    1: { name: 'verbs', type: { t: 'string' }, repeated: true },
    2: { name: 'apiGroups', type: { t: 'string' }, repeated: true },
    3: { name: 'resources', type: { t: 'string' }, repeated: true },
    4: { name: 'resourceNames', type: { t: 'string' }, repeated: true },
    5: { name: 'nonResourceURLs', type: { t: 'string' }, repeated: true },
  },
  LabelSelector: { 1: { name: 'matchLabels', type: { t: 'map', value: 'string' } }, 2: msg('matchExpressions', 'LabelSelectorRequirement', true) },
  LabelSelectorRequirement: { 1: s('key'), 2: s('operator'), 3: { name: 'values', type: { t: 'string' }, repeated: true } },
  AggregationRule: { 1: msg('clusterRoleSelectors', 'LabelSelector', true) },
  Role: { 1: msg('metadata', 'ObjectMeta'), 2: msg('rules', 'PolicyRule', true) },
  ClusterRole: { 1: msg('metadata', 'ObjectMeta'), 2: msg('rules', 'PolicyRule', true), 3: msg('aggregationRule', 'AggregationRule') },
  RoleRef: { 1: s('apiGroup'), 2: s('kind'), 3: s('name') },
  Subject: { 1: s('kind'), 2: s('apiGroup'), 3: s('name'), 4: s('namespace') },
  RoleBinding: { 1: msg('metadata', 'ObjectMeta'), 2: msg('subjects', 'Subject', true), 3: msg('roleRef', 'RoleRef') },
  ClusterRoleBinding: { 1: msg('metadata', 'ObjectMeta'), 2: msg('subjects', 'Subject', true), 3: msg('roleRef', 'RoleRef') },

  // the workload kinds `kubectl create deployment|job|cronjob|poddisruptionbudget` send: their specs
  // and the pod template fields those generators (and `create job --from=cronjob`) fill in.
  // Status (3) is left out on purpose: it is not writable on create.
  PodTemplateSpec: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'PodSpec') },
  PodSpec: {
    2: msg('containers', 'Container', true),
    3: s('restartPolicy'),
    4: { name: 'terminationGracePeriodSeconds', type: { t: 'int64' } },
    5: { name: 'activeDeadlineSeconds', type: { t: 'int64' } },
    6: s('dnsPolicy'),
    7: { name: 'nodeSelector', type: { t: 'map', value: 'string' } },
    8: s('serviceAccountName'),
    9: s('serviceAccount'),
    10: s('nodeName'),
    11: { name: 'hostNetwork', type: { t: 'bool' }, omitZero: true },
    15: msg('imagePullSecrets', 'LocalObjectReference', true),
    16: s('hostname'),
    17: s('subdomain'),
    19: s('schedulerName'),
    20: msg('initContainers', 'Container', true),
    24: s('priorityClassName'),
    29: s('runtimeClassName'),
  },
  Container: {
    1: s('name'),
    2: s('image'),
    3: { name: 'command', type: { t: 'string' }, repeated: true },
    4: { name: 'args', type: { t: 'string' }, repeated: true },
    5: s('workingDir'),
    6: msg('ports', 'ContainerPort', true),
    7: msg('env', 'EnvVar', true),
    8: msg('resources', 'Empty'),
    13: s('terminationMessagePath'),
    14: s('imagePullPolicy'),
    20: s('terminationMessagePolicy'),
  },
  Empty: {},
  Quantity: { 1: s('string') },
  ContainerPort: { 1: s('name'), 2: { name: 'hostPort', type: { t: 'int32' }, omitZero: true }, 3: { name: 'containerPort', type: { t: 'int32' } }, 4: s('protocol'), 5: s('hostIP') },
  EnvVar: { 1: s('name'), 2: s('value') },
  Deployment: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'DeploymentSpec') },
  DeploymentSpec: {
    1: { name: 'replicas', type: { t: 'int32' } },
    2: msg('selector', 'LabelSelector'),
    3: msg('template', 'PodTemplateSpec'),
    4: msg('strategy', 'DeploymentStrategy'),
    5: { name: 'minReadySeconds', type: { t: 'int32' }, omitZero: true },
    6: { name: 'revisionHistoryLimit', type: { t: 'int32' } },
    7: { name: 'paused', type: { t: 'bool' }, omitZero: true },
    9: { name: 'progressDeadlineSeconds', type: { t: 'int32' } },
  },
  DeploymentStrategy: { 1: s('type'), 2: msg('rollingUpdate', 'RollingUpdateDeployment') },
  RollingUpdateDeployment: { 1: { name: 'maxUnavailable', type: { t: 'intstr' } }, 2: { name: 'maxSurge', type: { t: 'intstr' } } },
  Job: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'JobSpec') },
  JobSpec: {
    1: { name: 'parallelism', type: { t: 'int32' } },
    2: { name: 'completions', type: { t: 'int32' } },
    3: { name: 'activeDeadlineSeconds', type: { t: 'int64' } },
    4: msg('selector', 'LabelSelector'),
    5: { name: 'manualSelector', type: { t: 'bool' } },
    6: msg('template', 'PodTemplateSpec'),
    7: { name: 'backoffLimit', type: { t: 'int32' } },
    8: { name: 'ttlSecondsAfterFinished', type: { t: 'int32' } },
    9: s('completionMode'),
    10: { name: 'suspend', type: { t: 'bool' } },
  },
  CronJob: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'CronJobSpec') },
  CronJobSpec: {
    1: s('schedule'),
    2: { name: 'startingDeadlineSeconds', type: { t: 'int64' } },
    3: s('concurrencyPolicy'),
    4: { name: 'suspend', type: { t: 'bool' } },
    5: msg('jobTemplate', 'JobTemplateSpec'),
    6: { name: 'successfulJobsHistoryLimit', type: { t: 'int32' } },
    7: { name: 'failedJobsHistoryLimit', type: { t: 'int32' } },
    8: s('timeZone'),
  },
  JobTemplateSpec: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'JobSpec') },
  PodDisruptionBudget: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'PodDisruptionBudgetSpec') },
  // `kubectl create quota --hard=... --scopes=...`
  ResourceQuota: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'ResourceQuotaSpec') },
  ResourceQuotaSpec: {
    1: { name: 'hard', type: { t: 'map', value: 'quantity' } },
    2: { name: 'scopes', type: { t: 'string' }, repeated: true },
    3: msg('scopeSelector', 'ScopeSelector'),
  },
  ScopeSelector: { 1: msg('matchExpressions', 'ScopedResourceSelectorRequirement', true) },
  ScopedResourceSelectorRequirement: { 1: s('scopeName'), 2: s('operator'), 3: { name: 'values', type: { t: 'string' }, repeated: true } },
  PodDisruptionBudgetSpec: {
    1: { name: 'minAvailable', type: { t: 'intstr' } },
    2: msg('selector', 'LabelSelector'),
    3: { name: 'maxUnavailable', type: { t: 'intstr' } },
    4: s('unhealthyPodEvictionPolicy'),
  },
  // `kubectl create priorityclass` (k8s.io/api/scheduling/v1 generated.proto)
  PriorityClass: {
    1: msg('metadata', 'ObjectMeta'),
    2: { name: 'value', type: { t: 'int32' } },
    3: { name: 'globalDefault', type: { t: 'bool' }, omitZero: true },
    4: s('description'),
    5: s('preemptionPolicy'),
  },
  // `kubectl create ingress` (k8s.io/api/networking/v1 generated.proto)
  Ingress: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'IngressSpec'), 3: msg('status', 'IngressStatus') },
  IngressSpec: { 1: msg('defaultBackend', 'IngressBackend'), 2: msg('tls', 'IngressTLS', true), 3: msg('rules', 'IngressRule', true), 4: s('ingressClassName') },
  IngressBackend: { 3: msg('resource', 'TypedLocalObjectReference'), 4: msg('service', 'IngressServiceBackend') },
  TypedLocalObjectReference: { 1: s('apiGroup'), 2: s('kind'), 3: s('name') },
  IngressServiceBackend: { 1: s('name'), 2: msg('port', 'ServiceBackendPort') },
  ServiceBackendPort: { 1: s('name'), 2: { name: 'number', type: { t: 'int32' }, omitZero: true } },
  IngressTLS: { 1: { name: 'hosts', type: { t: 'string' }, repeated: true }, 2: s('secretName') },
  IngressRule: { 1: s('host'), 2: { ...msg('ingressRuleValue', 'IngressRuleValue'), inline: true } },
  IngressRuleValue: { 1: msg('http', 'HTTPIngressRuleValue') },
  HTTPIngressRuleValue: { 1: msg('paths', 'HTTPIngressPath', true) },
  HTTPIngressPath: { 1: s('path'), 2: msg('backend', 'IngressBackend'), 3: s('pathType') },
  IngressStatus: { 1: msg('loadBalancer', 'IngressLoadBalancerStatus') },
  IngressLoadBalancerStatus: { 1: msg('ingress', 'IngressLoadBalancerIngress', true) },
  IngressLoadBalancerIngress: { 1: s('ip'), 2: s('hostname'), 4: msg('ports', 'IngressPortStatus', true) },
  IngressPortStatus: { 1: { name: 'port', type: { t: 'int32' } }, 2: s('protocol'), 3: s('error') },
  // `kubectl create service clusterip|nodeport|loadbalancer|externalname`, `kubectl expose` (k8s.io/api/core/v1 generated.proto)
  Service: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'ServiceSpec'), 3: msg('status', 'ServiceStatus') },
  ServiceSpec: {
    1: msg('ports', 'ServicePort', true),
    2: { name: 'selector', type: { t: 'map', value: 'string' } },
    3: s('clusterIP'),
    4: s('type'),
    5: { name: 'externalIPs', type: { t: 'string' }, repeated: true },
    7: s('sessionAffinity'),
    8: s('loadBalancerIP'),
    9: { name: 'loadBalancerSourceRanges', type: { t: 'string' }, repeated: true },
    10: s('externalName'),
    11: s('externalTrafficPolicy'),
    12: { name: 'healthCheckNodePort', type: { t: 'int32' }, omitZero: true },
    13: { name: 'publishNotReadyAddresses', type: { t: 'bool' }, omitZero: true },
  },
  ServicePort: {
    1: s('name'),
    2: s('protocol'),
    3: { name: 'port', type: { t: 'int32' } },
    4: { name: 'targetPort', type: { t: 'intstr' } },
    5: { name: 'nodePort', type: { t: 'int32' }, omitZero: true },
    6: s('appProtocol'),
  },
  // what the server sets; a client's is dropped on create
  ServiceStatus: {},
  // `kubectl autoscale` (k8s.io/api/autoscaling/v1 generated.proto)
  HorizontalPodAutoscaler: { 1: msg('metadata', 'ObjectMeta'), 2: msg('spec', 'HorizontalPodAutoscalerSpec'), 3: msg('status', 'HorizontalPodAutoscalerStatus') },
  HorizontalPodAutoscalerSpec: {
    1: msg('scaleTargetRef', 'CrossVersionObjectReference'),
    2: { name: 'minReplicas', type: { t: 'int32' } },
    3: { name: 'maxReplicas', type: { t: 'int32' } },
    4: { name: 'targetCPUUtilizationPercentage', type: { t: 'int32' } },
  },
  CrossVersionObjectReference: { 1: s('kind'), 2: s('name'), 3: s('apiVersion') },
  HorizontalPodAutoscalerStatus: {
    1: { name: 'observedGeneration', type: { t: 'int64' } },
    2: { name: 'lastScaleTime', type: { t: 'time' } },
    3: { name: 'currentReplicas', type: { t: 'int32' } },
    4: { name: 'desiredReplicas', type: { t: 'int32' } },
    5: { name: 'currentCPUUtilizationPercentage', type: { t: 'int32' } },
  },
};

/** apiVersion/kind → schema name for the object types we accept as protobuf */
export const protobufKinds: Record<string, string> = {
  'v1/Namespace': 'Namespace',
  'v1/ConfigMap': 'ConfigMap',
  'v1/Secret': 'Secret',
  'v1/ServiceAccount': 'ServiceAccount',
  'v1/DeleteOptions': 'DeleteOptions',
  'meta.k8s.io/v1/DeleteOptions': 'DeleteOptions',
  'authorization.k8s.io/v1/SelfSubjectAccessReview': 'SelfSubjectAccessReview',
  'authentication.k8s.io/v1/SelfSubjectReview': 'SelfSubjectReview',
  'authentication.k8s.io/v1/TokenRequest': 'TokenRequest',
  'authorization.k8s.io/v1/SelfSubjectRulesReview': 'SelfSubjectRulesReview',
  'authorization.k8s.io/v1/SubjectAccessReview': 'SubjectAccessReview',
  'authorization.k8s.io/v1/LocalSubjectAccessReview': 'SubjectAccessReview',
  'rbac.authorization.k8s.io/v1/Role': 'Role',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'ClusterRole',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'ClusterRoleBinding',
  'apps/v1/Deployment': 'Deployment',
  'batch/v1/Job': 'Job',
  'batch/v1/CronJob': 'CronJob',
  'policy/v1/PodDisruptionBudget': 'PodDisruptionBudget',
  'v1/ResourceQuota': 'ResourceQuota',
  'v1/Service': 'Service',
  'scheduling.k8s.io/v1/PriorityClass': 'PriorityClass',
  'networking.k8s.io/v1/Ingress': 'Ingress',
  'autoscaling/v1/HorizontalPodAutoscaler': 'HorizontalPodAutoscaler',
};
