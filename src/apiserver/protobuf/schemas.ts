/**
 * Field numbers of the few types kubectl sends as protobuf (`kubectl create namespace|configmap|
 * secret|serviceaccount`), from k8s.io/api and k8s.io/apimachinery generated.proto.
 */
export type FieldType =
  | { t: 'string' }
  | { t: 'bytes' }
  | { t: 'int64' }
  | { t: 'int32' }
  | { t: 'bool' }
  | { t: 'time' }
  | { t: 'message'; schema: string }
  | { t: 'map'; value: 'string' | 'bytes' };

export interface FieldSpec {
  name: string;
  type: FieldType;
  repeated?: boolean;
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
};
