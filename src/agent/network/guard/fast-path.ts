/**
 * The pod → pod fast path of a bridge network: `table netdev hedge-guard-<bridge>`, an ingress
 * hook on every guarded pod port that hands an IPv4 or IPv6 frame straight to the destination pod's port
 * (`fwd to`), so it never enters the bridge — nor `br_netfilter`, which makes every bridged IPv4
 * frame walk the IP stack's prerouting/forward/postrouting hooks and conntrack (bench/bridge-path.ts:
 * ≈ 25 points of TCP_RR together). Only frames that provably need none of that take it:
 *
 *   - TCP or UDP (or ICMP/ICMPv6 echo), from a guarded port carrying that port's own source
 *     address (the guard's anti-spoofing check, repeated here because the bridge hook is skipped);
 *   - to the address of another guarded pod port of this bridge (`port4`/`port6`: address → port);
 *   - neither address isolated by a NetworkPolicy (`slow4`/`slow6`, fed by the policy controller):
 *     their traffic goes the bridge way, through the policy table and conntrack (replies of
 *     allowed connections pass by `ct state`);
 *   - not sent from a Service endpoint's address and port (`endpoints4`/`6`, fed by the service
 *     proxy), nor from a pod's hostPort target (`hostports4`/`6`, per pod, from its port mappings):
 *     that may be the reply of a connection the proxy or portmap DNATed, which conntrack must un-NAT.
 *
 * Each family has its own sets (`…4` of ipv4_addr, `…6` of ipv6_addr) and rules. Everything else
 * (ARP, neighbour discovery, broadcast/multicast, to the node or other nodes, Services, fragments
 * past the first) is left alone and takes the bridge as before. The ingress hook runs before the bridge's
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

/** the address families the fast path serves: set suffix, nft payload keyword, address type */
export const FAMILIES = [
  { v: 4, ip: 'ip', type: 'ipv4_addr', echo: 'icmp type { echo-request, echo-reply }' },
  { v: 6, ip: 'ip6', type: 'ipv6_addr', echo: 'icmpv6 type { echo-request, echo-reply }' },
] as const;

/** the family of an address as the sets name it */
export const familyOfAddress = (a: string): 4 | 6 => (a.includes(':') ? 6 : 4);

/** sets and map of the netdev table (`add` is idempotent, elements are kept) */
export function fastPathDecls(t: string): string[] {
  return [
    `add table netdev ${t}`,
    ...FAMILIES.flatMap((f) => [
      `add set netdev ${t} pods${f.v} { type ifname . ${f.type}; }`,
      `add map netdev ${t} port${f.v} { type ${f.type} : iface_index; }`,
      `add set netdev ${t} slow${f.v} { type ${f.type}; }`,
      `add set netdev ${t} endpoints${f.v} { type ${f.type} . inet_proto . inet_service; }`,
      `add set netdev ${t} hostports${f.v} { type ${f.type} . inet_proto . inet_service; }`,
    ]),
  ];
}

/**
 * The base chain hooked on `ports` (recreated: a device cannot be taken out of a netdev chain by
 * this nft, and a chain needs at least one device — none, no chain), in the caller's transaction.
 * Per family: two exits to the bridge path, then the forwarding rules TCP/UDP and echo (each with
 * its counter; the exits have none).
 */
