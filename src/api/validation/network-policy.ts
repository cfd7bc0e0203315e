import { isIP } from 'node:net';
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from 'kubernetes-types/networking/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import { validateLabelSelector } from '../labels/validate.ts';
import { child, duplicate, forbidden, index, invalid, notSupported, required, tooMany } from '../meta/field-errors.ts';
import { isValidPortName, isValidPortNum } from '../meta/name-formats.ts';
import type { KubeObject } from '../object.ts';

/**
 * networking/v1 NetworkPolicy: SetDefaults_NetworkPolicy(Port) and ValidateNetworkPolicySpec
 * from k8s.io/kubernetes/pkg/apis/networking — the rules users hit: selectors, ports (named,
 * numeric, endPort), one peer type per peer, ipBlock CIDRs with `except` inside them.
 */

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const POLICY_TYPES = ['Ingress', 'Egress'];

/** upstream defaulting: protocol TCP; no policyTypes = Ingress, plus Egress when egress rules exist */
export function defaultNetworkPolicy(obj: KubeObject): void {
  const spec = (obj as NetworkPolicy).spec;
  if (!spec || typeof spec !== 'object') return;
  const rules = [...(Array.isArray(spec.ingress) ? spec.ingress : []), ...(Array.isArray(spec.egress) ? spec.egress : [])];
  for (const r of rules) {
    if (!r || typeof r !== 'object' || !Array.isArray(r.ports)) continue;
    for (const p of r.ports) if (p && typeof p === 'object') p.protocol ??= 'TCP';
  }
  if (!spec.policyTypes || spec.policyTypes.length === 0) {
    spec.policyTypes = ['Ingress', ...(Array.isArray(spec.egress) && spec.egress.length > 0 ? ['Egress'] : [])];
  }
}

/** `a.b.c.d/n` or `x::/n`: [family, address bits as bigint, prefix] or undefined */
function parseCidr(s: string): { v6: boolean; addr: bigint; bits: number } | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const fam = isIP(m[1] ?? '');
  const bits = Number(m[2]);
  if (fam === 0 || bits > (fam === 4 ? 32 : 128)) return undefined;
  const ip = m[1] ?? '';
  if (fam === 4) return { v6: false, addr: ip.split('.').reduce((a, o) => (a << 8n) | BigInt(o), 0n), bits };
  const [head = '', tail = ''] = ip.includes('::') ? ip.split('::') : [ip, ''];
  const groups = (x: string): string[] => (x === '' ? [] : x.split(':'));
  const h = groups(head);
  const t = groups(tail);
  if (t.some((g) => g.includes('.')) || h.some((g) => g.includes('.'))) return { v6: true, addr: 0n, bits }; // v4-mapped: syntax only
  const all = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { v6: true, addr: all.reduce((a, g) => (a << 16n) | BigInt(`0x${g || '0'}`), 0n), bits };
}

function within(inner: { v6: boolean; addr: bigint; bits: number }, outer: { v6: boolean; addr: bigint; bits: number }): boolean {
  if (inner.v6 !== outer.v6 || inner.bits <= outer.bits) return false;
  const width = BigInt(inner.v6 ? 128 : 32);
  const shift = width - BigInt(outer.bits);
  return inner.addr >> shift === outer.addr >> shift;
}

