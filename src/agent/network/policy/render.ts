/**
 * NetworkPolicy (networking.k8s.io/v1) → one nftables table (`inet hedge-policy`), rendered whole
 * so it can be loaded atomically with `nft -f -` (a `delete table` + the new table in one
 * transaction). Rules match pod addresses, not interfaces, so the same table holds for runc,
 * gVisor (host stack in the pod netns) and microVM (tap) pods alike: the forward hook sees pod
 * traffic routed or bridged (br_netfilter) through the host; traffic the host itself sends (probes)
 * passes, as upstream requires.
 *
 * Semantics (upstream's): a pod selected by some policy of type Ingress (Egress) in its namespace
 * is isolated in that direction and only what one of those policies' rules allows gets through;
 * replies of allowed connections pass (ct established,related). Named ports resolve against the
 * pod that owns the port (the destination), so an egress rule with a named port expands per peer.
 *
 * Both families in the one `inet` table: a peer pod matches by its IPv4 addresses (`ip saddr`)
 * and its IPv6 ones (`ip6 saddr`), an `ipBlock` by its own family only (its `except`s of the other
 * family are moot), a dual-stack pod's chain is jumped to from either address. IPv6 neighbour
 * discovery (RS/RA/NS/NA, hop limit 255: link-local by RFC 4861) is never policed, as RFC 4890
 * asks of a firewall; ARP, its IPv4 counterpart, never meets an inet table. The policy controller
 * (controller.ts) feeds this from the node's informers.
 */
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from 'kubernetes-types/networking/v1.js';
import { compareStrings } from '../../../lib/compare.ts';

export const POLICY_TABLE = 'hedge-policy';

/** What the renderer needs to know of a pod (any node's, for peers; the node's own, for targets). */
export interface PolicyPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** IPv4 addresses */
  ips: string[];
  /** IPv6 addresses (dual-stack pods) */
  ips6?: string[];
  /** container port name → { protocol, port } */
  namedPorts: Record<string, { protocol: string; port: number }[]>;
}

export interface PolicyInput {
  policies: NetworkPolicy[];
  /** every pod the node knows with an address */
  pods: PolicyPod[];
  /** namespace name → labels */
  namespaces: Record<string, Record<string, string>>;
  /** pods on this node: only they get chains (default: all pods) */
  localPods?: (p: PolicyPod) => boolean;
}

function matchesSelector(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return false;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const val = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(val ?? '')) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(val ?? '')) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

const types = (p: NetworkPolicy): { ingress: boolean; egress: boolean } => {
  const t = p.spec?.policyTypes;
  if (t?.length) return { ingress: t.includes('Ingress'), egress: t.includes('Egress') };
  return { ingress: true, egress: (p.spec?.egress?.length ?? 0) > 0 };
};

/** Where a peer lets traffic from/to: addresses of matching pods, or a CIDR minus exceptions (of its family). */
type PeerMatch = { kind: 'pods'; pods: PolicyPod[] } | { kind: 'block'; cidr: string; except: string[] };

/** the nft payload family of an address or CIDR */
const fam = (addr: string): 'ip' | 'ip6' => (addr.includes(':') ? 'ip6' : 'ip');

function resolvePeer(peer: NetworkPolicyPeer, policyNs: string, input: PolicyInput): PeerMatch | undefined {
  if (peer.ipBlock) {
    // an except of the other family cannot take anything out of the block
    const f = fam(peer.ipBlock.cidr);
    return { kind: 'block', cidr: peer.ipBlock.cidr, except: (peer.ipBlock.except ?? []).filter((e) => fam(e) === f) };
  }
  if (!peer.podSelector && !peer.namespaceSelector) return undefined;
  const pods = input.pods.filter((p) => {
    const nsOk = peer.namespaceSelector ? matchesSelector(peer.namespaceSelector, input.namespaces[p.namespace] ?? {}) : p.namespace === policyNs;
    return nsOk && (peer.podSelector ? matchesSelector(peer.podSelector, p.labels) : true);
  });
  return { kind: 'pods', pods };
}

