/**
 * The kernel state the overlay programs, and the seam it programs it through (`Netlink`):
 * `IpNetlink` runs iproute2 (`ip -j` / `bridge -j` to read, `ip`/`bridge` to write); the
 * in-memory `FakeNetlink` (testing/) stands in for it in unit tests.
 */

/** a vxlan device as the overlay wants it */
export interface VxlanSpec {
  name: string;
  vni: number;
  /** the underlay address packets leave from */
  local: string;
  /** the underlay interface carrying the encapsulated packets */
  dev: string;
  port: number;
  mac: string;
  mtu: number;
}

export interface LinkState {
  name: string;
  mac: string;
  mtu: number;
  up: boolean;
  /** present for vxlan devices */
  vxlan?: { vni: number; local?: string; dev?: string; port?: number; learning: boolean };
}

/** a route to a peer's podCIDR; `onlink` for the vxlan gateway, which is on no subnet of ours */
export interface RouteSpec {
  dst: string;
  via: string;
  dev: string;
  onlink: boolean;
}

/** a permanent ARP (or IPv6 neighbour) entry: the peer's vtep address → its vtep MAC */
export interface NeighSpec {
  ip: string;
  mac: string;
  dev: string;
}

/** a forwarding entry of the vxlan device: the peer's vtep MAC → its underlay address */
export interface FdbSpec {
  mac: string;
  dst: string;
  dev: string;
}

export interface Netlink {
  link(name: string, signal?: AbortSignal): Promise<LinkState | undefined>;
  /** the interface holding `ip` and its MTU, or undefined */
  linkWithAddress(ip: string, signal?: AbortSignal): Promise<{ name: string; mtu: number; prefixLength: number } | undefined>;
  addVxlan(spec: VxlanSpec, signal?: AbortSignal): Promise<void>;
  setLink(name: string, opts: { mtu?: number; up?: boolean }, signal?: AbortSignal): Promise<void>;
  deleteLink(name: string, signal?: AbortSignal): Promise<void>;
  /** IPv4 and global IPv6 addresses on `dev` as CIDRs (not the kernel's own link-local ones) */
  addresses(dev: string, signal?: AbortSignal): Promise<string[]>;
  addAddress(dev: string, cidr: string, signal?: AbortSignal): Promise<void>;
  deleteAddress(dev: string, cidr: string, signal?: AbortSignal): Promise<void>;
  /** the routes the overlay owns (both families): those with its route protocol */
  routes(signal?: AbortSignal): Promise<RouteSpec[]>;
  replaceRoute(r: RouteSpec, signal?: AbortSignal): Promise<void>;
  deleteRoute(r: RouteSpec, signal?: AbortSignal): Promise<void>;
  /** permanent entries on `dev` (ARP and IPv6 neighbours) */
  neighbours(dev: string, signal?: AbortSignal): Promise<NeighSpec[]>;
  replaceNeighbour(n: NeighSpec, signal?: AbortSignal): Promise<void>;
  deleteNeighbour(n: NeighSpec, signal?: AbortSignal): Promise<void>;
  /** entries of `dev` that have a remote destination */
  fdb(dev: string, signal?: AbortSignal): Promise<FdbSpec[]>;
  replaceFdb(f: FdbSpec, signal?: AbortSignal): Promise<void>;
  deleteFdb(f: FdbSpec, signal?: AbortSignal): Promise<void>;
  /** net.ipv4.ip_forward of this network namespace, and IPv6 forwarding with `ipv6` (dual-stack) */
  enableForwarding(signal?: AbortSignal, opts?: { ipv6?: boolean }): Promise<void>;
}

export type OverlayMode = 'vxlan' | 'host-gw' | 'none';

/** another node, as its Node object describes it */
export interface OverlayPeer {
  name: string;
  podCIDR: string;
  /** dual-stack: its IPv6 pod range (spec.podCIDRs' second) */
  podCIDRv6?: string;
  publicIP: string;
  /** host-gw, dual-stack: its IPv6 address on the underlay, the next hop of `podCIDRv6` */
  publicIPv6?: string;
  /** vxlan peers only */
  vtepMAC?: string;
}
