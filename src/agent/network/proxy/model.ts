import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { isIP } from 'node:net';
import type { KubeObject } from '../../../api/object.ts';
import { parseIp } from '../../../lib/cidr.ts';

export type ServiceObject = Service & KubeObject;
export type EndpointSliceObject = EndpointSlice & KubeObject;

export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface ProxyEndpoint {
  ip: string;
  port: number;
}

/** One Service port as the proxy programs it. */
export interface ProxyServicePort {
  /** `<ns>/<name>/<proto>/<port name or number>`: also the chain name suffix */
  id: string;
  clusterIP: string;
  protocol: Protocol;
  port: number;
  nodePort?: number;
  /** ClientIP affinity timeout in seconds, when asked for */
  affinitySeconds?: number;
  /** what ClusterIP traffic goes to (already filtered by readiness and traffic policy) */
  endpoints: ProxyEndpoint[];
  /**
   * `externalTrafficPolicy: Local` on a NodePort: NodePort traffic goes only to `localEndpoints`
   * (this node's usable ones; none: dropped) and is not masqueraded, so the client's source IP
   * reaches the pod.
   */
  externalLocal?: { localEndpoints: ProxyEndpoint[] };
}

export interface ModelOptions {
  nodeName: string;
  /** the zone of this node (topology hints), if labelled */
  zone?: string;
  /** the address family to program: a Service's ClusterIP of it and its slices of that addressType (default IPv4) */
  family?: 'IPv4' | 'IPv6';
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

interface Candidate extends ProxyEndpoint {
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  local: boolean;
  forZones?: string[];
}

/**
 * Services + EndpointSlices → the ports to program. Per kube-proxy: ready endpoints, or when none
 * are ready the serving-and-terminating ones; `internalTrafficPolicy: Local` keeps this node's
 * only (ClusterIP traffic); `externalTrafficPolicy: Local` sends NodePort traffic to this node's
 * only, unmasqueraded; `trafficDistribution: PreferClose` (or the topology annotation) prefers this node's own
 * endpoints, then hints for this node's zone, falling back to all.
 */
export function buildModel(services: ServiceObject[], slices: EndpointSliceObject[], opts: ModelOptions): ProxyServicePort[] {
  const family = opts.family ?? 'IPv4';
  const ipVersion = family === 'IPv4' ? 4 : 6;
  const byService = new Map<string, EndpointSliceObject[]>();
  for (const s of slices) {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc || (s.addressType ?? 'IPv4') !== family) continue;
    const key = `${s.metadata.namespace ?? ''}/${svc}`;
    const list = byService.get(key) ?? [];
    list.push(s);
    byService.set(key, list);
  }
  const out: ProxyServicePort[] = [];
  const nameOf = (s: ServiceObject): string => `${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`;
  const sorted = [...services].sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0));
  for (const svc of sorted) {
    const spec = svc.spec ?? {};
    if (!spec.clusterIP || spec.clusterIP === 'None' || spec.type === 'ExternalName') continue;
    // the ClusterIP of this family (a dual-stack Service has one per family)
    const ip = (spec.clusterIPs?.length ? spec.clusterIPs : [spec.clusterIP]).find((a) => isIP(a) === ipVersion);
    if (!ip) continue;
    const key = `${svc.metadata.namespace ?? ''}/${svc.metadata.name ?? ''}`;
    const svcSlices = byService.get(key) ?? [];
    const topology =
      (spec as { trafficDistribution?: string }).trafficDistribution === 'PreferClose' ||
      ['Auto', 'auto'].includes(svc.metadata.annotations?.['service.kubernetes.io/topology-mode'] ?? svc.metadata.annotations?.['service.kubernetes.io/topology-aware-hints'] ?? '');
    for (const sp of spec.ports ?? []) {
      const protocol = (sp.protocol ?? 'TCP').toLowerCase() as Protocol;
      const candidates: Candidate[] = [];
      const seen = new Set<string>();
      for (const slice of svcSlices) {
        const port = (slice.ports ?? []).find((p) => (p.name ?? '') === (sp.name ?? '') && (p.protocol ?? 'TCP') === (sp.protocol ?? 'TCP'));
        if (!port?.port) continue;
        for (const e of slice.endpoints ?? []) {
          const addr = e.addresses[0];
          if (!addr || isIP(addr) !== ipVersion || seen.has(`${addr}:${port.port}`)) continue;
          seen.add(`${addr}:${port.port}`);
          const c = e.conditions ?? {};
          candidates.push({
            ip: addr,
            port: port.port,
            // unset ready means ready (upstream)
            ready: c.ready !== false,
            serving: c.serving ?? c.ready !== false,
            terminating: c.terminating === true,
            local: e.nodeName === opts.nodeName,
            forZones: e.hints?.forZones?.map((z) => z.name),
          });
        }
      }
      let usable = candidates.filter((c) => c.ready);
      if (usable.length === 0) usable = candidates.filter((c) => c.serving && c.terminating);
      const nodePort = sp.nodePort && (spec.type === 'NodePort' || spec.type === 'LoadBalancer') ? sp.nodePort : undefined;
      const externalLocal =
        nodePort && spec.externalTrafficPolicy === 'Local'
          ? { localEndpoints: usable.filter((c) => c.local).sort(byAddress).map((c) => ({ ip: c.ip, port: c.port })) }
          : undefined;
      if (spec.internalTrafficPolicy === 'Local') usable = usable.filter((c) => c.local);
      else if (topology) {
        const local = usable.filter((c) => c.local);
        const zoned = opts.zone ? usable.filter((c) => c.forZones?.includes(opts.zone!)) : [];
        if (local.length > 0) usable = local;
        else if (zoned.length > 0) usable = zoned;
      }
      usable.sort(byAddress);
      const affinity = spec.sessionAffinity === 'ClientIP' ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800) : undefined;
      out.push({
        id: `${key}/${protocol}/${sp.name || String(sp.port)}`,
        clusterIP: ip,
        protocol,
        port: sp.port,
        ...(nodePort ? { nodePort } : {}),
        ...(affinity !== undefined ? { affinitySeconds: affinity } : {}),
        endpoints: usable.map((c) => ({ ip: c.ip, port: c.port })),
        ...(externalLocal ? { externalLocal } : {}),
      });
    }
  }
  return out;
}

function byAddress(a: ProxyEndpoint, b: ProxyEndpoint): number {
  const [x, y] = [parseIp(a.ip)?.value ?? 0n, parseIp(b.ip)?.value ?? 0n];
  return x < y ? -1 : x > y ? 1 : a.port - b.port;
}
