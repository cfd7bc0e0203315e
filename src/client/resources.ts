import { HedgeError } from '../lib/errors.ts';
import type { ResourceRef, ResourceTarget } from './types.ts';

const ref = (group: string, version: string, kind: string, plural: string, namespaced: boolean): ResourceRef => ({
  group,
  version,
  kind,
  plural,
  namespaced,
});

/** The resources hedge's controllers and agent use. Keep small: this is on the edge memory budget. */
export const Resources = {
  pods: ref('', 'v1', 'Pod', 'pods', true),
  nodes: ref('', 'v1', 'Node', 'nodes', false),
  namespaces: ref('', 'v1', 'Namespace', 'namespaces', false),
  events: ref('', 'v1', 'Event', 'events', true),
  configmaps: ref('', 'v1', 'ConfigMap', 'configmaps', true),
  secrets: ref('', 'v1', 'Secret', 'secrets', true),
  services: ref('', 'v1', 'Service', 'services', true),
  serviceaccounts: ref('', 'v1', 'ServiceAccount', 'serviceaccounts', true),
  endpoints: ref('', 'v1', 'Endpoints', 'endpoints', true),
  persistentvolumeclaims: ref('', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', true),
  persistentvolumes: ref('', 'v1', 'PersistentVolume', 'persistentvolumes', false),
  resourcequotas: ref('', 'v1', 'ResourceQuota', 'resourcequotas', true),
  limitranges: ref('', 'v1', 'LimitRange', 'limitranges', true),
  leases: ref('coordination.k8s.io', 'v1', 'Lease', 'leases', true),
  runtimeclasses: ref('node.k8s.io', 'v1', 'RuntimeClass', 'runtimeclasses', false),
  storageclasses: ref('storage.k8s.io', 'v1', 'StorageClass', 'storageclasses', false),
  deployments: ref('apps', 'v1', 'Deployment', 'deployments', true),
  replicasets: ref('apps', 'v1', 'ReplicaSet', 'replicasets', true),
  daemonsets: ref('apps', 'v1', 'DaemonSet', 'daemonsets', true),
  statefulsets: ref('apps', 'v1', 'StatefulSet', 'statefulsets', true),
  controllerrevisions: ref('apps', 'v1', 'ControllerRevision', 'controllerrevisions', true),
  jobs: ref('batch', 'v1', 'Job', 'jobs', true),
  cronjobs: ref('batch', 'v1', 'CronJob', 'cronjobs', true),
  poddisruptionbudgets: ref('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true),
  endpointslices: ref('discovery.k8s.io', 'v1', 'EndpointSlice', 'endpointslices', true),
  networkpolicies: ref('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies', true),
  ingresses: ref('networking.k8s.io', 'v1', 'Ingress', 'ingresses', true),
  ingressclasses: ref('networking.k8s.io', 'v1', 'IngressClass', 'ingressclasses', false),
  networkattachmentdefinitions: ref('k8s.cni.cncf.io', 'v1', 'NetworkAttachmentDefinition', 'network-attachment-definitions', true),
} as const satisfies Record<string, ResourceRef>;

const byApiVersionKind = new Map<string, ResourceRef>(
  Object.values(Resources).map((r) => [`${r.group ? `${r.group}/${r.version}` : r.version}/${r.kind}`, r]),
);

export function resolveResource(target: ResourceTarget): ResourceRef {
  if ('plural' in target) return target;
  const found = byApiVersionKind.get(`${target.apiVersion}/${target.kind}`);
  if (!found) {
    throw new HedgeError('NotFound', `no built-in resource for ${target.apiVersion} ${target.kind}; pass a ResourceRef`);
  }
  return found;
}

export function apiVersionOfRef(r: ResourceRef): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** /api/v1/namespaces/ns/pods/name/status and friends. */
export function resourcePath(
  r: ResourceRef,
  opts: { namespace?: string; name?: string; subresource?: string } = {},
): string {
  let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespaced && opts.namespace) p += `/namespaces/${encodeURIComponent(opts.namespace)}`;
  p += `/${r.plural}`;
  if (opts.name !== undefined) p += `/${encodeURIComponent(opts.name)}`;
  if (opts.subresource) p += `/${opts.subresource}`;
  return p;
}
