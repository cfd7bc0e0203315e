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
 * IPv6 `ipBlock` peers match nothing here: rules are IPv4. A dual-stack pod's IPv6 traffic in a
 * direction a policy isolates is dropped (fail closed: NetworkPolicy over IPv6 is not rendered
 * yet, and an isolated pod must not be reachable around it). The policy controller
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
  /** IPv6 addresses (dual-stack pods): denied in every direction a policy isolates */
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

/** Where a peer lets traffic from/to: addresses of matching pods, or a CIDR minus exceptions. */
type PeerMatch = { kind: 'pods'; pods: PolicyPod[] } | { kind: 'block'; cidr: string; except: string[] };

function resolvePeer(peer: NetworkPolicyPeer, policyNs: string, input: PolicyInput): PeerMatch | undefined {
  if (peer.ipBlock) {
    // an IPv6 block allows no IPv4 traffic; IPv6 excepts are irrelevant to an IPv4 block
    if (peer.ipBlock.cidr.includes(':')) return { kind: 'pods', pods: [] };
    return { kind: 'block', cidr: peer.ipBlock.cidr, except: (peer.ipBlock.except ?? []).filter((e) => !e.includes(':')) };
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

function addrMatch(dir: 'saddr' | 'daddr', m: PeerMatch, ips: string[]): string[] {
  if (m.kind === 'block') return [`ip ${dir} ${m.cidr}${m.except.length ? ` ip ${dir} != ${set(m.except)}` : ''}`];
  return ips.length ? [`ip ${dir} ${set(ips)}`] : [];
}

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
    const rules: string[] = [];
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
            const peerIps = m?.kind === 'pods' ? [...new Set(m.pods.flatMap((p) => p.ips))].sort() : [];
            const addr = m ? addrMatch(peerDir, m, peerIps) : [''];
            const portExprs = ports.length ? ports.flatMap((p) => portMatches(p, pod)) : [''];
            for (const a of addr) for (const pe of portExprs) rules.push([a, pe, 'return'].filter((x) => x).join(' '));
          } else {
            // egress with named ports: resolve against each destination pod
            const owners = m?.kind === 'pods' ? m.pods : input.pods;
            for (const owner of owners) {
              const ownerAddr = m?.kind === 'block' ? addrMatch(peerDir, m, []) : owner.ips.length ? [`ip daddr ${set([...owner.ips].sort())}`] : [];
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
  return input.pods.filter((p) => local(p) && p.ips.length > 0).sort((a, b) => compareStrings(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
}

/** Addresses of this node's pods that some policy isolates (in either direction): they get chains. */
export function isolatedPodIps(input: PolicyInput): string[] {
  const policies = byName(input.policies);
  const ips = localTargets(input)
    .filter((pod) => {
      const r = podPolicyRules(input, pod, policies);
      return r.egr !== undefined || r.ing !== undefined;
    })
    .flatMap((p) => p.ips);
  return [...new Set(ips)].sort();
}

export function renderPolicyTable(input: PolicyInput, table = POLICY_TABLE): string {
  const policies = byName(input.policies);
  const chains: string[] = [];
  const dispatch: string[] = [];
  for (const pod of localTargets(input)) {
    const rules = podPolicyRules(input, pod, policies);
    for (const dir of ['egr', 'ing'] as const) {
      const r = rules[dir];
      if (!r) continue;
      const name = chainName(dir, pod);
      chains.push(`\tchain ${name} {\n${r.map((x) => `\t\t${x}\n`).join('')}\t\tdrop\n\t}`);
      dispatch.push(`\t\tip ${dir === 'ing' ? 'daddr' : 'saddr'} ${set([...pod.ips].sort())} jump ${name}`);
      if (pod.ips6?.length) dispatch.push(`\t\tip6 ${dir === 'ing' ? 'daddr' : 'saddr'} ${set([...pod.ips6].sort())} drop`);
    }
  }
  // egress of the source is checked before ingress of the destination: both must return
  const ordered = [...dispatch.filter((d) => d.includes(' drop')), ...dispatch.filter((d) => d.includes(' jump egr-')), ...dispatch.filter((d) => d.includes(' jump ing-'))];
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
