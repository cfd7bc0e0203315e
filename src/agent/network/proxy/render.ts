import type { ProxyServicePort } from './model.ts';

/** kube-proxy's masquerade bit: set on packets that must leave with the node's address. */
export const MASQ_MARK = '0x4000';

export interface RenderOptions {
  /** nftables table, e.g. `hedge-proxy` */
  table: string;
  /** its family: `ip` (IPv4 Services, the default) or `ip6` (the IPv6 ClusterIPs of dual-stack Services) */
  family?: Family;
}

export type Family = 'ip' | 'ip6';

/** What one render declared: chain bodies, set declarations and map elements (the next render emits only the difference). */
export interface RenderedNames {
  chains: Map<string, string>;
  /** whether the filter chains (filterChains) are declared */
  filterHooks?: boolean;
  sets: Map<string, string>;
  elements: { ips: Set<string>; nodePorts: Set<string>; noEndpoints: Set<string> };
}

export interface Rendered {
  /** one `nft -f -` transaction */
  script: string;
  names: RenderedNames;
}

const svcChain = (p: ProxyServicePort): string => `svc-${p.id}`;
const extChain = (p: ProxyServicePort): string => `ext-${p.id}`;
/** an endpoint in a chain or set name: nft identifiers take no ':', so an IPv6 address is spelled with '.' (none of its own) */
const epName = (ep: { ip: string; port: number }): string => `${ep.ip.replace(/:/g, '.')}_${ep.port}`;
const epChain = (p: ProxyServicePort, ep: { ip: string; port: number }): string => `ep-${p.id}/${epName(ep)}`;
const affinitySet = (p: ProxyServicePort, ep: { ip: string; port: number }): string => `aff-${p.id}/${epName(ep)}`;

const baseBody = (f: Family): string[] => [
  '  chain services {',
  `    ${f} daddr . meta l4proto . th dport vmap @svc-ips`,
  `    fib daddr type local ${f} daddr != ${f === 'ip' ? '127.0.0.0/8' : '::1'} meta l4proto . th dport vmap @svc-nodeports`,
  '  }',
  '  chain prerouting {',
  '    type nat hook prerouting priority -100; policy accept;',
  '    jump services',
  '  }',
  '  chain output {',
  '    type nat hook output priority -100; policy accept;',
  '    jump services',
  '  }',
  '  chain postrouting {',
  '    type nat hook postrouting priority 100; policy accept;',
  `    meta mark & ${MASQ_MARK} == ${MASQ_MARK} meta mark set meta mark ^ ${MASQ_MARK} masquerade`,
  '  }',
];

/**
 * The reject of new connections to Service ports without endpoints. Filter hooks see every
 * forwarded packet — with br_netfilter that is all bridged pod → pod traffic too — so they are
 * declared only while some Service port has no endpoints (bench/service-proxy.ts measures both).
 */
export const filterChains = (f: Family): [string, string][] => [
  ['filter-forward', ['    type filter hook forward priority -10; policy accept;', `    ct state new ${f} daddr . meta l4proto . th dport @no-endpoints reject`].join('\n')],
  ['filter-output', ['    type filter hook output priority -10; policy accept;', `    ct state new ${f} daddr . meta l4proto . th dport @no-endpoints reject`].join('\n')],
];

/**
 * The proxy's ruleset as one nftables transaction. Without `previous` (first sync, or after a
 * failed apply) the table is deleted and created afresh. With `previous` (what the last successful
 * apply declared) only the difference is sent: new chains and sets declared, changed chains
 * flushed and refilled, map elements deleted/added, chains and sets that are gone deleted — so a
 * one-endpoint change costs a few lines however many Services there are, and ClientIP-affinity
 * sets keep their entries. Either way the kernel applies it atomically.
 *
 *   services:  ip daddr . l4proto . dport → svc-<ns>/<name>/<proto>/<port> (map svc-ips)
 *              local address . l4proto . dport → ext-… (map svc-nodeports): mark for masquerade,
 *              or with externalTrafficPolicy: Local pick among this node's endpoints unmarked
 *              (none: drop)
 *   svc-…:     affinity lookups, then numgen random mod N → ep-…
 *   ep-…:      hairpin mark, affinity update, dnat to ip:port
 *   no endpoints: new connections are rejected in filter forward/output, chains that exist only
 *              while some Service port has no endpoints (no per-packet hook otherwise)
 */