/** nft port matches for one NetworkPolicyPort against the pod owning the port; [] = no port of that name */
function portMatches(port: NetworkPolicyPort, owner: PolicyPod | undefined): string[] {
  const proto = (port.protocol ?? 'TCP').toLowerCase();
  if (port.port === undefined) return [`meta l4proto ${proto}`];
  if (typeof port.port === 'number') {
    return [`${proto} dport ${port.endPort !== undefined && port.endPort >= port.port ? `${port.port}-${port.endPort}` : port.port}`];
  }
  const named = (owner?.namedPorts[port.port] ?? []).filter((n) => n.protocol.toLowerCase() === proto);
  return [...new Set(named.map((n) => `${proto} dport ${n.port}`))];
}

const set = (xs: string[]): string => (xs.length === 1 ? (xs[0] ?? '') : `{ ${xs.join(', ')} }`);

/** matches of `pods`' addresses, one per family they have (none: the pods match nothing) */
function podsAddrMatch(dir: 'saddr' | 'daddr', pods: PolicyPod[]): string[] {
  const v4 = [...new Set(pods.flatMap((p) => p.ips))].sort();
  const v6 = [...new Set(pods.flatMap((p) => p.ips6 ?? []))].sort();
  return [...(v4.length ? [`ip ${dir} ${set(v4)}`] : []), ...(v6.length ? [`ip6 ${dir} ${set(v6)}`] : [])];
}

function addrMatch(dir: 'saddr' | 'daddr', m: PeerMatch): string[] {
  if (m.kind === 'pods') return podsAddrMatch(dir, m.pods);
  const f = fam(m.cidr);
  return [`${f} ${dir} ${m.cidr}${m.except.length ? ` ${f} ${dir} != ${set(m.except)}` : ''}`];
}

/** IPv6 neighbour discovery: link-local by its hop limit (RFC 4861 drops it otherwise), never policed (RFC 4890 4.4.1) */
export const NDP_RULE = 'icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 return';

/** chain names: pod keys can be long; nft identifiers allow [a-zA-Z0-9_-./] up to 255 bytes */
const chainName = (dir: 'ing' | 'egr', p: PolicyPod): string => `${dir}-${p.namespace}-${p.name}`.slice(0, 200);

const byName = (policies: NetworkPolicy[]): NetworkPolicy[] =>
  [...policies].sort((a, b) => compareStrings(`${a.metadata?.namespace}/${a.metadata?.name}`, `${b.metadata?.namespace}/${b.metadata?.name}`));

/**
 * The rules (each ending in `return`; the chain's final `drop` is the caller's) of every direction
 * in which `pod` is isolated; a direction no policy isolates is absent. The node's forward table
 * below and the in-namespace tables of NAD interfaces (../multus/nad-firewall.ts) share them.
 */
