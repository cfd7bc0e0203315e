import { isIPv4 } from 'node:net';
import { HedgeError } from '../../lib/errors.ts';

/** An IPv4 network: `base` is the first address as an unsigned 32-bit number. */
export interface Ipv4Cidr {
  base: number;
  bits: number;
}

/** `10.244.0.0/16` → {base, bits}; undefined when not an IPv4 CIDR. Host bits are masked off. */
export function parseIpv4Cidr(s: string): Ipv4Cidr | undefined {
  const [ip, bits, extra] = s.split('/');
  if (extra !== undefined || ip === undefined || !isIPv4(ip) || !/^\d{1,2}$/.test(bits ?? '')) return undefined;
  const n = Number(bits);
  if (n > 32) return undefined;
  const addr = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  return { base: addr - (addr % 2 ** (32 - n)), bits: n };
}

export function formatIpv4Cidr(c: Ipv4Cidr): string {
  const b = c.base;
  return `${Math.floor(b / 2 ** 24) % 256}.${Math.floor(b / 2 ** 16) % 256}.${Math.floor(b / 2 ** 8) % 256}.${b % 256}/${c.bits}`;
}

export interface CidrAllocatorOptions {
  /** the pool, e.g. 10.244.0.0/16 */
  clusterCidr: string;
  /** prefix length of each node's range, e.g. 24 */
  nodeMaskSize: number;
}

/**
 * Hands out fixed-size ranges of a cluster CIDR, lowest free first (upstream's range
 * allocator). Pure and in memory: the controller rebuilds it from the Nodes it sees. Ranges
 * are reference-counted so two Nodes with overlapping pre-set podCIDRs do not free each
 * other's range.
 */
export class CidrAllocator {
  readonly cluster: Ipv4Cidr;
  readonly nodeMaskSize: number;
  /** number of node ranges in the pool */
  readonly size: number;
  readonly #used = new Map<number, number>();

  constructor(opts: CidrAllocatorOptions) {
    const cluster = parseIpv4Cidr(opts.clusterCidr);
    if (!cluster) throw new HedgeError('Invalid', `cluster CIDR ${opts.clusterCidr}: must be an IPv4 CIDR such as 10.244.0.0/16`);
    if (!Number.isInteger(opts.nodeMaskSize) || opts.nodeMaskSize < cluster.bits || opts.nodeMaskSize > 30) {
      throw new HedgeError('Invalid', `node CIDR mask size ${opts.nodeMaskSize}: must be between the cluster CIDR's /${cluster.bits} and /30`);
    }
    if (opts.nodeMaskSize - cluster.bits > 24) {
      throw new HedgeError('Invalid', `node CIDR mask size ${opts.nodeMaskSize}: more than 2^24 node ranges in /${cluster.bits}; use a larger mask`);
    }
    this.cluster = cluster;
    this.nodeMaskSize = opts.nodeMaskSize;
    this.size = 2 ** (opts.nodeMaskSize - cluster.bits);
  }

  get used(): number {
    return this.#used.size;
  }

  /** the lowest free range, now taken; undefined when the pool is exhausted */
  allocate(): string | undefined {
    for (let i = 0; i < this.size; i++) {
      if (this.#used.has(i)) continue;
      this.#used.set(i, 1);
      return formatIpv4Cidr({ base: this.cluster.base + i * 2 ** (32 - this.nodeMaskSize), bits: this.nodeMaskSize });
    }
    return undefined;
  }

  /**
   * Mark a range a Node already has as taken (every node range it overlaps). Returns false
   * (and takes nothing) when it is not an IPv4 CIDR or lies outside the pool.
   */
  occupy(cidr: string): boolean {
    const idx = this.#indices(cidr);
    for (const i of idx) this.#used.set(i, (this.#used.get(i) ?? 0) + 1);
    return idx.length > 0;
  }

  /** undo one allocate() or occupy() of this range */
  release(cidr: string): void {
    for (const i of this.#indices(cidr)) {
      const n = this.#used.get(i) ?? 0;
      if (n <= 1) this.#used.delete(i);
      else this.#used.set(i, n - 1);
    }
  }

  #indices(cidr: string): number[] {
    const c = parseIpv4Cidr(cidr);
    if (!c) return [];
    const step = 2 ** (32 - this.nodeMaskSize);
    const start = Math.max(c.base, this.cluster.base);
    const end = Math.min(c.base + 2 ** (32 - c.bits), this.cluster.base + 2 ** (32 - this.cluster.bits));
    const out: number[] = [];
    for (let a = start - ((start - this.cluster.base) % step); a < end; a += step) out.push((a - this.cluster.base) / step);
    return out;
  }
}
