/**
 * The pod's CNI interface, handed to the guest the way Kata's `tcfilter` model does it: CNI has
 * already put a veth (`eth0`, pod IP, MAC, MTU) into the pod netns; we add a tap there and two tc
 * ingress filters that redirect every frame eth0 receives to the tap and back. The netns stack
 * never sees pod traffic: the guest's virtio-net (same MAC, same IP) is the pod's endpoint. No
 * bridge, no ARP proxying, nothing on the host side changes, so CNI DEL tears down as for runc.
 * The tap lives in the netns, so deleting the netns removes it even if we never get to.
 *
 * Toward the pod's network only the guest's own frames are redirected (tapGuardFilters): IPv4 from
 * its address, ARP claiming it, IPv6 from a link-local address, each from its own MAC. The guest's
 * root can forge anything; a forged frame matches no filter and ends in the pod netns' own stack,
 * which does not forward. This kernel has neither flower nor the gact (drop) action: u32 it is.
 * That is the source guard for every network the guest is on — the cluster bridge guards its port
 * too, but a NetworkAttachmentDefinition eth0 (macvlan, host-device) has nothing else — while
 * NetworkPolicy on a NAD eth0 of a microVM is not enforced (the redirect passes netfilter by).
 *
 * The guest gets one NIC: a pod whose `k8s.v1.cni.cncf.io/networks` added more interfaces is
 * refused (extraPodInterfaces) rather than started without them.
 */
import { HedgeError } from '../../../lib/errors.ts';
import { runCommand, type RunResult } from '../../host/run-command.ts';

/** tap in the pod netns that qemu opens (`-netdev tap,ifname=…`) */
export const POD_TAP = 'hedgetap0';

export interface GuestNetwork {
  /** the CNI interface in the pod netns (the veth's netns end) */
  podInterface: string;
  tap: string;
  mac: string;
  address: string;
  prefixLength: number;
  gateway?: string;
  mtu: number;
}

interface IpAddrJson {
  ifname: string;
  address?: string;
  mtu?: number;
  link_type?: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

/** The interface CNI set up: the first non-loopback one with a global IPv4 address. */
export function pickPodInterface(addrJson: string, routeJson: string): Omit<GuestNetwork, 'tap'> | undefined {
  const links = JSON.parse(addrJson) as IpAddrJson[];
  for (const l of links) {
    if (l.link_type === 'loopback' || l.ifname === POD_TAP || !l.address) continue;
    const a = l.addr_info?.find((x) => x.family === 'inet' && (x.scope ?? 'global') === 'global');
    if (!a) continue;
    const routes = JSON.parse(routeJson) as { dst?: string; gateway?: string; dev?: string }[];
    const def = routes.find((r) => r.dst === 'default' && r.gateway && (!r.dev || r.dev === l.ifname));
    const out: Omit<GuestNetwork, 'tap'> = { podInterface: l.ifname, mac: l.address, address: a.local, prefixLength: a.prefixlen, mtu: l.mtu ?? 1500 };
    if (def?.gateway) out.gateway = def.gateway;
    return out;
  }
  return undefined;
}

/**
 * Interfaces of the pod netns the guest would not get: every Ethernet link but the tap and the one
 * handed over (not lo, nor the fallback tunnels — sit0, tunl0 — a kernel with those modules puts
 * in every namespace).
 */
export function extraPodInterfaces(addrJson: string, handedOver: string): string[] {
  const links = JSON.parse(addrJson) as IpAddrJson[];
  return links.filter((l) => l.link_type === 'ether' && l.ifname !== POD_TAP && l.ifname !== handedOver).map((l) => l.ifname);
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
  const ip = n.address.split('.').map(Number);
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
  ];
}

/** kernel command line the guest's /init turns into eth0's configuration */
export function guestNetKernelArgs(n: GuestNetwork): string[] {
  return [`hedge.ip=${n.address}/${n.prefixLength}`, ...(n.gateway ? [`hedge.gw=${n.gateway}`] : []), `hedge.mtu=${n.mtu}`];
}

/** qemu arguments for the guest NIC; vhost-net does not exist on these hosts, and virtio-net over a tap works without it */
export function guestNetQemuArgs(n: GuestNetwork): string[] {
  return [
    '-netdev', `tap,id=net0,ifname=${n.tap},script=no,downscript=no,vhost=off`,
    '-device', `virtio-net-device,netdev=net0,mac=${n.mac}`,
  ];
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

/**
 * Creates the tap and the redirects; returns what the guest must be told. Idempotent: a retry after
 * a failed VM start replaces what the previous attempt left. Undefined when the netns has no
 * addressed interface (nothing to hand over).
 */
export async function plugPodTap(netnsPath: string, signal: AbortSignal): Promise<GuestNetwork | undefined> {
  const addr = await inNetnsChecked(netnsPath, ['ip', '-j', 'addr', 'show'], signal);
  const route = await inNetnsChecked(netnsPath, ['ip', '-j', '-4', 'route', 'show'], signal);
  const pod = pickPodInterface(addr, route);
  if (!pod) return undefined;
  const extra = extraPodInterfaces(addr, pod.podInterface);
  if (extra.length > 0) {
    throw new HedgeError(
      'Invalid',
      `a microVM's guest gets one network interface (${pod.podInterface}); the pod's other interfaces (${extra.join(', ')}, from k8s.v1.cni.cncf.io/networks) would not reach it, so it is not started: run pods with extra networks as runc or gVisor`,
    );
  }
  const n: GuestNetwork = { ...pod, tap: POD_TAP };
  await unplugPodTap(netnsPath, n.podInterface, signal);
  const steps: string[][] = [
    ['ip', 'tuntap', 'add', 'dev', n.tap, 'mode', 'tap'],
    ['ip', 'link', 'set', n.tap, 'mtu', String(n.mtu), 'up'],
    ['tc', 'qdisc', 'add', 'dev', n.podInterface, 'ingress'],
    ['tc', 'filter', 'add', 'dev', n.podInterface, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u8', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', n.tap],
    ['tc', 'qdisc', 'add', 'dev', n.tap, 'ingress'],
    ...tapGuardFilters(n),
  ];
  for (const s of steps) await inNetnsChecked(netnsPath, s, signal);
  return n;
}

/** Removes the tap and the redirect; "already gone" (or the whole netns gone) is fine. */
export async function unplugPodTap(netnsPath: string, podInterface: string, signal: AbortSignal): Promise<void> {
  await inNetns(netnsPath, ['tc', 'qdisc', 'del', 'dev', podInterface, 'ingress'], signal).catch(() => undefined);
  await inNetns(netnsPath, ['ip', 'link', 'del', POD_TAP], signal).catch(() => undefined);
}