function validatePorts(ports: NetworkPolicyPort[], path: string, causes: FieldCause[]): void {
  ports.forEach((p, i) => {
    const pp = index(path, i);
    if (p.protocol !== undefined && !PROTOCOLS.includes(p.protocol)) causes.push(notSupported(child(pp, 'protocol'), p.protocol, PROTOCOLS));
    if (p.port === undefined) {
      if (p.endPort !== undefined) causes.push(required(child(pp, 'port'), 'when endPort is specified'));
      return;
    }
    if (typeof p.port === 'number') {
      for (const msg of isValidPortNum(p.port)) causes.push(invalid(child(pp, 'port'), p.port, msg));
      if (p.endPort !== undefined) {
        if (typeof p.endPort !== 'number' || !Number.isInteger(p.endPort) || p.endPort < p.port) causes.push(invalid(child(pp, 'endPort'), p.endPort, 'must be greater than or equal to `port`'));
        else for (const msg of isValidPortNum(p.endPort)) causes.push(invalid(child(pp, 'endPort'), p.endPort, msg));
      }
    } else if (typeof p.port === 'string') {
      if (p.endPort !== undefined) causes.push(invalid(child(pp, 'endPort'), p.endPort, 'may not be specified when `port` is non-numeric'));
      for (const msg of isValidPortName(p.port)) causes.push(invalid(child(pp, 'port'), p.port, msg));
    } else {
      causes.push(invalid(child(pp, 'port'), p.port, 'must be an integer or a port name'));
    }
  });
}

function validatePeers(peers: NetworkPolicyPeer[], path: string, causes: FieldCause[]): void {
  peers.forEach((peer, i) => {
    const pp = index(path, i);
    let kinds = 0;
    if (peer.podSelector !== undefined) {
      kinds = 1;
      causes.push(...validateLabelSelector(peer.podSelector, child(pp, 'podSelector')));
    }
    if (peer.namespaceSelector !== undefined) {
      kinds = 1;
      causes.push(...validateLabelSelector(peer.namespaceSelector, child(pp, 'namespaceSelector')));
    }
    if (peer.ipBlock !== undefined) {
      kinds++;
      const bp = child(pp, 'ipBlock');
      const cidr = typeof peer.ipBlock.cidr === 'string' ? parseCidr(peer.ipBlock.cidr) : undefined;
      if (!peer.ipBlock.cidr) causes.push(required(child(bp, 'cidr')));
      else if (!cidr) causes.push(invalid(child(bp, 'cidr'), peer.ipBlock.cidr, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
      (peer.ipBlock.except ?? []).forEach((e, j) => {
        const ep = index(child(bp, 'except'), j);
        const ex = typeof e === 'string' ? parseCidr(e) : undefined;
        if (!ex) causes.push(invalid(ep, e, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
        else if (cidr && !within(ex, cidr)) causes.push(invalid(ep, e, 'must be a strict subset of `cidr`'));
      });
    }
    if (kinds === 0) causes.push(required(pp, 'must specify a peer'));
    else if (kinds > 1) causes.push(forbidden(pp, 'may not specify more than 1 peer type'));
  });
}

export function validateNetworkPolicy(obj: KubeObject): FieldCause[] {
  const np = obj as NetworkPolicy;
  const spec = np.spec;
  const causes: FieldCause[] = [];
  if (!spec || typeof spec !== 'object') return [required('spec')];
  if (spec.podSelector === undefined) causes.push(required('spec.podSelector'));
  else causes.push(...validateLabelSelector(spec.podSelector, 'spec.podSelector'));
  (spec.ingress ?? []).forEach((r, i) => {
    const rp = index('spec.ingress', i);
    validatePorts(r.ports ?? [], child(rp, 'ports'), causes);
    validatePeers(r.from ?? [], child(rp, 'from'), causes);
  });
  (spec.egress ?? []).forEach((r, i) => {
    const rp = index('spec.egress', i);
    validatePorts(r.ports ?? [], child(rp, 'ports'), causes);
    validatePeers(r.to ?? [], child(rp, 'to'), causes);
  });
  const types = spec.policyTypes ?? [];
  if (types.length > 2) causes.push(tooMany('spec.policyTypes', types.length, 2));
  const seen = new Set<string>();
  types.forEach((t, i) => {
    const tp = index('spec.policyTypes', i);
    if (!POLICY_TYPES.includes(t)) causes.push(notSupported(tp, t, POLICY_TYPES));
    else if (seen.has(t)) causes.push(duplicate(tp, t));
    seen.add(t);
  });
  return causes;
}
