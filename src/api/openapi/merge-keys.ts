/**
 * Patch metadata that upstream carries in Go struct tags and `+listType` markers, which the
 * kubernetes-types .d.ts files lose. Transcribed from k8s.io/api v1.30 types.go
 * (`patchStrategy:"merge" patchMergeKey:"name"`, `+listType=map`, `+listMapKey=...`).
 * The generator copies these into definitions.json as the x-kubernetes-* extensions, and
 * strategic merge patch can read them from here directly.
 */
export type PatchStrategy = 'merge' | 'retainKeys' | 'merge,retainKeys';
export type ListType = 'atomic' | 'set' | 'map';

export interface FieldPatchMeta {
  strategy?: PatchStrategy;
  /** absent with strategy 'merge' means a list of primitives merged as a set */
  mergeKey?: string;
  listType?: ListType;
  listMapKeys?: string[];
}

const CORE = 'io.k8s.api.core.v1';
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const APPS = 'io.k8s.api.apps.v1';

const byName = (key: string): FieldPatchMeta => ({ strategy: 'merge', mergeKey: key, listType: 'map', listMapKeys: [key] });
const conditions: FieldPatchMeta = byName('type');
const atomic: FieldPatchMeta = { listType: 'atomic' };
const primitiveSet: FieldPatchMeta = { strategy: 'merge', listType: 'set' };

const containerLists: Record<string, FieldPatchMeta> = {
  args: atomic,
  command: atomic,
  env: byName('name'),
  envFrom: atomic,
  ports: { strategy: 'merge', mergeKey: 'containerPort', listType: 'map', listMapKeys: ['containerPort', 'protocol'] },
  resizePolicy: atomic,
  volumeDevices: byName('devicePath'),
  volumeMounts: byName('mountPath'),
};

