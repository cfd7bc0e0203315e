import type { LoadBalancerStatus, Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../object.ts';
import type { TableDef } from '../resources/types.ts';
import { ageColumn, column, nameColumn } from './columns.ts';
import { since } from './duration.ts';

export function portString(ports: ServicePort[] | undefined): string {
  return (ports ?? [])
    .map((p) => (p.nodePort && p.nodePort > 0 ? `${p.port}:${p.nodePort}/${p.protocol ?? 'TCP'}` : `${p.port}/${p.protocol ?? 'TCP'}`))
    .join(',');
}

function loadBalancerIPs(lb: LoadBalancerStatus | undefined, wide: boolean): string {
  const parts = (lb?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : i.hostname ? [i.hostname] : []));
  const s = parts.join(',');
  return !wide && s.length > 16 ? `${s.slice(0, 13)}...` : s;
}

export function serviceExternalIP(svc: Service, wide: boolean): string {
  const spec = svc.spec ?? {};
  const external = spec.externalIPs ?? [];
  switch (spec.type ?? 'ClusterIP') {
    case 'ClusterIP':
    case 'NodePort':
      return external.length ? external.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb = loadBalancerIPs(svc.status?.loadBalancer, wide);
      if (external.length) return [...(lb ? lb.split(',') : []), ...external].join(',');
      return lb || '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '';
    default:
      return '<unknown>';
  }
}

/** labels.FormatLabels: sorted k=v pairs, "<none>" when empty. */
export function formatLabels(m: Record<string, string> | undefined): string {
  const keys = Object.keys(m ?? {}).sort();
  return keys.length ? keys.map((k) => `${k}=${m![k]}`).join(',') : '<none>';
}

export const serviceTable: TableDef = {
  columns: [
    nameColumn(),
    column('Type', 'type determines how the Service is exposed. Defaults to ClusterIP.'),
    column('Cluster-IP', 'clusterIP is the IP address of the service and is usually assigned randomly.'),
    column('External-IP', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
    column('Port(s)', 'The list of ports that are exposed by this service.'),
    ageColumn(),
    column('Selector', 'Route service traffic to pods with label keys and values matching this selector.', { priority: 1 }),
  ],
  row(obj: KubeObject, now: Date) {
    const svc = obj as unknown as Service;
    const spec = svc.spec ?? {};
    return [
      svc.metadata?.name ?? '',
      spec.type ?? '',
      spec.clusterIPs?.[0] ?? spec.clusterIP ?? '<none>',
      // the server always renders the wide form; kubectl drops priority columns itself
      serviceExternalIP(svc, true),
      portString(spec.ports) || '<none>',
      since(svc.metadata?.creationTimestamp, now),
      formatLabels(spec.selector),
    ];
  },
};
