import { isIPv4 } from 'node:net';
import { HedgeError } from '../../lib/errors.ts';

/** An IPv4 Service range: addresses `base+1 … base+size-2` can be handed out (no network/broadcast). */
export interface ServiceIpRange {
  readonly cidr: string;
  readonly base: number;
  readonly bits: number;
  /** number of addresses in the CIDR */
  readonly size: number;
}

export interface NodePortRange {
  readonly text: string;
  readonly min: number;
  readonly max: number;
}

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
export const DEFAULT_NODE_PORT_RANGE = '30000-32767';

export function ipv4ToNumber(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

export function numberToIpv4(n: number): string {
  return `${Math.floor(n / 2 ** 24) % 256}.${Math.floor(n / 2 ** 16) % 256}.${Math.floor(n / 2 ** 8) % 256}.${n % 256}`;
}

/** `10.96.0.0/12` → the range; a HedgeError('Invalid') naming the flag otherwise. IPv4 only, /8 … /30. */
export function parseServiceIpRange(text: string): ServiceIpRange {
  const [ip, bits, extra] = text.split('/');
  const n = Number(bits);
  if (extra !== undefined || ip === undefined || !isIPv4(ip) || !/^\d{1,2}$/.test(bits ?? '') || n < 8 || n > 30) {
    throw new HedgeError('Invalid', `--service-cluster-ip-range ${text}: must be an IPv4 CIDR between /8 and /30, such as ${DEFAULT_SERVICE_CIDR}`);
  }
  const addr = ipv4ToNumber(ip);
  const size = 2 ** (32 - n);
  const base = addr - (addr % size);
  return { cidr: `${numberToIpv4(base)}/${n}`, base, bits: n, size };
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

/** offset of `ip` inside the range, or undefined when it is outside or the network/broadcast address */
export function offsetInRange(range: ServiceIpRange, ip: string): number | undefined {
  if (!isIPv4(ip)) return undefined;
  const off = ipv4ToNumber(ip) - range.base;
  return off >= 1 && off <= range.size - 2 ? off : undefined;
}

/** The first usable address: upstream gives it to the `kubernetes` Service in `default`. */
export function firstServiceIp(range: ServiceIpRange): string {
  return numberToIpv4(range.base + 1);
}