export const PATCH_META: Readonly<Record<string, Readonly<Record<string, FieldPatchMeta>>>> = {
  [`${META}.ObjectMeta`]: {
    finalizers: primitiveSet,
    managedFields: atomic,
    ownerReferences: byName('uid'),
  },
  [`${META}.LabelSelector`]: { matchExpressions: atomic },
  [`${META}.LabelSelectorRequirement`]: { values: atomic },
  [`${META}.APIResource`]: { categories: atomic, shortNames: atomic, verbs: atomic },

  [`${CORE}.PodSpec`]: {
    containers: byName('name'),
    ephemeralContainers: byName('name'),
    hostAliases: byName('ip'),
    imagePullSecrets: byName('name'),
    initContainers: byName('name'),
    readinessGates: atomic,
    resourceClaims: { strategy: 'merge,retainKeys', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    schedulingGates: byName('name'),
    // tolerations carry no patch strategy upstream: a strategic patch replaces the whole list
    tolerations: atomic,
    topologySpreadConstraints: {
      strategy: 'merge',
      mergeKey: 'topologyKey',
      listType: 'map',
      listMapKeys: ['topologyKey', 'whenUnsatisfiable'],
    },
    volumes: { strategy: 'merge,retainKeys', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
  },
  [`${CORE}.Container`]: containerLists,
  [`${CORE}.EphemeralContainer`]: containerLists,
  [`${CORE}.PodStatus`]: {
    conditions,
    containerStatuses: atomic,
    ephemeralContainerStatuses: atomic,
    hostIPs: byName('ip'),
    initContainerStatuses: atomic,
    podIPs: byName('ip'),
    resourceClaimStatuses: { strategy: 'merge,retainKeys', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
  },
  [`${CORE}.HostAlias`]: { hostnames: atomic },
  [`${CORE}.PodSecurityContext`]: { supplementalGroups: atomic, sysctls: atomic },
  [`${CORE}.Capabilities`]: { add: atomic, drop: atomic },
  [`${CORE}.PodDNSConfig`]: { nameservers: atomic, options: atomic, searches: atomic },
  [`${CORE}.ResourceRequirements`]: { claims: { listType: 'map', listMapKeys: ['name'] } },
  [`${CORE}.VolumeResourceRequirements`]: {},
  [`${CORE}.Affinity`]: {},
  [`${CORE}.NodeSelector`]: { nodeSelectorTerms: atomic },
  [`${CORE}.NodeSelectorTerm`]: { matchExpressions: atomic, matchFields: atomic },
  [`${CORE}.NodeSelectorRequirement`]: { values: atomic },
  [`${CORE}.NodeAffinity`]: { preferredDuringSchedulingIgnoredDuringExecution: atomic },
  [`${CORE}.PodAffinity`]: {
    preferredDuringSchedulingIgnoredDuringExecution: atomic,
    requiredDuringSchedulingIgnoredDuringExecution: atomic,
  },
  [`${CORE}.PodAntiAffinity`]: {
    preferredDuringSchedulingIgnoredDuringExecution: atomic,
    requiredDuringSchedulingIgnoredDuringExecution: atomic,
  },
  [`${CORE}.PodAffinityTerm`]: { matchLabelKeys: atomic, mismatchLabelKeys: atomic, namespaces: atomic },
  [`${CORE}.TopologySpreadConstraint`]: { matchLabelKeys: atomic },
  [`${CORE}.ExecAction`]: { command: atomic },
  [`${CORE}.HTTPGetAction`]: { httpHeaders: atomic },
  [`${CORE}.ConfigMapVolumeSource`]: { items: atomic },
  [`${CORE}.SecretVolumeSource`]: { items: atomic },
  [`${CORE}.ConfigMapProjection`]: { items: atomic },
  [`${CORE}.SecretProjection`]: { items: atomic },
  [`${CORE}.DownwardAPIVolumeSource`]: { items: atomic },
  [`${CORE}.DownwardAPIProjection`]: { items: atomic },
  [`${CORE}.ProjectedVolumeSource`]: { sources: atomic },
  [`${CORE}.PersistentVolumeClaimSpec`]: { accessModes: atomic },
  [`${CORE}.PersistentVolumeClaimStatus`]: {
    accessModes: atomic,
    conditions,
  },
  [`${CORE}.PersistentVolumeSpec`]: { accessModes: atomic, mountOptions: atomic },
  [`${CORE}.ServiceSpec`]: {
    clusterIPs: atomic,
    externalIPs: atomic,
    ipFamilies: atomic,
    loadBalancerSourceRanges: atomic,
    ports: { strategy: 'merge', mergeKey: 'port', listType: 'map', listMapKeys: ['port', 'protocol'] },
  },
  [`${CORE}.ServiceStatus`]: { conditions },
  [`${CORE}.LoadBalancerStatus`]: { ingress: atomic },
  [`${CORE}.LoadBalancerIngress`]: { ports: atomic },
  [`${CORE}.ServiceAccount`]: {
    imagePullSecrets: atomic,
    secrets: { strategy: 'merge', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
  },
  [`${CORE}.NodeSpec`]: { podCIDRs: primitiveSet, taints: atomic },
  [`${CORE}.NodeStatus`]: {
    addresses: conditions,
    conditions,
    images: atomic,
    volumesAttached: atomic,
    volumesInUse: atomic,
  },
  [`${CORE}.ContainerImage`]: { names: atomic },
  [`${CORE}.NamespaceSpec`]: { finalizers: atomic },
  [`${CORE}.NamespaceStatus`]: { conditions },
  [`${CORE}.ReplicationControllerStatus`]: { conditions },
  [`${CORE}.ComponentStatus`]: { conditions },
  [`${CORE}.Endpoints`]: { subsets: atomic },
  [`${CORE}.EndpointSubset`]: { addresses: atomic, notReadyAddresses: atomic, ports: atomic },
  [`${CORE}.LimitRangeSpec`]: { limits: atomic },
  [`${CORE}.ResourceQuotaSpec`]: { scopes: atomic },
  [`${CORE}.ScopeSelector`]: { matchExpressions: atomic },
  [`${CORE}.ScopedResourceSelectorRequirement`]: { values: atomic },
  [`${CORE}.TopologySelectorTerm`]: { matchLabelExpressions: atomic },
  [`${CORE}.TopologySelectorLabelRequirement`]: { values: atomic },

  [`${APPS}.DeploymentStatus`]: { conditions },
  [`${APPS}.ReplicaSetStatus`]: { conditions },
  [`${APPS}.StatefulSetStatus`]: { conditions },
  [`${APPS}.DaemonSetStatus`]: { conditions },
  [`${APPS}.StatefulSetSpec`]: { volumeClaimTemplates: atomic },

  // Job conditions merge by type in a strategic patch, but are atomic for server-side apply
  'io.k8s.api.batch.v1.JobStatus': { conditions: { strategy: 'merge', mergeKey: 'type', listType: 'atomic' } },
  'io.k8s.api.batch.v1.CronJobStatus': { active: atomic },
  'io.k8s.api.batch.v1.PodFailurePolicy': { rules: atomic },
  'io.k8s.api.batch.v1.PodFailurePolicyRule': { onPodConditions: atomic },
  'io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement': { values: primitiveSet },
  'io.k8s.api.batch.v1.SuccessPolicy': { rules: atomic },

  'io.k8s.api.policy.v1.PodDisruptionBudgetStatus': { conditions },
  'io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus': { conditions, currentMetrics: atomic },
  'io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec': { metrics: atomic },

  'io.k8s.api.networking.v1.IngressSpec': { rules: atomic, tls: atomic },
  'io.k8s.api.networking.v1.IngressTLS': { hosts: atomic },
  'io.k8s.api.networking.v1.HTTPIngressRuleValue': { paths: atomic },
  'io.k8s.api.networking.v1.NetworkPolicySpec': { egress: atomic, ingress: atomic, policyTypes: atomic },
  'io.k8s.api.networking.v1.NetworkPolicyIngressRule': { from: atomic, ports: atomic },
  'io.k8s.api.networking.v1.NetworkPolicyEgressRule': { ports: atomic, to: atomic },
  'io.k8s.api.networking.v1.IPBlock': { except: atomic },

  'io.k8s.api.discovery.v1.EndpointSlice': { endpoints: atomic, ports: atomic },
  'io.k8s.api.discovery.v1.Endpoint': { addresses: primitiveSet },
  'io.k8s.api.discovery.v1.EndpointHints': { forZones: atomic },

  'io.k8s.api.rbac.v1.ClusterRole': { rules: atomic },
  'io.k8s.api.rbac.v1.Role': { rules: atomic },
  'io.k8s.api.rbac.v1.ClusterRoleBinding': { subjects: atomic },
  'io.k8s.api.rbac.v1.RoleBinding': { subjects: atomic },
  'io.k8s.api.rbac.v1.PolicyRule': {
    apiGroups: atomic,
    nonResourceURLs: atomic,
    resourceNames: atomic,
    resources: atomic,
    verbs: atomic,
  },
  'io.k8s.api.rbac.v1.AggregationRule': { clusterRoleSelectors: atomic },

  'io.k8s.api.storage.v1.StorageClass': { allowedTopologies: atomic, mountOptions: atomic },
  'io.k8s.api.storage.v1.CSIDriverSpec': { tokenRequests: atomic, volumeLifecycleModes: primitiveSet },
  'io.k8s.api.storage.v1.CSINodeSpec': { drivers: byName('name') },
  'io.k8s.api.storage.v1.CSINodeDriver': { topologyKeys: atomic },
};

/**
 * Structs marked `+structType=atomic` upstream (x-kubernetes-map-type: atomic): server-side
 * apply treats them as one value.
 */
export const ATOMIC_STRUCTS: ReadonlySet<string> = new Set([
  `${META}.LabelSelector`,
  `${CORE}.ConfigMapKeySelector`,
  `${CORE}.LocalObjectReference`,
  `${CORE}.NodeSelector`,
  `${CORE}.NodeSelectorTerm`,
  `${CORE}.ObjectFieldSelector`,
  `${CORE}.ObjectReference`,
  `${CORE}.ResourceFieldSelector`,
  `${CORE}.ScopeSelector`,
  `${CORE}.SecretKeySelector`,
  `${CORE}.SecretReference`,
  `${CORE}.TopologySelectorTerm`,
  `${CORE}.TypedLocalObjectReference`,
]);
