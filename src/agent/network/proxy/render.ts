import type { ProxyServicePort } from './model.ts';

/** kube-proxy's masquerade bit: set on packets that must leave with the node's address. */
export const MASQ_MARK = '0x4000';

export interface RenderOptions {
  /** nftables table (family ip), e.g. `hedge-proxy` */
  table: string;
}

/** Names of the chains and sets one render declared (the next render deletes those it no longer has). */
export interface RenderedNames {
  chains: Set<string>;
  sets: Set<string>;
}

export interface Rendered {
  /** one `nft -f -` transaction */
  script: string;
  names: RenderedNames;
}

const BASE_CHAINS = ['prerouting', 'output', 'postrouting', 'services', 'filter-forward', 'filter-output'];
const MAPS = ['svc-ips', 'svc-nodeports'];

const svcChain = (p: ProxyServicePort): string => `svc-${p.id}`;
const extChain = (p: ProxyServicePort): string => `ext-${p.id}`;
const epChain = (p: ProxyServicePort, ep: { ip: string; port: number }): string => `ep-${p.id}/${ep.ip}_${ep.port}`;
const affinitySet = (p: ProxyServicePort, ep: { ip: string; port: number }): string => `aff-${p.id}/${ep.ip}_${ep.port}`;

/**
 * The whole ruleset of the proxy as one nftables transaction. With `previous` (what the last
 * successful apply declared) the table is flushed and re-filled in place, and only chains and sets
 * that are gone are deleted, so ClientIP-affinity sets keep their entries across syncs; without it
 * the table is deleted and created afresh. Either way the kernel swaps it atomically.
 *
 *   services:  ip daddr . l4proto . dport → svc-<ns>/<name>/<proto>/<port> (map svc-ips)
 *              local address . l4proto . dport → ext-… (map svc-nodeports): mark for masquerade
 *   svc-…:     affinity lookups, then numgen random mod N → ep-…
 *   ep-…:      hairpin mark, affinity update, dnat to ip:port
 *   no endpoints: new connections are rejected in filter forward/output
 */
export function renderRuleset(ports: ProxyServicePort[], opts: RenderOptions, previous?: RenderedNames): Rendered {
  const t = opts.table;
  const chains = new Set<string>(BASE_CHAINS);
  const sets = new Set<string>([...MAPS, 'no-endpoints']);
  const body: string[] = [];
  const ipElems: string[] = [];
  const nodePortElems: string[] = [];
  const noEndpoints: string[] = [];
  for (const p of ports) {
    const proto = p.protocol;
    if (p.endpoints.length === 0) {
      noEndpoints.push(`${p.clusterIP} . ${proto} . ${p.port}`);
      continue;
    }
    const svc = svcChain(p);
    chains.add(svc);
    ipElems.push(`${p.clusterIP} . ${proto} . ${p.port} : goto ${svc}`);
    if (p.nodePort) {
      const ext = extChain(p);
      chains.add(ext);
      nodePortElems.push(`${proto} . ${p.nodePort} : goto ${ext}`);
      body.push(`  chain ${ext} {`, `    meta mark set meta mark | ${MASQ_MARK}`, `    goto ${svc}`, '  }');
    }
    const svcRules: string[] = [];
    if (p.affinitySeconds !== undefined) {
      for (const ep of p.endpoints) {
        const set = affinitySet(p, ep);
        sets.add(set);
        body.push(`  set ${set} {`, `    type ipv4_addr; flags dynamic,timeout; timeout ${p.affinitySeconds}s;`, '  }');
        svcRules.push(`    ip saddr @${set} goto ${epChain(p, ep)}`);
      }
    }
    if (p.endpoints.length === 1) svcRules.push(`    goto ${epChain(p, p.endpoints[0]!)}`);
    else svcRules.push(`    numgen random mod ${p.endpoints.length} vmap { ${p.endpoints.map((ep, i) => `${i} : goto ${epChain(p, ep)}`).join(', ')} }`);
    body.push(`  chain ${svc} {`, ...svcRules, '  }');
    for (const ep of p.endpoints) {
      const ch = epChain(p, ep);
      chains.add(ch);
      const rules = [`    ip saddr ${ep.ip} meta mark set meta mark | ${MASQ_MARK}`];
      if (p.affinitySeconds !== undefined) rules.push(`    update @${affinitySet(p, ep)} { ip saddr }`);
      rules.push(`    meta l4proto ${proto} dnat to ${ep.ip}:${ep.port}`);
      body.push(`  chain ${ch} {`, ...rules, '  }');
    }
  }
  const elements = (xs: string[]): string[] => (xs.length ? [`    elements = { ${xs.join(', ')} }`] : []);
  const lines: string[] = [];
  if (previous) {
    // make sure the maps exist, then empty every chain and the maps; declarations below refill them
    lines.push(`table ip ${t} {`, ...mapDecls([], [], []), '}', `flush table ip ${t}`, `flush map ip ${t} svc-ips`, `flush map ip ${t} svc-nodeports`, `flush set ip ${t} no-endpoints`);
  } else {
    lines.push(`table ip ${t} {`, '}', `delete table ip ${t}`);
  }
  lines.push(
    `table ip ${t} {`,
    ...mapDecls(elements(ipElems), elements(nodePortElems), elements(noEndpoints)),
    ...body,
    '  chain services {',
    '    ip daddr . meta l4proto . th dport vmap @svc-ips',
    '    fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @svc-nodeports',
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
    '  chain filter-forward {',
    '    type filter hook forward priority -10; policy accept;',
    '    ct state new ip daddr . meta l4proto . th dport @no-endpoints reject',
    '  }',
    '  chain filter-output {',
    '    type filter hook output priority -10; policy accept;',
    '    ct state new ip daddr . meta l4proto . th dport @no-endpoints reject',
    '  }',
    '}',
  );
  if (previous) {
    for (const c of [...previous.chains].sort()) if (!chains.has(c)) lines.push(`delete chain ip ${t} ${c}`);
    for (const s of [...previous.sets].sort()) if (!sets.has(s)) lines.push(`delete set ip ${t} ${s}`);
  }
  return { script: `${lines.join('\n')}\n`, names: { chains, sets } };
}

function mapDecls(ips: string[], nodePorts: string[], noEndpoints: string[]): string[] {
  return [
    '  map svc-ips {',
    '    type ipv4_addr . inet_proto . inet_service : verdict;',
    ...ips,
    '  }',
    '  map svc-nodeports {',
    '    type inet_proto . inet_service : verdict;',
    ...nodePorts,
    '  }',
    '  set no-endpoints {',
    '    type ipv4_addr . inet_proto . inet_service;',
    ...noEndpoints,
    '  }',
  ];
}

/** Removes the table (idempotent). */
export function renderDelete(table: string): string {
  return `table ip ${table} {\n}\ndelete table ip ${table}\n`;
}
