import { isIPv4, isIPv6 } from 'node:net';
import type { Environment } from '@marcbachmann/cel-js';
import { celError } from './errors.ts';

/** an address as 4 or 16 bytes */
export class CelIp {
  constructor(readonly bytes: number[]) {}
  get family(): 4 | 6 {
    return this.bytes.length === 4 ? 4 : 6;
  }
}

export class CelCidr {
  constructor(readonly ip: CelIp, readonly prefix: number) {}
}

/** the `ip` namespace of ip.isCanonical() */
class IpLibrary {}

/**
 * k8s.io/apiserver/pkg/cel/library/ip.go and cidr.go: ip(), isIP(), ip.isCanonical(), cidr(),
 * isCIDR() and their methods. Like upstream, IPv4-mapped IPv6 and zones are refused.
 */
export function registerIpLibrary(env: Environment): void {
  env.registerType('net.IP', CelIp);
  env.registerType('net.CIDR', CelCidr);
  env.registerType('kubernetes.IPLibrary', IpLibrary);
  env.registerConstant('ip', 'kubernetes.IPLibrary', new IpLibrary());
  env.registerFunction('ip(string): net.IP', (s: string) => parseIpOrThrow(s));
  env.registerFunction('isIP(string): bool', (s: string) => parseIp(s) !== undefined);
  env.registerFunction('kubernetes.IPLibrary.isCanonical(string): bool', (_: IpLibrary, s: string) => formatIp(parseIpOrThrow(s)) === s);
  env.registerFunction('net.IP.family(): int', (ip: CelIp) => BigInt(ip.family));
  env.registerFunction('net.IP.isUnspecified(): bool', (ip: CelIp) => ip.bytes.every((b) => b === 0));
  env.registerFunction('net.IP.isLoopback(): bool', (ip: CelIp) => (ip.family === 4 ? ip.bytes[0] === 127 : ip.bytes.slice(0, 15).every((b) => b === 0) && ip.bytes[15] === 1));
  env.registerFunction('net.IP.isLinkLocalMulticast(): bool', (ip: CelIp) => (ip.family === 4 ? ip.bytes[0] === 224 && ip.bytes[1] === 0 && ip.bytes[2] === 0 : ip.bytes[0] === 0xff && (ip.bytes[1] & 0x0f) === 0x02));
  env.registerFunction('net.IP.isLinkLocalUnicast(): bool', (ip: CelIp) => (ip.family === 4 ? ip.bytes[0] === 169 && ip.bytes[1] === 254 : ip.bytes[0] === 0xfe && (ip.bytes[1] & 0xc0) === 0x80));
  env.registerFunction('net.IP.isGlobalUnicast(): bool', (ip: CelIp) => {
    const b = ip.bytes;
    if (ip.family === 4) return !(b.every((x) => x === 0) || b[0] === 127 || b[0] >= 224 || (b[0] === 169 && b[1] === 254) || b.every((x) => x === 255));
    return !(b.every((x) => x === 0) || (b.slice(0, 15).every((x) => x === 0) && b[15] === 1) || b[0] === 0xff || (b[0] === 0xfe && (b[1] & 0xc0) === 0x80));
  });
  env.registerFunction('string(net.IP): string', (ip: CelIp) => formatIp(ip));
  env.registerOperator('net.IP == net.IP', (a: CelIp, b: CelIp) => formatIp(a) === formatIp(b));

  env.registerFunction('cidr(string): net.CIDR', (s: string) => {
    const c = parseCidr(s);
    if (!c) throw celError(`network address parse error during conversion from string: ${s}`);
    return c;
  });
  env.registerFunction('isCIDR(string): bool', (s: string) => parseCidr(s) !== undefined);
  env.registerFunction('net.CIDR.ip(): net.IP', (c: CelCidr) => c.ip);
  env.registerFunction('net.CIDR.prefixLength(): int', (c: CelCidr) => BigInt(c.prefix));
  env.registerFunction('net.CIDR.masked(): net.CIDR', (c: CelCidr) => new CelCidr(mask(c.ip, c.prefix), c.prefix));
  env.registerFunction('net.CIDR.containsIP(net.IP): bool', (c: CelCidr, ip: CelIp) => contains(c, ip));
  env.registerFunction('net.CIDR.containsIP(string): bool', (c: CelCidr, s: string) => contains(c, parseIpOrThrow(s)));
  env.registerFunction('net.CIDR.containsCIDR(net.CIDR): bool', (c: CelCidr, o: CelCidr) => o.prefix >= c.prefix && contains(c, o.ip));
  env.registerFunction('net.CIDR.containsCIDR(string): bool', (c: CelCidr, s: string) => {
    const o = parseCidr(s);
    if (!o) throw celError(`network address parse error during conversion from string: ${s}`);
    return o.prefix >= c.prefix && contains(c, o.ip);
  });
  env.registerFunction('string(net.CIDR): string', (c: CelCidr) => `${formatIp(c.ip)}/${c.prefix}`);
}

function parseIpOrThrow(s: string): CelIp {
  const ip = parseIp(s);
  if (!ip) throw celError(`IP Address ${JSON.stringify(s)} parse error during conversion from string`);
  return ip;
}

export function parseIp(s: string): CelIp | undefined {
  if (isIPv4(s)) {
    // Go's netip refuses leading zeros (ambiguous octal)
    if (s.split('.').some((p) => p.length > 1 && p.startsWith('0'))) return undefined;
    return new CelIp(s.split('.').map(Number));
  }
  if (!isIPv6(s) || s.includes('%')) return undefined;
  const bytes = v6Bytes(s);
  // IPv4-mapped IPv6 is refused, as upstream does
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return undefined;
  return new CelIp(bytes);
}

function v6Bytes(s: string): number[] {
  let text = s;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail.push(...v4[1].split('.').map(Number));
    text = `${text.slice(0, -v4[1].length)}0:0`;
  }
  const [head, rest] = text.split('::');
  const h = head ? head.split(':') : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill('0'), ...r];
  const bytes = groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

export function formatIp(ip: CelIp): string {
  if (ip.family === 4) return ip.bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((ip.bytes[i] << 8) | ip.bytes[i + 1]);
  // the longest run of two or more zero groups becomes ::
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function parseCidr(s: string): CelCidr | undefined {
  const slash = s.lastIndexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(p) || (p.length > 1 && p.startsWith('0'))) return undefined;
  const prefix = Number(p);
  if (prefix > ip.bytes.length * 8) return undefined;
  return new CelCidr(ip, prefix);
}

function mask(ip: CelIp, prefix: number): CelIp {
  return new CelIp(ip.bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    return b & ((0xff << (8 - bits)) & 0xff);
  }));
}

function contains(c: CelCidr, ip: CelIp): boolean {
  if (ip.family !== c.ip.family) return false;
  return formatIp(mask(ip, c.prefix)) === formatIp(mask(c.ip, c.prefix));
}