export function podPolicyRules(input: PolicyInput, pod: PolicyPod, sorted = byName(input.policies)): { egr?: string[]; ing?: string[] } {
  const out: { egr?: string[]; ing?: string[] } = {};
  const selecting = sorted.filter((p) => (p.metadata?.namespace ?? 'default') === pod.namespace && matchesSelector(p.spec?.podSelector ?? {}, pod.labels));
  for (const dir of ['egr', 'ing'] as const) {
    const applying = selecting.filter((p) => (dir === 'ing' ? types(p).ingress : types(p).egress));
    if (applying.length === 0) continue;
    const rules: string[] = [NDP_RULE];
    for (const pol of applying) {
      const ns = pol.metadata?.namespace ?? 'default';
      const polRules = dir === 'ing' ? (pol.spec?.ingress ?? []) : (pol.spec?.egress ?? []);
      for (const r of polRules) {
        const peers = (dir === 'ing' ? (r as { from?: NetworkPolicyPeer[] }).from : (r as { to?: NetworkPolicyPeer[] }).to) ?? [];
        const ports = r.ports ?? [];
        const matches: (PeerMatch | undefined)[] = peers.length ? peers.map((p) => resolvePeer(p, ns, input)) : [undefined];
        for (const m of matches) {
          if (peers.length && !m) continue;
          const peerDir = dir === 'ing' ? 'saddr' : 'daddr';
          if (dir === 'ing' || ports.every((p) => typeof p.port !== 'string')) {
            // the port's owner is the target pod (ingress) or numeric ports need no owner
            const addr = m ? addrMatch(peerDir, m) : [''];
            const portExprs = ports.length ? ports.flatMap((p) => portMatches(p, pod)) : [''];
            for (const a of addr) for (const pe of portExprs) rules.push([a, pe, 'return'].filter((x) => x).join(' '));
          } else {
            // egress with named ports: resolve against each destination pod
            const owners = m?.kind === 'pods' ? m.pods : input.pods;
            for (const owner of owners) {
              const ownerAddr = m?.kind === 'block' ? addrMatch(peerDir, m) : podsAddrMatch(peerDir, [owner]);
              for (const a of ownerAddr) for (const pe of ports.flatMap((p) => portMatches(p, owner))) rules.push(`${a} ${pe} return`);
            }
          }
        }
      }
    }
    out[dir] = [...new Set(rules)];
  }
  return out;
}

/** this node's addressed pods, sorted */
function localTargets(input: PolicyInput): PolicyPod[] {
  const local = input.localPods ?? ((): boolean => true);
  return input.pods.filter((p) => local(p) && (p.ips.length > 0 || (p.ips6?.length ?? 0) > 0)).sort((a, b) => compareStrings(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
}

/** Addresses (both families) of this node's pods that some policy isolates (in either direction): they get chains. */
export function isolatedPodIps(input: PolicyInput): string[] {
  const policies = byName(input.policies);
  const ips = localTargets(input)
    .filter((pod) => {
      const r = podPolicyRules(input, pod, policies);
      return r.egr !== undefined || r.ing !== undefined;
    })
    .flatMap((p) => [...p.ips, ...(p.ips6 ?? [])]);
  return [...new Set(ips)].sort();
}

export function renderPolicyTable(input: PolicyInput, table = POLICY_TABLE): string {
  const policies = byName(input.policies);
  const chains: string[] = [];
  const dispatch = { egr: [] as string[], ing: [] as string[] };
  for (const pod of localTargets(input)) {
    const rules = podPolicyRules(input, pod, policies);
    for (const dir of ['egr', 'ing'] as const) {
      const r = rules[dir];
      if (!r) continue;
      const name = chainName(dir, pod);
      chains.push(`\tchain ${name} {\n${r.map((x) => `\t\t${x}\n`).join('')}\t\tdrop\n\t}`);
      for (const a of podsAddrMatch(dir === 'ing' ? 'daddr' : 'saddr', [pod])) dispatch[dir].push(`\t\t${a} jump ${name}`);
    }
  }
  // egress of the source is checked before ingress of the destination: both must return
  const ordered = [...dispatch.egr, ...dispatch.ing];
  // no pod isolated, no forward hook: under br_netfilter it would see every bridged frame (a
  // ClusterIP flow's, a Service endpoint's replies) to accept each of them
  if (ordered.length === 0) return `table inet ${table} {\n}\n`;
  return [
    `table inet ${table} {`,
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter - 5; policy accept;',
    '\t\tct state established,related accept',
    ...ordered,
    '\t}',
    ...chains,
    '}',
    '',
  ].join('\n');
}

/** The script `nft -f -` loads: the old table (if any) goes in the same transaction. */
export function policyScript(rendered: string, table = POLICY_TABLE): string {
  return `table inet ${table}\ndelete table inet ${table}\n${rendered}`;
}

/** Removes the table (a no-op when it is not there). */
export function policyDeleteScript(table = POLICY_TABLE): string {
  return `table inet ${table}\ndelete table inet ${table}\n`;
}
