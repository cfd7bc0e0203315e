/**
 * The pod's interfaces, handed to the guest one virtio-net NIC each. CNI has already put them into
 * the pod netns (eth0: the cluster network's veth or a NetworkAttachmentDefinition's link; net1, …:
 * the NADs of `k8s.v1.cni.cncf.io/networks`), each with its address, MAC and MTU; per interface we
 * add a tap there (`hedgetap<N>`) that qemu opens, and the guest NIC gets the interface's MAC, name,
 * address and routes (kernel command line → the guest's /init). Two ways from tap to interface:
 *
 *   redirect  Kata's `tcfilter` model, for the cluster network's eth0: two tc ingress filters
 *       redirect every frame the interface receives to the tap and the guest's own frames back
 *       (tapGuardFilters). The netns stack never sees pod traffic; the cluster bridge on the host
 *       and the node's policy table see it as for runc. Nothing on the host side changes, so CNI
 *       DEL tears down as for runc.
 *   bridge  for the interfaces the NAD firewall guards (multus/nad-firewall.ts: every NAD
 *       interface, eth0 too when `v1.multus-cni.io/default-network` made it one): a bridge
 *       `hedgebr<N>` in the pod netns with the interface and the tap as its ports. A redirect
 *       would pass netfilter by; bridged frames go through br_netfilter (`nf_call_iptables` on
 *       the bridge; the pod fails where the kernel has no br_netfilter), so the firewall's forward
 *       chain (conntrack of the netns) enforces the pod's NetworkPolicy on them, and its egress
 *       guard on the interface is the source guard. The interface keeps its MAC (the L2 knows the
 *       pod by it: macvlan delivers only frames for it); the bridge gets a MAC of its own, no ARP
 *       and no IPv6, and the interface's "local" FDB entry is dropped so frames for that MAC are
 *       forwarded to the guest instead of to the netns stack.
 *
 * Taps and bridges live in the netns, so deleting the netns removes them even if we never get to.
 * This kernel has neither flower nor the gact (drop) action: the tap guard is u32.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { HedgeError } from '../../../lib/errors.ts';
import { guardedNadInterfaces, NAD_TABLE, VM_BRIDGE_PREFIX } from '../../network/multus/nad-firewall.ts';
import { runCommand, type RunResult } from '../../host/run-command.ts';
import { familyOf, parseCidr, parseIp } from '../../../lib/cidr.ts';

/** tap in the pod netns that qemu opens (`-netdev tap,ifname=…`) for eth0; NIC N gets hedgetap<N> */
export const POD_TAP = 'hedgetap0';
const TAP_PREFIX = 'hedgetap';

/** a route of the pod netns through one interface (the link route of its address aside) */
export interface GuestRoute {
  /** CIDR or `default` */
  dst: string;
  gateway?: string;
}

export interface GuestNetwork {
  /** the CNI interface in the pod netns (the veth's netns end, a macvlan, …); the guest NIC gets its name */
  podInterface: string;
  tap: string;
  mac: string;
  /** IPv4 address; absent on an interface CNI gave none (an L2-only NAD) */
  address?: string;
  prefixLength?: number;
  /** the default route's gateway through this interface */
  gateway?: string;
  /** IPv6 address (dual-stack: the pod's IPv6 lease), absent on an IPv4-only interface */
  address6?: string;
  prefixLength6?: number;
  /** the IPv6 default route's gateway through this interface */
  gateway6?: string;
  mtu: number;
  /** other routes through it, either family (absent on VMs started before extra interfaces existed: none) */
  routes?: GuestRoute[];
  /** the bridge joining tap and interface; absent: tc redirect */
  bridge?: string;
}

