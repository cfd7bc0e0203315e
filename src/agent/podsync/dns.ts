import type { Pod } from 'kubernetes-types/core/v1.js';

/**
 * /etc/hosts like the kubelet's managed file: localhost lines, the pod's own name, then hostAliases.
 * A hostNetwork pod's is the host's file (`hostHosts`, its content) under upstream's header, then
 * the hostAliases (the kubelet's nodeHostsFileContent).
 */
export function hostsFile(pod: Pod, podIP: string | undefined, clusterDomain = 'cluster.local', hostHosts = ''): string {
  if (pod.spec?.hostNetwork) return `# Kubernetes-managed hosts file (host network).\n${hostHosts}${hostAliasLines(pod)}`;
  const lines = [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  const hostname = podHostname(pod);
  if (podIP) {
    const sub = pod.spec?.subdomain;
    const ns = pod.metadata?.namespace ?? 'default';
    lines.push(sub ? `${podIP}\t${hostname}.${sub}.${ns}.svc.${clusterDomain}\t${hostname}` : `${podIP}\t${hostname}`);
  }
  return `${lines.join('\n')}\n${hostAliasLines(pod)}`;
}

/** upstream's hostsEntriesFromHostAliases: nothing without aliases */
function hostAliasLines(pod: Pod): string {
  const aliases = (pod.spec?.hostAliases ?? []).filter((a) => a.hostnames?.length);
  if (!aliases.length) return '';
  return `\n# Entries added by HostAliases.\n${aliases.map((a) => `${a.ip}\t${a.hostnames!.join('\t')}\n`).join('')}`;
}

export function podHostname(pod: Pod): string {
  return (pod.spec?.hostname || pod.metadata?.name || 'pod').slice(0, 63);
}

export interface HostDns {
  nameservers: string[];
  searches: string[];
  options: string[];
}

export function parseResolvConf(text: string): HostDns {
  const out: HostDns = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const f = raw.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (f[0] === 'nameserver' && f[1]) out.nameservers.push(f[1]);
    // upstream drops a trailing dot (and a lone "."), so a domain written both ways counts once
    else if ((f[0] === 'search' || f[0] === 'domain') && f.length > 1) out.searches = f.slice(1).filter((d) => d !== '.').map((d) => d.replace(/\.$/, ''));
    else if (f[0] === 'options') out.options.push(...f.slice(1));
  }
  return out;
}

/** upstream's podDNSType: which base a pod's resolv.conf starts from */
export type PodDNSType = 'cluster' | 'host' | 'none';

/**
 * The kubelet's getPodDNSType (pkg/kubelet/network/dns): None → none; ClusterFirstWithHostNet →
 * cluster, on the host network or not; ClusterFirst → cluster, but host for a hostNetwork pod
 * (the "Default" behaviour); Default → host. An unknown policy (the apiserver refuses it) is cluster.
 */
export function podDNSType(pod: Pod): PodDNSType {
  switch (pod.spec?.dnsPolicy ?? 'ClusterFirst') {
    case 'None':
      return 'none';
    case 'ClusterFirstWithHostNet':
      return 'cluster';
    case 'ClusterFirst':
      return pod.spec?.hostNetwork ? 'host' : 'cluster';
    case 'Default':
      return 'host';
    default:
      return 'cluster';
  }
}

/** the kubelet's MissingClusterDNS words, the Event on the Node (the pod's own Event prefixes the pod) */
export const MISSING_CLUSTER_DNS_NODE_MESSAGE = 'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.';

/**
 * The kubelet's MissingClusterDNS warning on the pod, when the pod's policy wants the cluster DNS and
 * the node has none (`--cluster-dns off`): the pod falls back to the host's resolvers. undefined
 * otherwise. The kubelet records MISSING_CLUSTER_DNS_NODE_MESSAGE on its Node at the same time.
 */
export function missingClusterDNS(pod: Pod, clusterDNS: readonly string[]): string | undefined {
  if (podDNSType(pod) !== 'cluster' || clusterDNS.length > 0) return undefined;
  return `pod: "${pod.metadata?.name ?? ''}_${pod.metadata?.namespace ?? 'default'}(${pod.metadata?.uid ?? ''})". ${MISSING_CLUSTER_DNS_NODE_MESSAGE}`;
}

/**
 * resolv.conf for the pod from dnsPolicy + dnsConfig (podDNSType). The host's base: a hostNetwork
 * pod gets the host's nameservers as they are (it shares the host's network namespace, so
 * systemd-resolved's 127.0.0.53 answers it, as upstream); any other pod gets them without the
 * loopback ones (inside its own netns 127.x is the pod itself and would silently break DNS; a
 * public fallback is not invented either).
 */
export function resolvConf(pod: Pod, host: HostDns, cluster: { dns: string[]; domain: string }): string {
  const ns = pod.metadata?.namespace ?? 'default';
  const hostNs = pod.spec?.hostNetwork ? host.nameservers : host.nameservers.filter((s) => !s.startsWith('127.') && s !== '::1');
  let servers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  const type = podDNSType(pod);
  if (type === 'none') {
    // only dnsConfig
  } else if (type === 'cluster' && cluster.dns.length > 0) {
    // the cluster DNS alone: it forwards what it does not know to the host's resolvers
    servers = cluster.dns;
    searches = [`${ns}.svc.${cluster.domain}`, `svc.${cluster.domain}`, cluster.domain, ...host.searches];
    options = ['ndots:5'];
  } else {
    // Default, ClusterFirst on the host network, or no cluster DNS on the node (missingClusterDNS)
    servers = hostNs;
    searches = host.searches;
    options = host.options;
  }
  const cfg = pod.spec?.dnsConfig;
  servers = dedup([...servers, ...(cfg?.nameservers ?? [])]).slice(0, 3);
  searches = dedup([...searches, ...(cfg?.searches ?? [])]).slice(0, 32);
  const opts = new Map<string, string | undefined>();
  for (const o of options) {
    const [k, v] = o.split(':');
    opts.set(k, v);
  }
  for (const o of cfg?.options ?? []) opts.set(o.name ?? '', o.value);
  const lines: string[] = [];
  if (searches.length) lines.push(`search ${searches.join(' ')}`);
  for (const s of servers) lines.push(`nameserver ${s}`);
  const optStr = [...opts].filter(([k]) => k).map(([k, v]) => (v === undefined ? k : `${k}:${v}`));
  if (optStr.length) lines.push(`options ${optStr.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

const dedup = (xs: string[]): string[] => [...new Set(xs)];
