import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from 'kubernetes-types/networking/v1.js';
import { type Cidr, familyWidth, parseCidr } from '../../lib/cidr.ts';
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
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** a list field: absent → [], not a list → a cause */
function list(v: unknown, path: string, causes: FieldCause[]): unknown[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v;
  causes.push(invalid(path, v, 'must be a list'));
  return [];
}
/** a struct field: absent → undefined, not an object → a cause */
function struct(v: unknown, path: string, causes: FieldCause[]): Obj | undefined {
  if (v === undefined || v === null) return undefined;
  if (isObj(v)) return v;
  causes.push(invalid(path, v, 'must be an object'));
  return undefined;
}
/** selectors are validated only when they are objects (else a cause) */
function selector(v: unknown, path: string, causes: FieldCause[]): void {
  const o = struct(v, path, causes);
  if (o) causes.push(...validateLabelSelector(o, path));
}
const POLICY_TYPES = ['Ingress', 'Egress'];

/** upstream defaulting: protocol TCP; no policyTypes = Ingress, plus Egress when egress rules exist */
export function defaultNetworkPolicy(obj: KubeObject): void {
  const spec = (obj as NetworkPolicy).spec;
  if (!isObj(spec)) return;
  const rules: unknown[] = [...(Array.isArray(spec.ingress) ? spec.ingress : []), ...(Array.isArray(spec.egress) ? spec.egress : [])];
  for (const r of rules) {
    if (!isObj(r) || !Array.isArray(r.ports)) continue;
    for (const p of r.ports as unknown[]) if (isObj(p)) p.protocol ??= 'TCP';
  }
  if (spec.policyTypes === undefined || spec.policyTypes === null || (Array.isArray(spec.policyTypes) && spec.policyTypes.length === 0)) {
    spec.policyTypes = ['Ingress', ...(Array.isArray(spec.egress) && spec.egress.length > 0 ? ['Egress'] : [])];
  }
}

/** a strict subnet of `outer` (same family, longer prefix, same leading bits) */
function within(inner: Cidr, outer: Cidr): boolean {
  if (inner.family !== outer.family || inner.bits <= outer.bits) return false;
  const shift = BigInt(familyWidth(outer.family) - outer.bits);
  return inner.base >> shift === outer.base >> shift;
}

function validatePorts(raw: unknown, path: string, causes: FieldCause[]): void {
  list(raw, path, causes).forEach((item, i) => {
    const pp = index(path, i);
    const o = struct(item, pp, causes);
    if (!o) return;
    const p = o as NetworkPolicyPort;
    if (p.protocol !== undefined && p.protocol !== null && !PROTOCOLS.includes(p.protocol)) causes.push(notSupported(child(pp, 'protocol'), p.protocol, PROTOCOLS));
    if (p.port === undefined || p.port === null) {
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

function validatePeers(raw: unknown, path: string, causes: FieldCause[]): void {
  list(raw, path, causes).forEach((item, i) => {
    const pp = index(path, i);
    const peer = struct(item, pp, causes) as NetworkPolicyPeer | undefined;
    if (!peer) return;
    let kinds = 0;
    if (peer.podSelector !== undefined && peer.podSelector !== null) {
      kinds = 1;
      selector(peer.podSelector, child(pp, 'podSelector'), causes);
    }
    if (peer.namespaceSelector !== undefined && peer.namespaceSelector !== null) {
      kinds = 1;
      selector(peer.namespaceSelector, child(pp, 'namespaceSelector'), causes);
    }
    const block = struct(peer.ipBlock, child(pp, 'ipBlock'), causes);
    if (block) {
      kinds++;
      const bp = child(pp, 'ipBlock');
      const cidr = typeof block.cidr === 'string' ? parseCidr(block.cidr) : undefined;
      if (!block.cidr) causes.push(required(child(bp, 'cidr')));
      else if (!cidr) causes.push(invalid(child(bp, 'cidr'), block.cidr, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
      list(block.except, child(bp, 'except'), causes).forEach((e, j) => {
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
  const causes: FieldCause[] = [];
  const spec = struct((obj as { spec?: unknown }).spec, 'spec', causes);
  if (!spec) return causes.length ? causes : [required('spec')];
  if (spec.podSelector === undefined || spec.podSelector === null) causes.push(required('spec.podSelector'));
  else selector(spec.podSelector, 'spec.podSelector', causes);
  list(spec.ingress, 'spec.ingress', causes).forEach((item, i) => {
    const rp = index('spec.ingress', i);
    const r = struct(item, rp, causes);
    if (!r) return;
    validatePorts(r.ports, child(rp, 'ports'), causes);
    validatePeers(r.from, child(rp, 'from'), causes);
  });
  list(spec.egress, 'spec.egress', causes).forEach((item, i) => {
    const rp = index('spec.egress', i);
    const r = struct(item, rp, causes);
    if (!r) return;
    validatePorts(r.ports, child(rp, 'ports'), causes);
    validatePeers(r.to, child(rp, 'to'), causes);
  });
  const types = list(spec.policyTypes, 'spec.policyTypes', causes);
  if (types.length > 2) causes.push(tooMany('spec.policyTypes', types.length, 2));
  const seen = new Set<string>();
  types.forEach((t, i) => {
    const tp = index('spec.policyTypes', i);
    if (typeof t !== 'string' || !POLICY_TYPES.includes(t)) causes.push(notSupported(tp, t, POLICY_TYPES));
    else {
      if (seen.has(t)) causes.push(duplicate(tp, t));
      seen.add(t);
    }
  });
  return causes;
}
