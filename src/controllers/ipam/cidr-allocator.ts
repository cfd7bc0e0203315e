import { cidrSize, familyWidth, formatCidr, parseCidr, type Cidr, type IpFamily } from '../../lib/cidr.ts';
import { HedgeError } from '../../lib/errors.ts';

/** An IPv4 network: `base` is the first address as an unsigned 32-bit number. */
export interface Ipv4Cidr {
  base: number;
  bits: number;
}

/** `10.244.0.0/16` → {base, bits}; undefined when not an IPv4 CIDR. Host bits are masked off. */
export function parseIpv4Cidr(s: string): Ipv4Cidr | undefined {
  const c = parseCidr(s);
  return c?.family === 4 ? { base: Number(c.base), bits: c.bits } : undefined;
}

export function formatIpv4Cidr(c: Ipv4Cidr): string {
  return formatCidr({ family: 4, base: BigInt(c.base), bits: c.bits });
}

export interface CidrAllocatorOptions {
  /** the pool, e.g. 10.244.0.0/16 or fd00:10:244::/56 */
  clusterCidr: string;
  /** prefix length of each node's range, e.g. 24 (IPv4) or 64 (IPv6) */
  nodeMaskSize: number;
}

/** the longest node prefix per family: host-local needs a few addresses besides the gateway */
const MAX_NODE_MASK: Record<IpFamily, number> = { 4: 30, 6: 126 };

/**
 * Hands out fixed-size ranges of one cluster CIDR (IPv4 or IPv6), lowest free first (upstream's
 * range allocator). Pure and in memory: the controller rebuilds it from the Nodes it sees.
 * Ranges are reference-counted so two Nodes with overlapping pre-set podCIDRs do not free each
 * other's range.
 */
export class CidrAllocator {
  readonly cluster: Cidr;
  readonly nodeMaskSize: number;
  /** number of node ranges in the pool */
  readonly size: number;
  readonly #step: bigint;
  readonly #used = new Map<number, number>();

  constructor(opts: CidrAllocatorOptions) {
    const cluster = parseCidr(opts.clusterCidr);
    if (!cluster) throw new HedgeError('Invalid', `cluster CIDR ${opts.clusterCidr}: must be a CIDR such as 10.244.0.0/16 or fd00:10:244::/56`);
    const max = MAX_NODE_MASK[cluster.family];
    if (!Number.isInteger(opts.nodeMaskSize) || opts.nodeMaskSize < cluster.bits || opts.nodeMaskSize > max) {
      throw new HedgeError('Invalid', `node CIDR mask size ${opts.nodeMaskSize}: must be between the cluster CIDR's /${cluster.bits} and /${max}`);
    }
    if (opts.nodeMaskSize - cluster.bits > 24) {
      throw new HedgeError('Invalid', `node CIDR mask size ${opts.nodeMaskSize}: more than 2^24 node ranges in /${cluster.bits}; use a larger mask`);
    }
    this.cluster = cluster;
    this.nodeMaskSize = opts.nodeMaskSize;
    this.size = 2 ** (opts.nodeMaskSize - cluster.bits);
    this.#step = 1n << BigInt(familyWidth(cluster.family) - opts.nodeMaskSize);
  }

  get family(): IpFamily {
    return this.cluster.family;
  }

  get used(): number {
    return this.#used.size;
  }

  /** the pool as text, e.g. 10.244.0.0/16 */
  toString(): string {
    return formatCidr(this.cluster);
  }

  /** the lowest free range, now taken; undefined when the pool is exhausted */
  allocate(): string | undefined {
    for (let i = 0; i < this.size; i++) {
      if (this.#used.has(i)) continue;
      this.#used.set(i, 1);
      return formatCidr({ family: this.cluster.family, base: this.cluster.base + BigInt(i) * this.#step, bits: this.nodeMaskSize });
    }
    return undefined;
  }

  /**
   * Mark a range a Node already has as taken (every node range it overlaps). Returns false
   * (and takes nothing) when it is not a CIDR of the pool's family or lies outside the pool.
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
    const c = parseCidr(cidr);
    if (!c || c.family !== this.cluster.family) return [];
    const step = this.#step;
    const start = c.base > this.cluster.base ? c.base : this.cluster.base;
    const cEnd = c.base + cidrSize(c);
    const poolEnd = this.cluster.base + cidrSize(this.cluster);
    const end = cEnd < poolEnd ? cEnd : poolEnd;
    const out: number[] = [];
    for (let a = start - ((start - this.cluster.base) % step); a < end; a += step) out.push(Number((a - this.cluster.base) / step));
    return out;
  }
}
