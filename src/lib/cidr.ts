/**
 * IPv4 and IPv6 addresses and CIDRs as numbers (bigint: 128 bits do not fit a double), for the
 * pod ranges of a dual-stack cluster. Pure; no domain imports.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type IpFamily = 4 | 6;

/** a network: `base` is its first address (host bits zero), `bits` its prefix length */
export interface Cidr {
  family: IpFamily;
  base: bigint;
  bits: number;
}

const WIDTH: Record<IpFamily, number> = { 4: 32, 6: 128 };

export const familyWidth = (f: IpFamily): number => WIDTH[f];

/** the address as a number; undefined when it is neither IPv4 nor IPv6 */
export function parseIp(ip: string): { family: IpFamily; value: bigint } | undefined {
  if (isIPv4(ip)) return { family: 4, value: ip.split('.').reduce((a, o) => a * 256n + BigInt(Number(o)), 0n) };
  if (!isIPv6(ip) || ip.includes('%')) return undefined;
  let text = ip;
  // an embedded IPv4 tail (::ffff:1.2.3.4) as two hex groups
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = Number(parseIp(v4[1])!.value);
    text = `${text.slice(0, -v4[1].length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { family: 6, value: groups.reduce((a, g) => a * 65536n + BigInt(parseInt(g, 16)), 0n) };
}

/** the canonical text (RFC 5952 for IPv6: lower case, the longest run of zero groups as ::) */
export function formatIp(family: IpFamily, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.');
  const g = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** `10.244.7.9/16` → 10.244.0.0/16 as numbers; undefined when not a CIDR. Host bits are masked off. */
export function parseCidr(s: string): Cidr | undefined {
  const [ip = '', bits, extra] = s.split('/');
  if (extra !== undefined || !/^\d{1,3}$/.test(bits ?? '')) return undefined;
  const a = parseIp(ip);
  const n = Number(bits);
  if (!a || n > WIDTH[a.family]) return undefined;
  const host = (1n << BigInt(WIDTH[a.family] - n)) - 1n;
  return { family: a.family, base: a.value & ~host, bits: n };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.base)}/${c.bits}`;
}

/** number of addresses in the network */
export const cidrSize = (c: Cidr): bigint => 1n << BigInt(WIDTH[c.family] - c.bits);

/** the network address of a CIDR (`10.244.1.0/24` → `10.244.1.0`, `fd00:1::/64` → `fd00:1::`) */
export function networkAddress(cidr: string): string {
  const c = parseCidr(cidr);
  if (!c) throw new TypeError(`${cidr} is not a CIDR`);
  return formatIp(c.family, c.base);
}

/** does `cidr` hold `ip` (false across families or for bad input) */
export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const a = parseIp(ip);
  return c !== undefined && a !== undefined && a.family === c.family && a.value - c.base >= 0n && a.value - c.base < cidrSize(c);
}

/** the family of a CIDR or address, undefined when it is neither */
export function familyOf(s: string): IpFamily | undefined {
  return (s.includes('/') ? parseCidr(s) : parseIp(s))?.family;
}
