import type { IngressLoadBalancerStatus, IngressRule } from 'kubernetes-types/networking/v1.js';
import type { IngressClassObject, IngressObject } from '../networking/ingress.ts';
import type { TableDef } from '../resources/types.ts';
import { ageColumn, column, nameColumn } from './columns.ts';
import { since } from './duration.ts';

/** printers' formatHosts: the first three hosts named (`*` when none), then `+ N more...` counted in rules */
function formatHosts(rules: IngressRule[]): string {
  const max = 3;
  const hosts: string[] = [];
  let more = false;
  for (const r of rules) {
    if (hosts.length === max) more = true;
    if (!more && r?.host) hosts.push(r.host);
  }
  if (hosts.length === 0) return '*';
  return more ? `${hosts.join(',')} + ${rules.length - max} more...` : hosts.join(',');
}

/** ingressLoadBalancerStatusStringer, wide (the server renders the wide form): sorted unique IPs, else hostnames */
function formatAddress(lb: IngressLoadBalancerStatus | undefined): string {
  const addrs = new Set((lb?.ingress ?? []).flatMap((i) => (i?.ip ? [i.ip] : i?.hostname ? [i.hostname] : [])));
  return [...addrs].sort().join(',');
}

/** printIngress: NAME CLASS HOSTS ADDRESS PORTS AGE */
export const ingressTable: TableDef = {
  columns: [
    nameColumn(),
    column('Class', 'The name of the IngressClass resource that should be used for additional configuration'),
    column('Hosts', 'Hosts that incoming requests are matched against before the ingress rule'),
    column('Address', 'Address is a list containing ingress points for the load-balancer'),
    column('Ports', 'Ports of TLS configurations that open'),
    ageColumn(),
  ],
  row(obj, now) {
    const ing = obj as IngressObject;
    return [
      ing.metadata.name ?? '',
      ing.spec?.ingressClassName ?? '<none>',
      formatHosts(ing.spec?.rules ?? []),
      formatAddress(ing.status?.loadBalancer),
      ing.spec?.tls?.length ? '80, 443' : '80',
      since(ing.metadata.creationTimestamp, now),
    ];
  },
};

/** printIngressClass: NAME CONTROLLER PARAMETERS AGE (parameters as Kind[.apiGroup]/name) */
export const ingressClassTable: TableDef = {
  columns: [
    nameColumn(),
    column('Controller', 'Controller that is responsible for handling this class'),
    column('Parameters', 'A reference to a resource with additional parameters'),
    ageColumn(),
  ],
  row(obj, now) {
    const ic = obj as IngressClassObject;
    const p = ic.spec?.parameters;
    const params = p ? `${p.kind}${p.apiGroup ? `.${p.apiGroup}` : ''}/${p.name}` : '<none>';
    return [ic.metadata.name ?? '', ic.spec?.controller ?? '', params, since(ic.metadata.creationTimestamp, now)];
  },
};
