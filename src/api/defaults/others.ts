import type { Endpoints, Namespace, Node, Secret, Service } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../object.ts';

/** SetDefaults_Service (cluster IP allocation is the REST layer's job, not a default). */
export function defaultService(obj: KubeObject): void {
  const svc = obj as unknown as Service;
  svc.spec ??= {};
  const spec = svc.spec;
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  for (const p of spec.ports ?? []) {
    p.protocol ??= 'TCP';
    // an unset targetPort means "same as port"; 0 and "" count as unset upstream
    if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') spec.externalTrafficPolicy ??= 'Cluster';
  if (spec.type !== 'ExternalName') spec.internalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
}

/**
 * SetDefaults_Secret, and what upstream's conversion to the internal type does: `stringData` is
 * write-only, merged into `data` (its keys win) and never stored or returned. A value that is not
 * a string stays in `stringData` for validation to refuse.
 */
export function defaultSecret(obj: KubeObject): void {
  const s = obj as unknown as Secret;
  s.type ??= 'Opaque';
  const sd = s.stringData as Record<string, unknown> | undefined;
  if (sd === undefined || sd === null || typeof sd !== 'object') return;
  const left: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(sd)) {
    if (typeof v === 'string') (s.data ??= {})[k] = Buffer.from(v, 'utf8').toString('base64');
    else left[k] = v;
  }
  if (Object.keys(left).length > 0) s.stringData = left as Record<string, string>;
  else delete s.stringData;
}

/** Namespaces carry their own name as a label so selectors can pick them (since 1.21). */
export function defaultNamespace(obj: KubeObject): void {
  const ns = obj as unknown as Namespace;
  if (ns.metadata?.name) {
    ns.metadata.labels ??= {};
    ns.metadata.labels['kubernetes.io/metadata.name'] = ns.metadata.name;
  }
  ns.status ??= {};
  ns.status.phase ??= 'Active';
}

/** SetDefaults_NodeStatus: allocatable starts out equal to capacity. */
export function defaultNode(obj: KubeObject): void {
  const node = obj as unknown as Node;
  if (node.status?.capacity && !node.status.allocatable) node.status.allocatable = { ...node.status.capacity };
}

export function defaultEndpoints(obj: KubeObject): void {
  const ep = obj as unknown as Endpoints;
  for (const s of ep.subsets ?? []) for (const p of s.ports ?? []) p.protocol ??= 'TCP';
}