interface IpAddrJson {
  ifname: string;
  address?: string;
  mtu?: number;
  link_type?: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

interface IpRouteJson {
  dst?: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
}

/** ours (taps, bridges): never handed over */
const isOurs = (ifname: string): boolean => ifname.startsWith(TAP_PREFIX) || ifname.startsWith(VM_BRIDGE_PREFIX);

const isV6 = (ip: string): boolean => ip.includes(':');

function guestInterface(l: IpAddrJson, routes: IpRouteJson[]): Omit<GuestNetwork, 'tap'> {
  const a = l.addr_info?.find((x) => x.family === 'inet' && (x.scope ?? 'global') === 'global');
  const a6 = l.addr_info?.find((x) => x.family === 'inet6' && (x.scope ?? 'global') === 'global');
  const mine = routes.filter((r) => r.dev === undefined || r.dev === l.ifname);
  const def = mine.find((r) => r.dst === 'default' && r.gateway && !isV6(r.gateway));
  const def6 = mine.find((r) => r.dst === 'default' && r.gateway && isV6(r.gateway));
  // the link route of the address comes with it in the guest; the rest is what CNI (IPAM `routes`) added
  const other = mine.filter((r) => r.dst && r.dst !== 'default' && r.dev === l.ifname && r.protocol !== 'kernel').map((r) => ({ dst: r.dst as string, ...(r.gateway ? { gateway: r.gateway } : {}) }));
  const out: Omit<GuestNetwork, 'tap'> = { podInterface: l.ifname, mac: (l.address ?? '').toLowerCase(), mtu: l.mtu ?? 1500 };
  if (a) {
    out.address = a.local;
    out.prefixLength = a.prefixlen;
  }
  if (def?.gateway) out.gateway = def.gateway;
  if (a6) {
    out.address6 = a6.local;
    out.prefixLength6 = a6.prefixlen;
  }
  if (def6?.gateway) out.gateway6 = def6.gateway;
  if (other.length) out.routes = other;
  return out;
}

/** The interface CNI set up as the pod's primary: eth0, else the first non-loopback one with a global IPv4 address. */
export function pickPodInterface(addrJson: string, routeJson: string): Omit<GuestNetwork, 'tap'> | undefined {
  const links = (JSON.parse(addrJson) as IpAddrJson[]).filter((l) => l.link_type !== 'loopback' && !isOurs(l.ifname) && l.address);
  const routes = JSON.parse(routeJson) as IpRouteJson[];
  const hasV4 = (l: IpAddrJson): boolean => !!l.addr_info?.some((x) => x.family === 'inet' && (x.scope ?? 'global') === 'global');
  const l = links.find((x) => x.ifname === 'eth0' && hasV4(x)) ?? links.find(hasV4);
  return l ? guestInterface(l, routes) : undefined;
}

/**
 * The pod netns's other interfaces, in the order the kernel lists them: every Ethernet link but
 * ours and the primary (not lo, nor the fallback tunnels — sit0, tunl0 — a kernel with those
 * modules puts in every namespace).
 */
export function extraPodInterfaces(addrJson: string, routeJson: string, primary: string): Omit<GuestNetwork, 'tap'>[] {
  const routes = JSON.parse(routeJson) as IpRouteJson[];
  return (JSON.parse(addrJson) as IpAddrJson[])
    .filter((l) => l.link_type === 'ether' && !isOurs(l.ifname) && l.ifname !== primary && l.address)
    .map((l) => guestInterface(l, routes));
}

const hex = (n: number, digits: number): string => `0x${n.toString(16).padStart(digits, '0')}`;

/**
 * tc u32 filters on the tap's ingress that redirect the guest's own frames to the pod interface
 * (and nothing else). At tc ingress the data starts at the network header: the source MAC is at
 * -8 (4 bytes) and -4 (2 bytes); in ARP the sender MAC is at 8, the sender IP at 14 (u32 offsets
 * must be 4-aligned, so 16-bit halves).
 */
export function tapGuardFilters(n: GuestNetwork): string[][] {
  const mac = n.mac.split(':').map((b) => parseInt(b, 16));
  const ip = (n.address ?? '').split('.').map(Number);
  if (mac.length !== 6 || mac.some((b) => !(b >= 0 && b <= 255)) || ip.length !== 4 || ip.some((b) => !(b >= 0 && b <= 255))) {
    throw new HedgeError('Invalid', `guest network ${n.mac} ${n.address}: not a MAC and an IPv4 address`);
  }
  const [m0, m1, m2, m3, m4, m5] = mac as [number, number, number, number, number, number];
  const [i0, i1, i2, i3] = ip as [number, number, number, number];
  const hi = hex(((m0 << 24) | (m1 << 16) | (m2 << 8) | m3) >>> 0, 8);
  const lo = hex((m4 << 8) | m5, 4);
  const srcMac = ['match', 'u32', hi, '0xffffffff', 'at', '-8', 'match', 'u16', lo, '0xffff', 'at', '-4'];
  const redirect = ['action', 'mirred', 'egress', 'redirect', 'dev', n.podInterface];
  const filter = (pref: number, proto: string, match: string[]): string[] => ['tc', 'filter', 'add', 'dev', n.tap, 'parent', 'ffff:', 'pref', String(pref), 'protocol', proto, 'u32', ...match, ...srcMac, ...redirect];
  return [
    filter(1, 'ip', ['match', 'ip', 'src', `${n.address}/32`]),
    filter(2, 'arp', ['match', 'u16', hex((i0 << 8) | i1, 4), '0xffff', 'at', '14', 'match', 'u16', hex((i2 << 8) | i3, 4), '0xffff', 'at', '16', 'match', 'u32', hi, '0xffffffff', 'at', '8', 'match', 'u16', lo, '0xffff', 'at', '12']),
    filter(3, 'ipv6', ['match', 'ip6', 'src', 'fe80::/10']),
    // dual-stack: the guest's own IPv6 address (its traffic and its neighbour discovery)
    ...(n.address6 ? [filter(4, 'ipv6', ['match', 'ip6', 'src', `${n.address6}/128`])] : []),
  ];
}

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** an address or CIDR of either family (neither lets through a character a command line word cannot carry) */
const isIp = (s: string): boolean => parseIp(s) !== undefined;
const isCidr = (s: string): boolean => parseCidr(s) !== undefined;

/**
 * Kernel command line the guest's /init turns into its NICs (src/guest/initramfs/init.sh):
 * `hedge.nic=NAME,MAC,MTU[,ADDR/PREFIX]...` per NIC (found by MAC, renamed to NAME; the IPv4
 * address first, then the IPv6 one of a dual-stack pod) and `hedge.route=NAME,DST[,GATEWAY]` per
 * route, defaults included (the IPv6 default as `::/0`). Everything is checked: the values come
 * from the pod netns, which CNI plugins and NAD configs filled.
 */
export function guestNetKernelArgs(nics: GuestNetwork[]): string[] {
  const out: string[] = [];
  const routes: string[] = [];
  for (const n of nics) {
    const bad = (what: string): HedgeError => new HedgeError('Invalid', `pod interface ${JSON.stringify(n.podInterface)}: ${what} cannot be handed to the guest`);
    if (!IFNAME_RE.test(n.podInterface)) throw bad('its name');
    if (!MAC_RE.test(n.mac)) throw bad(`MAC ${JSON.stringify(n.mac)}`);
    if (!Number.isInteger(n.mtu) || n.mtu < 68 || n.mtu > 65535) throw bad(`MTU ${n.mtu}`);
    const addrs = [
      ...(n.address !== undefined ? [{ cidr: `${n.address}/${n.prefixLength ?? 32}`, family: 4 }] : []),
      ...(n.address6 !== undefined ? [{ cidr: `${n.address6}/${n.prefixLength6 ?? 128}`, family: 6 }] : []),
    ];
    for (const a of addrs) if (familyOf(a.cidr) !== a.family || !/^[0-9a-f.:]+\/\d+$/i.test(a.cidr)) throw bad(`address ${a.cidr}`);
    out.push(`hedge.nic=${[n.podInterface, n.mac, n.mtu, ...addrs.map((a) => a.cidr)].join(',')}`);
    const defaults = [...(n.gateway ? [{ dst: 'default', gateway: n.gateway }] : []), ...(n.gateway6 ? [{ dst: '::/0', gateway: n.gateway6 }] : [])];
    for (const r of [...defaults, ...(n.routes ?? [])]) {
      const family = r.dst === 'default' ? 4 : r.dst === '::/0' ? 6 : familyOf(r.dst);
      const ok = (r.dst === 'default' || isCidr(r.dst) || isIp(r.dst)) && (r.gateway === undefined || (isIp(r.gateway) && familyOf(r.gateway) === family));
      if (!ok) throw bad(`route ${r.dst} via ${r.gateway ?? '-'}`);
      routes.push(`hedge.route=${[n.podInterface, r.dst, ...(r.gateway ? [r.gateway] : [])].join(',')}`);
    }
  }
  return [...out, ...routes];
}

/**
 * qemu arguments for the guest NICs, one virtio-net device per interface with its MAC; vhost-net
 * does not exist on these hosts, and virtio-net over a tap works without it
 */
export function guestNetQemuArgs(nics: GuestNetwork[]): string[] {
  return nics.flatMap((n, i) => ['-netdev', `tap,id=net${i},ifname=${n.tap},script=no,downscript=no,vhost=off`, '-device', `virtio-net-device,netdev=net${i},mac=${n.mac}`]);
}

async function inNetns(netnsPath: string, args: string[], signal: AbortSignal): Promise<RunResult> {
  // nsenter, not `ip netns exec` (which remounts /sys): docs/host-notes.md
  return runCommand('nsenter', [`--net=${netnsPath}`, '--', ...args], { signal, timeoutMs: 10_000 });
}

async function inNetnsChecked(netnsPath: string, args: string[], signal: AbortSignal): Promise<string> {
  const r = await inNetns(netnsPath, args, signal);
  if (r.code !== 0) throw new HedgeError('Internal', `in ${netnsPath}: ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/** a locally administered unicast MAC for a bridge (never the interface's: that one is the guest's) */
function bridgeMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** the commands that hand one interface to its tap: a tc redirect both ways (with the tap guard), or a bridge */
export function plugSteps(n: GuestNetwork, bridgeAddress = bridgeMac()): string[][] {
  const tap = [['ip', 'tuntap', 'add', 'dev', n.tap, 'mode', 'tap'], ['ip', 'link', 'set', n.tap, 'mtu', String(n.mtu)]];
  if (!n.bridge) {
    return [
      ...tap,
      ['ip', 'link', 'set', n.tap, 'up'],
      ['tc', 'qdisc', 'add', 'dev', n.podInterface, 'ingress'],
      ['tc', 'filter', 'add', 'dev', n.podInterface, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u8', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', n.tap],
      ['tc', 'qdisc', 'add', 'dev', n.tap, 'ingress'],
      ...tapGuardFilters(n),
    ];
  }
  return [
    ...tap,
    // no ARP and no IPv6 on the bridge: the netns stack must not answer for the guest's address
    // br_netfilter for this bridge whatever the netns's sysctls say: its frames pass the forward hook
    ['ip', 'link', 'add', n.bridge, 'address', bridgeAddress, 'type', 'bridge', 'nf_call_iptables', '1', 'nf_call_ip6tables', '1'],
    ['ip', 'link', 'set', n.bridge, 'arp', 'off', 'addrgenmode', 'none', 'mtu', String(n.mtu)],
    ['ip', 'link', 'set', n.podInterface, 'master', n.bridge],
    ['ip', 'link', 'set', n.tap, 'master', n.bridge],
    // the port's own MAC is a "local" entry (frames for it would go to the netns stack): the guest has it now
    ['bridge', 'fdb', 'del', n.mac, 'dev', n.podInterface, 'master'],
    ['ip', 'link', 'set', n.tap, 'up'],
    ['ip', 'link', 'set', n.bridge, 'up'],
  ];
}

/**
 * Creates the taps and what joins them to the pod's interfaces; returns the NICs the guest must
 * get, eth0 first (empty when the netns has no addressed interface: nothing to hand over).
 * `maxNics` is how many virtio-mmio transports the VM's other devices leave free. Idempotent: a
 * retry after a failed VM start replaces what the previous attempt left.
 */
export async function plugPodNics(netnsPath: string, maxNics: number, signal: AbortSignal): Promise<GuestNetwork[]> {
  const addr = await inNetnsChecked(netnsPath, ['ip', '-j', 'addr', 'show'], signal);
  // both families' routes in one list (ip -j gives no family field: a gateway's or dst's colon tells)
  const route4 = JSON.parse((await inNetnsChecked(netnsPath, ['ip', '-j', '-4', 'route', 'show'], signal)) || '[]') as unknown[];
  const route6 = JSON.parse((await inNetnsChecked(netnsPath, ['ip', '-j', '-6', 'route', 'show'], signal)) || '[]') as unknown[];
  const route = JSON.stringify([...route4, ...route6]);
  await unplugPodNics(netnsPath, undefined, signal);
  const pod = pickPodInterface(addr, route);
  if (!pod) return [];
  const extras = extraPodInterfaces(addr, route, pod.podInterface);
  if (1 + extras.length > maxNics) {
    throw new HedgeError(
      'Invalid',
      `this microVM can take ${maxNics} network interfaces at most (the virtio-mmio transports qemu's microvm machine has for its guest kernel, less those of its disks, agent port and balloon); the pod has ${1 + extras.length} (${[pod, ...extras].map((x) => x.podInterface).join(', ')})`,
    );
  }
  // the NAD firewall guards every NAD interface before the sandbox is made (MultusNetworkPlugin.setUp)
  const nft = await inNetns(netnsPath, ['nft', '-j', 'list', 'table', 'netdev', NAD_TABLE], signal);
  const guarded = new Set(nft.code === 0 ? guardedNadInterfaces(nft.stdout) : []);
  const nics = [pod, ...extras].map((x, i): GuestNetwork => ({ ...x, tap: `${TAP_PREFIX}${i}`, ...(guarded.has(x.podInterface) ? { bridge: `${VM_BRIDGE_PREFIX}${i}` } : {}) }));
  if (nics.some((n) => n.bridge) && !existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) {
    throw new HedgeError('Unavailable', "NetworkPolicy on a microVM's NetworkAttachmentDefinition interfaces needs the kernel's br_netfilter (modprobe br_netfilter)");
  }
  for (const n of nics) for (const s of plugSteps(n)) await inNetnsChecked(netnsPath, s, signal);
  return nics;
}

/**
 * Removes taps, bridges and redirects; "already gone" (or the whole netns gone) is fine. Without
 * `nics` (a retry knows nothing of the previous attempt) every tap and bridge of ours goes, and the
 * ingress qdisc of every other interface.
 */
export async function unplugPodNics(netnsPath: string, nics: GuestNetwork[] | undefined, signal: AbortSignal): Promise<void> {
  let redirected: string[];
  let ours: string[];
  if (nics) {
    redirected = nics.filter((n) => !n.bridge).map((n) => n.podInterface);
    ours = nics.flatMap((n) => [n.tap, ...(n.bridge ? [n.bridge] : [])]);
  } else {
    const r = await inNetns(netnsPath, ['ip', '-j', 'link', 'show'], signal).catch(() => undefined);
    const links = r?.code === 0 ? (JSON.parse(r.stdout || '[]') as IpAddrJson[]) : [];
    ours = links.filter((l) => isOurs(l.ifname)).map((l) => l.ifname);
    redirected = links.filter((l) => l.link_type === 'ether' && !isOurs(l.ifname)).map((l) => l.ifname);
  }
  for (const i of redirected) await inNetns(netnsPath, ['tc', 'qdisc', 'del', 'dev', i, 'ingress'], signal).catch(() => undefined);
  // a deleted bridge releases its ports (the interface stays, for CNI DEL)
  for (const l of ours) await inNetns(netnsPath, ['ip', 'link', 'del', l], signal).catch(() => undefined);
}
