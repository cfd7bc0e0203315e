import { formatCidr, formatIp, parseCidr, parseIp, type IpFamily } from '../../lib/cidr.ts';
import { HedgeError } from '../../lib/errors.ts';

/** A Service range: addresses `base+1 … base+size-2` can be handed out (no network/broadcast address). */
export interface ServiceIpRange {
  readonly cidr: string;
  readonly family: IpFamily;
  readonly base: bigint;
  readonly bits: number;
  /** number of addresses in the CIDR (at most 2^20: an IPv6 range is /108 or longer, as upstream's) */
  readonly size: number;
}

export interface NodePortRange {
  readonly text: string;
  readonly min: number;
  readonly max: number;
}

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
export const DEFAULT_NODE_PORT_RANGE = '30000-32767';
/** prefix lengths a Service range may have, per family */
const SERVICE_BITS: Record<IpFamily, [number, number]> = { 4: [8, 30], 6: [108, 124] };

const RANGE_RULE = `must be an IPv4 CIDR between /8 and /30 (such as ${DEFAULT_SERVICE_CIDR}) or an IPv6 CIDR between /108 and /124 (such as fd00:96::/108)`;

/** the upstream spelling of a family in `spec.ipFamilies` */
export const familyName = (f: IpFamily): 'IPv4' | 'IPv6' => (f === 4 ? 'IPv4' : 'IPv6');

/** `10.96.0.0/12` or `fd00:96::/108` → the range; a HedgeError('Invalid') naming the flag otherwise. */
export function parseServiceIpRange(text: string): ServiceIpRange {
  const c = parseCidr(text.trim());
  if (!c || c.bits < SERVICE_BITS[c.family][0] || c.bits > SERVICE_BITS[c.family][1]) throw new HedgeError('Invalid', `--service-cluster-ip-range ${text}: ${RANGE_RULE}`);
  const width = c.family === 4 ? 32 : 128;
  return { cidr: formatCidr(c), family: c.family, base: c.base, bits: c.bits, size: 2 ** (width - c.bits) };
}

/**
 * `--service-cluster-ip-range` as kube-apiserver takes it: one range, or an IPv4 and an IPv6 range
 * separated by a comma for dual-stack Services. The first is the primary family (Services that ask
 * for nothing get it, the `kubernetes` Service holds its first address); IPv4 comes first here, as
 * for `--cluster-cidr` (IPv6-only clusters are not supported).
 */
export function parseServiceIpRanges(list: string): ServiceIpRange[] {
  const parts = list.split(',').map((p) => p.trim());
  if (parts.length > 2) throw new HedgeError('Invalid', `--service-cluster-ip-range ${list}: at most two ranges, an IPv4 and an IPv6 one`);
  const out = parts.map((p) => {
    try {
      return parseServiceIpRange(p);
    } catch {
      throw new HedgeError('Invalid', `--service-cluster-ip-range ${list}: ${parts.length > 1 ? `${p}: ` : ''}${RANGE_RULE}`);
    }
  });
  if (out[0]?.family !== 4) throw new HedgeError('Invalid', `--service-cluster-ip-range ${list}: the first range must be IPv4 (IPv6 may come second, e.g. ${DEFAULT_SERVICE_CIDR},fd00:96::/108)`);
  if (out[1]?.family === 4) throw new HedgeError('Invalid', `--service-cluster-ip-range ${list}: the second range must be IPv6 (dual-stack is one IPv4 and one IPv6 range)`);
  return out;
}

/** `30000-32767` → the range (inclusive). */
export function parseNodePortRange(text: string): NodePortRange {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1 || max > 65535 || min > max) {
    throw new HedgeError('Invalid', `--service-node-port-range ${text}: must be MIN-MAX within 1-65535, such as ${DEFAULT_NODE_PORT_RANGE}`);
  }
  return { text: `${min}-${max}`, min, max };
}

/** offset of `ip` inside the range, or undefined when it is outside, of the other family, or the network/broadcast address */
export function offsetInRange(range: ServiceIpRange, ip: string): number | undefined {
  const a = parseIp(ip);
  if (!a || a.family !== range.family) return undefined;
  const off = a.value - range.base;
  return off >= 1n && off <= BigInt(range.size - 2) ? Number(off) : undefined;
}

/** the address at `offset` in the range */
export function addressAt(range: ServiceIpRange, offset: number): string {
  return formatIp(range.family, range.base + BigInt(offset));
}

/** The first usable address: upstream gives it to the `kubernetes` Service in `default`. */
export function firstServiceIp(range: ServiceIpRange): string {
  return addressAt(range, 1);
}
