/**
 * The pod → pod fast path of a bridge network: `table netdev hedge-guard-<bridge>`, an ingress
 * hook on every guarded pod port that hands an IPv4 frame straight to the destination pod's port
 * (`fwd to`), so it never enters the bridge — nor `br_netfilter`, which makes every bridged IPv4
 * frame walk the IP stack's prerouting/forward/postrouting hooks and conntrack (bench/bridge-path.ts:
 * ≈ 25 points of TCP_RR together). Only frames that provably need none of that take it:
 *
 *   - IPv4, TCP or UDP (or ICMP echo), from a guarded port carrying that port's own source address
 *     (the guard's anti-spoofing check, repeated here because the bridge hook is skipped);
 *   - to the address of another guarded pod port of this bridge (`port4`: address → port);
 *   - neither address isolated by a NetworkPolicy (`slow4`, fed by the policy controller): their
 *     traffic goes the bridge way, through the policy table and conntrack (replies of allowed
 *     connections pass by `ct state`);
 *   - not sent from a Service endpoint's address and port (`endpoints4`, fed by the service proxy),
 *     nor from a pod's hostPort target (`hostports4`, per pod, from its port mappings): that may
 *     be the reply of a connection the proxy or portmap DNATed, which conntrack must un-NAT.
 *
 * Everything else (ARP, IPv6, broadcast, to the node or other nodes, Services, fragments past the
 * first) is left alone and takes the bridge as before. The ingress hook runs before the bridge's
 * rx handler, so a forwarded frame is not seen by the bridge guard; the same source check is the
 * first match here. Pure script builders; PodGuard (pod-guard.ts) runs them.
 */

/** the base chain (an ingress hook on each pod port, listed in `devices`) */
export const FAST_CHAIN = 'fast';
const PRIORITY = -500;

/** A Service endpoint whose replies must go through conntrack. */
export interface SlowEndpoint {
  ip: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  port: number;
}

/** sets and map of the netdev table (`add` is idempotent, elements are kept) */
export function fastPathDecls(t: string): string[] {
  return [
    `add table netdev ${t}`,
    `add set netdev ${t} pods4 { type ifname . ipv4_addr; }`,
    `add map netdev ${t} port4 { type ipv4_addr : iface_index; }`,
    `add set netdev ${t} slow4 { type ipv4_addr; }`,
    `add set netdev ${t} endpoints4 { type ipv4_addr . inet_proto . inet_service; }`,
    `add set netdev ${t} hostports4 { type ipv4_addr . inet_proto . inet_service; }`,
  ];
}

/**
 * The base chain hooked on `ports` (recreated: a device cannot be taken out of a netdev chain by
 * this nft, and a chain needs at least one device — none, no chain), in the caller's transaction.
 */
export function fastPathChain(t: string, ports: string[], exists: boolean): string[] {
  const lines = exists ? [`delete chain netdev ${t} ${FAST_CHAIN}`] : [];
  if (ports.length === 0) return lines;
  const c = `netdev ${t} ${FAST_CHAIN}`;
  // most selective first: a frame that stays slow (to a ClusterIP, the node or beyond; a Service
  // endpoint's reply) leaves after one or two lookups — it pays this hook on top of the bridge path
  const common = 'iifname . ip saddr @pods4 ip saddr != @slow4 ip daddr != @slow4';
  return [
    ...lines,
    `add chain ${c} { type filter hook ingress devices = { ${ports.map((p) => `"${p}"`).join(', ')} } priority ${PRIORITY}; policy accept; }`,
    `add rule ${c} meta protocol ip ip daddr @port4 meta l4proto { tcp, udp } ip saddr . meta l4proto . th sport != @endpoints4 ${common} ip saddr . meta l4proto . th sport != @hostports4 counter fwd to ip daddr map @port4`,
    `add rule ${c} meta protocol ip ip daddr @port4 icmp type { echo-request, echo-reply } ${common} counter fwd to ip daddr map @port4`,
  ];
}

/** replaces the whole `slow4` set (one transaction: no moment without it) */
export function slowPodsScript(t: string, ips: string[]): string[] {
  return [`flush set netdev ${t} slow4`, ...(ips.length ? [`add element netdev ${t} slow4 { ${ips.join(', ')} }`] : [])];
}

/** replaces the whole `endpoints4` set */
export function slowEndpointsScript(t: string, eps: SlowEndpoint[]): string[] {
  const elems = [...new Set(eps.map((e) => `${e.ip} . ${e.protocol} . ${e.port}`))];
  return [`flush set netdev ${t} endpoints4`, ...(elems.length ? [`add element netdev ${t} endpoints4 { ${elems.join(', ')} }`] : [])];
}

/**
 * Reads `pods4` (ifname . address), `hostports4` (address . protocol . port, as an element to
 * delete) and whether the fast chain exists out of `nft -j list table netdev <t>`.
 */
export function parseFastPath(json: string): { pods: { ifname: string; address: string }[]; hostPorts: { address: string; element: string }[]; chain: boolean } {
  const doc = JSON.parse(json) as { nftables?: { set?: { name?: string; elem?: unknown[] }; chain?: { name?: string } }[] };
  const pods: { ifname: string; address: string }[] = [];
  const hostPorts: { address: string; element: string }[] = [];
  let chain = false;
  for (const item of doc.nftables ?? []) {
    if (item.chain?.name === FAST_CHAIN) chain = true;
    const name = item.set?.name;
    if ((name !== 'pods4' && name !== 'hostports4') || !item.set?.elem) continue;
    for (const e of item.set.elem) {
      const parts = (e as { concat?: unknown[] }).concat;
      if (!Array.isArray(parts) || typeof parts[0] !== 'string') continue;
      if (name === 'pods4' && typeof parts[1] === 'string') pods.push({ ifname: parts[0], address: parts[1] });
      if (name === 'hostports4' && typeof parts[1] === 'string' && typeof parts[2] === 'number') hostPorts.push({ address: parts[0], element: `${parts[0]} . ${parts[1]} . ${parts[2]}` });
    }
  }
  return { pods, hostPorts, chain };
}

/**
 * Feeds one of the slow sets without a window in which a frame that needs netfilter takes the
 * fast path: before the owner's ruleset changes, the set grows to old ∪ new (a new isolated pod or
 * endpoint is slow before its rules exist); after it changed, it shrinks to new.
 */
export class SlowSetFeed<T> {
  #current: Map<string, T> | undefined;

  constructor(
    private readonly key: (x: T) => string,
    private readonly push: (xs: T[], signal?: AbortSignal) => Promise<void>,
  ) {}

  /** runs `apply` between widening and narrowing; an unchanged set costs nothing */
  async around(next: T[], apply: () => Promise<void>, signal?: AbortSignal): Promise<void> {
    const want = new Map(next.map((x) => [this.key(x), x]));
    const was = this.#current;
    const same = was !== undefined && was.size === want.size && [...want.keys()].every((k) => was.has(k));
    if (same) return apply();
    const widened = new Map([...(was ?? []), ...want]);
    this.#current = undefined;
    await this.push([...widened.values()], signal);
    await apply();
    if (widened.size !== want.size) await this.push([...want.values()], signal);
    this.#current = want;
  }
}