export function renderRuleset(ports: ProxyServicePort[], opts: RenderOptions, previous?: RenderedNames): Rendered {
  const t = opts.table;
  const f = opts.family ?? 'ip';
  const addrType = f === 'ip' ? 'ipv4_addr' : 'ipv6_addr';
  const filters = filterChains(f);
  const chains = new Map<string, string>();
  const sets = new Map<string, string>();
  const ipElems: string[] = [];
  const nodePortElems: string[] = [];
  const noEndpoints: string[] = [];
  const chain = (name: string, rules: string[]): void => void chains.set(name, rules.join('\n'));
  for (const p of ports) {
    const proto = p.protocol;
    if (p.endpoints.length === 0) {
      noEndpoints.push(`${p.clusterIP} . ${proto} . ${p.port}`);
      continue;
    }
    const svc = svcChain(p);
    ipElems.push(`${p.clusterIP} . ${proto} . ${p.port} : goto ${svc}`);
    /** affinity lookups, then a random pick among `eps` */
    const pick = (eps: { ip: string; port: number }[]): string[] => {
      const rules: string[] = [];
      if (p.affinitySeconds !== undefined) {
        for (const ep of eps) {
          const set = affinitySet(p, ep);
          sets.set(set, `    type ${addrType}; flags dynamic,timeout; timeout ${p.affinitySeconds}s;`);
          rules.push(`    ${f} saddr @${set} goto ${epChain(p, ep)}`);
        }
      }
      if (eps.length === 1) rules.push(`    goto ${epChain(p, eps[0]!)}`);
      else rules.push(`    numgen random mod ${eps.length} vmap { ${eps.map((ep, i) => `${i} : goto ${epChain(p, ep)}`).join(', ')} }`);
      return rules;
    };
    const epChains = [...p.endpoints];
    if (p.nodePort) {
      const ext = extChain(p);
      nodePortElems.push(`${proto} . ${p.nodePort} : goto ${ext}`);
      if (p.externalLocal) {
        // externalTrafficPolicy: Local: this node's endpoints only, no masquerade (the client's address reaches the pod)
        const local = p.externalLocal.localEndpoints;
        chain(ext, local.length ? pick(local) : ['    drop']);
        for (const ep of local) if (!epChains.some((e) => e.ip === ep.ip && e.port === ep.port)) epChains.push(ep);
      } else chain(ext, [`    meta mark set meta mark | ${MASQ_MARK}`, `    goto ${svc}`]);
    }
    chain(svc, pick(p.endpoints));
    for (const ep of epChains) {
      const rules = [`    ${f} saddr ${ep.ip} meta mark set meta mark | ${MASQ_MARK}`];
      if (p.affinitySeconds !== undefined) rules.push(`    update @${affinitySet(p, ep)} { ${f} saddr }`);
      rules.push(`    meta l4proto ${proto} dnat to ${f === 'ip' ? ep.ip : `[${ep.ip}]`}:${ep.port}`);
      chain(epChain(p, ep), rules);
    }
  }
  const filterHooks = noEndpoints.length > 0;
  const names: RenderedNames = { chains, sets, filterHooks, elements: { ips: new Set(ipElems), nodePorts: new Set(nodePortElems), noEndpoints: new Set(noEndpoints) } };
  const declSet = (name: string, decl: string): string[] => [`  set ${name} {`, decl, '  }'];
  const declChain = (name: string, body: string): string[] => [`  chain ${name} {`, ...(body ? [body] : []), '  }'];
  const lines: string[] = [];
  if (!previous) {
    const elements = (xs: string[]): string[] => (xs.length ? [`    elements = { ${xs.join(', ')} }`] : []);
    lines.push(`table ${f} ${t} {`, '}', `delete table ${f} ${t}`, `table ${f} ${t} {`, ...mapDecls(addrType, elements(ipElems), elements(nodePortElems), elements(noEndpoints)));
    // chains in the order they were made: ext, sets and svc, then its endpoints (readable, and what the golden test pins)
    const setsLeft = new Map(sets);
    for (const [name, body] of chains) {
      // an ext- chain with externalTrafficPolicy: Local looks the affinity sets up too
      if (name.startsWith('svc-') || name.startsWith('ext-')) {
        const prefix = `aff-${name.slice(4)}/`;
        for (const [sn, decl] of setsLeft) {
          if (!sn.startsWith(prefix)) continue;
          lines.push(...declSet(sn, decl));
          setsLeft.delete(sn);
        }
      }
      lines.push(...declChain(name, body));
    }
    for (const [sn, decl] of setsLeft) lines.push(...declSet(sn, decl));
    lines.push(...baseBody(f));
    if (filterHooks) for (const [name, body] of filters) lines.push(...declChain(name, body));
    lines.push('}');
    return { script: `${lines.join('\n')}\n`, names };
  }
  // the difference against what is in the kernel
  const added: string[] = [];
  for (const [sn, decl] of sets) if (previous.sets.get(sn) !== decl) added.push(...declSet(sn, decl));
  for (const [name, body] of chains) if (!previous.chains.has(name)) added.push(...declChain(name, body));
  if (added.length) lines.push(`table ${f} ${t} {`, ...added, '}');
  for (const [name, body] of chains) {
    const before = previous.chains.get(name);
    if (before === undefined || before === body) continue;
    lines.push(`flush chain ${f} ${t} ${name}`, `table ${f} ${t} {`, ...declChain(name, body), '}');
  }
  const maps: [string, Set<string>, Set<string>][] = [
    ['svc-ips', previous.elements.ips, names.elements.ips],
    ['svc-nodeports', previous.elements.nodePorts, names.elements.nodePorts],
    ['no-endpoints', previous.elements.noEndpoints, names.elements.noEndpoints],
  ];
  const key = (e: string): string => e.split(' : ')[0]!;
  for (const [map, was, now] of maps) {
    const gone = [...was].filter((e) => !now.has(e)).map(key);
    if (gone.length) lines.push(`delete element ${f} ${t} ${map} { ${gone.join(', ')} }`);
  }
  for (const [map, was, now] of maps) {
    const fresh = [...now].filter((e) => !was.has(e));
    if (fresh.length) lines.push(`add element ${f} ${t} ${map} { ${fresh.join(', ')} }`);
  }
  if (filterHooks && !previous.filterHooks) lines.push(`table ${f} ${t} {`, ...filters.flatMap(([name, body]) => declChain(name, body)), '}');
  if (!filterHooks && previous.filterHooks) for (const [name] of filters) lines.push(`delete chain ${f} ${t} ${name}`);
  // referrers before what they refer to: ext → svc → ep, then the affinity sets
  const order = (n: string): number => (n.startsWith('ext-') ? 0 : n.startsWith('svc-') ? 1 : 2);
  const goneChains = [...previous.chains.keys()].filter((c) => !chains.has(c)).sort((a, b) => order(a) - order(b) || (a < b ? -1 : 1));
  for (const c of goneChains) lines.push(`delete chain ${f} ${t} ${c}`);
  for (const sn of [...previous.sets.keys()].sort()) if (!sets.has(sn)) lines.push(`delete set ${f} ${t} ${sn}`);
  return { script: lines.length ? `${lines.join('\n')}\n` : '', names };
}

function mapDecls(addrType: string, ips: string[], nodePorts: string[], noEndpoints: string[]): string[] {
  return [
    '  map svc-ips {',
    `    type ${addrType} . inet_proto . inet_service : verdict;`,
    ...ips,
    '  }',
    '  map svc-nodeports {',
    '    type inet_proto . inet_service : verdict;',
    ...nodePorts,
    '  }',
    '  set no-endpoints {',
    `    type ${addrType} . inet_proto . inet_service;`,
    ...noEndpoints,
    '  }',
  ];
}

/** Removes the table (idempotent). */
export function renderDelete(table: string, family: Family = 'ip'): string {
  return `table ${family} ${table} {\n}\ndelete table ${family} ${table}\n`;
}
