import type { Environment } from '@marcbachmann/cel-js';
import { familyWidth, formatIp as formatIpNumber, parseIp as parseIpNumber, type IpFamily } from '../../lib/cidr.ts';
import { celError } from './errors.ts';

/** an address: its family and value (lib/cidr's form), with its bytes for the predicates */
export class CelIp {
  constructor(
    readonly family: IpFamily,
    readonly value: bigint,
  ) {}
  get bytes(): number[] {
    const n = familyWidth(this.family) / 8;
    return Array.from({ length: n }, (_, i) => Number((this.value >> BigInt(8 * (n - 1 - i))) & 255n));
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
  const ip = parseIpNumber(s);
  if (!ip) return undefined;
  // Go's netip refuses leading zeros (ambiguous octal)
  if (ip.family === 4 && s.split('.').some((p) => p.length > 1 && p.startsWith('0'))) return undefined;
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is refused, as upstream does
  if (ip.family === 6 && ip.value >> 32n === 0xffffn) return undefined;
  return new CelIp(ip.family, ip.value);
}

export function formatIp(ip: CelIp): string {
  return formatIpNumber(ip.family, ip.value);
}

function parseCidr(s: string): CelCidr | undefined {
  const slash = s.lastIndexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(p) || (p.length > 1 && p.startsWith('0'))) return undefined;
  const prefix = Number(p);
  if (prefix > familyWidth(ip.family)) return undefined;
  return new CelCidr(ip, prefix);
}

function mask(ip: CelIp, prefix: number): CelIp {
  const width = familyWidth(ip.family);
  const m = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(width - prefix);
  return new CelIp(ip.family, ip.value & m);
}

function contains(c: CelCidr, ip: CelIp): boolean {
  return ip.family === c.ip.family && mask(ip, c.prefix).value === mask(c.ip, c.prefix).value;
}