export function fastPathChain(t: string, ports: string[], exists: boolean): string[] {
  const lines = exists ? [`delete chain netdev ${t} ${FAST_CHAIN}`] : [];
  if (ports.length === 0) return lines;
  const c = `netdev ${t} ${FAST_CHAIN}`;
  // a frame that stays slow pays this hook on top of the bridge path, so it leaves first, after
  // as few lookups as possible: to a ClusterIP, the node or beyond after one (not to a pod of this
  // bridge), a Service endpoint's reply after two (conntrack must un-NAT it); the rules after the
  // exits may take the destination as a pod of the bridge
  return [
    ...lines,
    `add chain ${c} { type filter hook ingress devices = { ${ports.map((p) => `"${p}"`).join(', ')} } priority ${PRIORITY}; policy accept; }`,
    ...FAMILIES.flatMap((f) => {
      const common = `iifname . ${f.ip} saddr @pods${f.v} ${f.ip} saddr != @slow${f.v} ${f.ip} daddr != @slow${f.v}`;
      const fwd = `counter fwd to ${f.ip} daddr map @port${f.v}`;
      return [
        `add rule ${c} meta protocol ${f.ip} ${f.ip} daddr != @port${f.v} accept`,
        `add rule ${c} meta protocol ${f.ip} ${f.ip} saddr . meta l4proto . th sport @endpoints${f.v} accept`,
        `add rule ${c} meta protocol ${f.ip} meta l4proto { tcp, udp } ${f.ip} saddr . meta l4proto . th sport != @hostports${f.v} ${common} ${fwd}`,
        `add rule ${c} meta protocol ${f.ip} ${f.echo} ${common} ${fwd}`,
      ];
    }),
  ];
}

/**
 * Hooks the existing base chain on `ports` as well (a device already hooked stays; rules are kept):
 * what a pod's start adds, in one line whatever the number of pods — the chain is rebuilt only
 * when ports go (fastPathChain).
 */
export function fastPathHook(t: string, ports: string[]): string[] {
  if (ports.length === 0) return [];
  return [`add chain netdev ${t} ${FAST_CHAIN} { type filter hook ingress devices = { ${ports.map((p) => `"${p}"`).join(', ')} } priority ${PRIORITY}; policy accept; }`];
}

/** replaces the whole `slow4` and `slow6` sets (one transaction: no moment without them) */
export function slowPodsScript(t: string, ips: string[]): string[] {
  return FAMILIES.flatMap((f) => {
    const mine = ips.filter((ip) => familyOfAddress(ip) === f.v);
    return [`flush set netdev ${t} slow${f.v}`, ...(mine.length ? [`add element netdev ${t} slow${f.v} { ${mine.join(', ')} }`] : [])];
  });
}

/** replaces the whole `endpoints4` and `endpoints6` sets */
export function slowEndpointsScript(t: string, eps: SlowEndpoint[]): string[] {
  return FAMILIES.flatMap((f) => {
    const elems = [...new Set(eps.filter((e) => familyOfAddress(e.ip) === f.v).map((e) => `${e.ip} . ${e.protocol} . ${e.port}`))];
    return [`flush set netdev ${t} endpoints${f.v}`, ...(elems.length ? [`add element netdev ${t} endpoints${f.v} { ${elems.join(', ')} }`] : [])];
  });
}

/**
 * Reads `pods4`/`pods6` (ifname . address), `hostports4`/`6` (address . protocol . port, as an
 * element to delete) and whether the fast chain exists out of `nft -j list table netdev <t>`.
 */
export function parseFastPath(json: string): { pods: { ifname: string; address: string }[]; hostPorts: { address: string; element: string }[]; chain: boolean } {
  const doc = JSON.parse(json) as { nftables?: { set?: { name?: string; elem?: unknown[] }; chain?: { name?: string } }[] };
  const pods: { ifname: string; address: string }[] = [];
  const hostPorts: { address: string; element: string }[] = [];
  let chain = false;
  for (const item of doc.nftables ?? []) {
    if (item.chain?.name === FAST_CHAIN) chain = true;
    const name = item.set?.name;
    if (!name || !/^(pods|hostports)[46]$/.test(name) || !item.set?.elem) continue;
    for (const e of item.set.elem) {
      const parts = (e as { concat?: unknown[] }).concat;
      if (!Array.isArray(parts) || typeof parts[0] !== 'string') continue;
      if (name.startsWith('pods') && typeof parts[1] === 'string') pods.push({ ifname: parts[0], address: parts[1] });
      if (name.startsWith('hostports') && typeof parts[1] === 'string' && typeof parts[2] === 'number') hostPorts.push({ address: parts[0], element: `${parts[0]} . ${parts[1]} . ${parts[2]}` });
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
