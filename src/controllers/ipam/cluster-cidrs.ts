import { formatCidr, parseCidr, type Cidr } from '../../lib/cidr.ts';
import { HedgeError } from '../../lib/errors.ts';

export interface CidrListBounds {
  /** the prefix lengths allowed, per family */
  4: readonly [number, number];
  6: readonly [number, number];
}

/** the prefix lengths a cluster CIDR may have, per family */
const CLUSTER_BITS: CidrListBounds = { 4: [8, 28], 6: [8, 120] };

/**
 * `--cluster-cidr` as kube-controller-manager takes it: one CIDR, or a comma list of at most one
 * per family for dual-stack. Here the first is IPv4 (Nodes' `spec.podCIDR`, pods' `podIP`), so an
 * IPv6 range only comes second. A node's own ranges (`--pod-subnet`) follow the same rules with
 * other `bounds`. Returns the canonical CIDRs in order; throws HedgeError Invalid
 * naming what is wrong.
 */
export function parseClusterCidrs(list: string, bounds: CidrListBounds = CLUSTER_BITS): Cidr[] {
  const parts = list.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new HedgeError('Invalid', `${list}: an empty entry; give one CIDR or an IPv4 and an IPv6 CIDR separated by a comma`);
  if (parts.length > 2) throw new HedgeError('Invalid', `${list}: at most two CIDRs (one IPv4, one IPv6)`);
  const out: Cidr[] = [];
  for (const p of parts) {
    const c = parseCidr(p);
    if (!c) throw new HedgeError('Invalid', `${list}: ${p} is not a CIDR such as 10.244.0.0/16 or fd00:10:244::/56`);
    const [lo, hi] = bounds[c.family];
    if (c.bits < lo || c.bits > hi) throw new HedgeError('Invalid', `${list}: ${p} must be an IPv${c.family} CIDR between /${lo} and /${hi}`);
    if (out.some((o) => o.family === c.family)) throw new HedgeError('Invalid', `${list}: at most one IPv${c.family} CIDR (dual-stack is one IPv4 and one IPv6)`);
    out.push(c);
  }
  if (out[0]?.family !== 4) throw new HedgeError('Invalid', `${list}: the first CIDR must be IPv4 (IPv6-only clusters are not supported), e.g. 10.244.0.0/16,fd00:10:244::/56`);
  return out;
}

/** the canonical comma list (host bits cleared) */
export const formatClusterCidrs = (cidrs: Cidr[]): string => cidrs.map(formatCidr).join(',');
