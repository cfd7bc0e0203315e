import type { Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { Endpoint, EndpointPort, EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { KubeObject } from '../../api/object.ts';
import type { NodeObject, PodObject } from '../common/types.ts';
import { isIP } from 'node:net';
import { isReady } from '../workloads/pods.ts';

export type ServiceObject = Service & KubeObject;
export type EndpointSliceObject = EndpointSlice & KubeObject;

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.k8s.io';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** upstream's max-endpoints-per-slice default */
export const MAX_ENDPOINTS_PER_SLICE = 100;

/** One group of endpoints that share the same resolved ports (named target ports may differ per pod). */
export interface EndpointGroup {
  ports: EndpointPort[];
  /** stable key of `ports` */
  key: string;
  endpoints: Endpoint[];
}

/** The container port a Service port's targetPort names or numbers, for this pod; undefined when a name is not found. */
export function resolveTargetPort(pod: PodObject, sp: ServicePort): number | undefined {
  const tp = sp.targetPort ?? sp.port;
  if (typeof tp === 'number') return tp;
  if (/^\d+$/.test(tp)) return Number(tp);
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === tp && (p.protocol ?? 'TCP') === (sp.protocol ?? 'TCP')) return p.containerPort;
  }
  return undefined;
}

/** Pods that take part: running or pending with an IP, not finished (upstream ShouldPodBeInEndpoints). */
export function podInEndpoints(pod: PodObject): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  return !!pod.status?.podIP;
}

export type AddressType = 'IPv4' | 'IPv6';

/** The pod's address of one family (`status.podIPs`, else `podIP`), as upstream's per-family slices take it. */
export function podAddress(pod: PodObject, family: AddressType): string | undefined {
  const want = family === 'IPv4' ? 4 : 6;
  const ips = [...(pod.status?.podIPs ?? []).map((p) => p.ip), pod.status?.podIP];
  return ips.find((ip): ip is string => typeof ip === 'string' && isIP(ip) === want);
}

/** The address families a Service's slices are kept for: its `spec.ipFamilies` (the allocator fills them), IPv4 when unset. */
export function serviceAddressTypes(svc: ServiceObject): AddressType[] {
  const fams = (svc.spec?.ipFamilies ?? []).filter((f): f is AddressType => f === 'IPv4' || f === 'IPv6');
  return fams.length ? [...new Set(fams)] : ['IPv4'];
}

/**
 * The endpoints of one address family a Service should have (pods without an address of that
 * family are left out), grouped by resolved ports and sorted by pod name:
 * ready = pod Ready and not terminating (or publishNotReadyAddresses), serving = pod Ready,
 * terminating = deletionTimestamp set.
 */
export function desiredGroups(svc: ServiceObject, pods: PodObject[], nodes: (name: string) => NodeObject | undefined, family: AddressType = 'IPv4'): EndpointGroup[] {
  const groups = new Map<string, EndpointGroup>();
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const sorted = [...pods].filter(podInEndpoints).sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  for (const pod of sorted) {
    const address = podAddress(pod, family);
    if (!address) continue;
    const ports: EndpointPort[] = [];
    for (const sp of svc.spec?.ports ?? []) {
      const port = resolveTargetPort(pod, sp);
      if (port === undefined) continue;
      ports.push({ name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP', ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}) });
    }
    const key = JSON.stringify(ports);
    let g = groups.get(key);
    if (!g) {
      g = { ports, key, endpoints: [] };
      groups.set(key, g);
    }
    const terminating = !!pod.metadata.deletionTimestamp;
    const podReady = isReady(pod);
    const nodeName = pod.spec?.nodeName;
    const zone = nodeName ? nodes(nodeName)?.metadata.labels?.[ZONE_LABEL] : undefined;
    const ep: Endpoint = {
      addresses: [address],
      conditions: { ready: publishNotReady || (podReady && !terminating), serving: publishNotReady || podReady, terminating },
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
    };
    if (nodeName) ep.nodeName = nodeName;
    if (zone) {
      ep.zone = zone;
      // topology-aware routing asked for: each endpoint hints its own zone
      const mode = svc.metadata.annotations?.['service.kubernetes.io/topology-mode'] ?? svc.metadata.annotations?.['service.kubernetes.io/topology-aware-hints'];
      if (mode === 'Auto' || mode === 'auto') ep.hints = { forZones: [{ name: zone }] };
    }
    if (svc.spec?.clusterIP === 'None' && pod.spec?.hostname) ep.hostname = pod.spec.hostname;
    g.endpoints.push(ep);
  }
  // a Service whose pods resolve no port at all still gets one (empty) slice, as upstream
  if (groups.size === 0) groups.set('[]', { ports: [], key: '[]', endpoints: [] });
  return [...groups.values()];
}

/** Split groups into slice bodies of at most `max` endpoints each. */
export function chunkGroups(groups: EndpointGroup[], max = MAX_ENDPOINTS_PER_SLICE): { key: string; ports: EndpointPort[]; endpoints: Endpoint[] }[] {
  const out: { key: string; ports: EndpointPort[]; endpoints: Endpoint[] }[] = [];
  for (const g of groups) {
    if (g.endpoints.length === 0) out.push({ key: g.key, ports: g.ports, endpoints: [] });
    for (let i = 0; i < g.endpoints.length; i += max) out.push({ key: g.key, ports: g.ports, endpoints: g.endpoints.slice(i, i + max) });
  }
  return out;
}

/** The legacy Endpoints object's subsets for the same groups (ready vs notReady addresses). */
export function endpointsSubsets(groups: EndpointGroup[]): unknown[] {
  const subsets: unknown[] = [];
  for (const g of groups) {
    if (g.endpoints.length === 0 || g.ports.length === 0) continue;
    const addr = (e: Endpoint): Record<string, unknown> => ({ ip: e.addresses[0], ...(e.nodeName ? { nodeName: e.nodeName } : {}), ...(e.hostname ? { hostname: e.hostname } : {}), targetRef: e.targetRef });
    const ready = g.endpoints.filter((e) => e.conditions?.ready).map(addr);
    const notReady = g.endpoints.filter((e) => !e.conditions?.ready && !e.conditions?.terminating).map(addr);
    if (ready.length === 0 && notReady.length === 0) continue;
    subsets.push({
      ...(ready.length ? { addresses: ready } : {}),
      ...(notReady.length ? { notReadyAddresses: notReady } : {}),
      ports: g.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, protocol: p.protocol })),
    });
  }
  return subsets;
}
