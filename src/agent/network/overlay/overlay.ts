/**
 * One node's end of the pod network between nodes, in the kernel, without a daemon of its own
 * (flannel's vxlan and host-gw backends, programmed by the agent):
 *
 * - vxlan: one device `hedge.1` (VNI 1, UDP 8472, no learning) on the underlay interface that
 *   holds the node's public IP, MTU = underlay MTU − 50, holding `<podCIDR network>/32`. Per
 *   peer: `route <peer podCIDR> via <peer vtep> dev hedge.1 onlink`, a permanent neighbour entry
 *   `<peer vtep> → <peer vtep MAC>` and an FDB entry `<peer vtep MAC> → <peer public IP>`.
 * - dual-stack (an IPv6 podCIDR besides the IPv4 one): the vtep also holds `<IPv6 podCIDR
 *   network>/128`, and per peer the same route + neighbour pair for its IPv6 podCIDR (the FDB
 *   entry is shared: IPv6 inner frames ride the IPv4 underlay like IPv4 ones).
 * - host-gw: per peer on the same L2, `route <peer podCIDR> via <peer public IP>`; dual-stack, when
 *   the underlay interface has a global IPv6 address (published as the node's IPv6 next hop),
 *   `route <peer IPv6 podCIDR> via <peer's IPv6 underlay address>` for peers on that IPv6 subnet.
 *
 * `sync` reads what the kernel holds (`ip -j`), plans the difference and applies it, so it is
 * idempotent and a restarted node picks up what it left. The vtep MAC is derived from the node
 * name, so a device that has to be recreated keeps the address its peers know.
 */
import { createHash } from 'node:crypto';
import type { OverlayBackend } from '../../../api/annotations/overlay.ts';
import { familyOf } from '../../../lib/cidr.ts';
import { HedgeError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { desiredState, networkAddress, planSteps, type DesiredBackend, type KernelState, type PlanStep } from './plan.ts';
import type { LinkState, Netlink, OverlayPeer, VxlanSpec } from './types.ts';

/** the vxlan header and outer IPv4/UDP/Ethernet headers */
export const VXLAN_OVERHEAD = 50;

export interface OverlayConfig {
  mode: 'vxlan' | 'host-gw';
  nodeName: string;
  /** this node's pod range (its Node's spec.podCIDR) */
  podCIDR: string;
  /** dual-stack: this node's IPv6 pod range (spec.podCIDRs' second) */
  podCIDRv6?: string;
  /** the underlay address peers send to (the Node's InternalIP) */
  publicIP: string;
  /** default hedge.1 */
  device?: string;
  /** default 1 */
  vni?: number;
  /** default 8472, the Linux/flannel vxlan port */
  port?: number;
}

/** locally administered, unicast, stable per node name */
export function vtepMac(nodeName: string): string {
  const b = createHash('sha256').update(`hedge-vtep/${nodeName}`).digest().subarray(0, 6);
  b[0] = (b[0] & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function vxlanMatches(l: LinkState, s: VxlanSpec): boolean {
  const v = l.vxlan;
  return v !== undefined && v.vni === s.vni && v.local === s.local && v.dev === s.dev && v.port === s.port && !v.learning && l.mac === s.mac;
}

export class Overlay {
  readonly device: string;
  private backend: DesiredBackend | undefined;
  private mtu: number | undefined;

  constructor(
    readonly cfg: OverlayConfig,
    private readonly netlink: Netlink,
    private readonly log: Logger,
  ) {
    this.device = cfg.device ?? 'hedge.1';
  }

  /** the MTU pods get: the underlay's, less the encapsulation for vxlan (known after setUp) */
  get podMtu(): number | undefined {
    return this.mtu;
  }

  /** Creates (or fixes) the device and address; returns what the Node should publish. */
  async setUp(signal?: AbortSignal): Promise<OverlayBackend> {
    const { cfg, netlink } = this;
    const underlay = await netlink.linkWithAddress(cfg.publicIP, signal);
    if (!underlay) throw new HedgeError('Invalid', `overlay: ${cfg.publicIP} (the node's InternalIP) is on no interface of this host; set --internal-ip to the address other nodes reach`);
    await netlink.enableForwarding(signal, { ipv6: cfg.podCIDRv6 !== undefined });
    if (cfg.mode === 'host-gw') {
      const underlayCidr = `${networkAddress(`${cfg.publicIP}/${underlay.prefixLength}`)}/${underlay.prefixLength}`;
      // dual-stack: the IPv6 next hop peers route this node's IPv6 range to (a global address of the underlay interface)
      const own6 = cfg.podCIDRv6 === undefined ? undefined : (await netlink.addresses(underlay.name, signal)).find((c) => familyOf(c) === 6);
      if (cfg.podCIDRv6 !== undefined && !own6) {
        this.log.warn(
          { underlay: underlay.name, podCIDRv6: cfg.podCIDRv6 },
          `overlay host-gw: ${underlay.name} has no global IPv6 address, so the IPv6 pod ranges are not routed between nodes (IPv4 only); give the underlay IPv6 addresses or use --overlay vxlan`,
        );
      }
      this.backend = { type: 'host-gw', underlayDevice: underlay.name, underlayCidr, ...(own6 ? { underlayCidr6: `${networkAddress(own6)}/${own6.split('/')[1]}` } : {}) };
      this.mtu = underlay.mtu;
      return { type: 'host-gw', publicIP: cfg.publicIP, ...(own6 ? { publicIPv6: own6.split('/')[0]! } : {}) };
    }
    const spec: VxlanSpec = {
      name: this.device,
      vni: cfg.vni ?? 1,
      local: cfg.publicIP,
      dev: underlay.name,
      port: cfg.port ?? 8472,
      mac: vtepMac(cfg.nodeName),
      mtu: underlay.mtu - VXLAN_OVERHEAD,
    };
    const existing = await netlink.link(spec.name, signal);
    if (existing && !vxlanMatches(existing, spec)) {
      this.log.info({ device: spec.name, have: existing.vxlan ?? 'not vxlan', want: spec }, 'recreating the overlay device');
      await netlink.deleteLink(spec.name, signal);
    }
    if (!existing || !vxlanMatches(existing, spec)) await netlink.addVxlan(spec, signal);
    const now = await netlink.link(spec.name, signal);
    if (!now?.up || now.mtu !== spec.mtu) await netlink.setLink(spec.name, { mtu: spec.mtu, up: true }, signal);
    const want = [`${networkAddress(cfg.podCIDR)}/32`, ...(cfg.podCIDRv6 ? [`${networkAddress(cfg.podCIDRv6)}/128`] : [])];
    const addrs = await netlink.addresses(spec.name, signal);
    for (const a of addrs) if (!want.includes(a)) await netlink.deleteAddress(spec.name, a, signal);
    for (const w of want) if (!addrs.includes(w)) await netlink.addAddress(spec.name, w, signal);
    this.backend = { type: 'vxlan', device: spec.name };
    this.mtu = spec.mtu;
    return { type: 'vxlan', publicIP: cfg.publicIP, vtepMAC: spec.mac, vni: spec.vni };
  }

  private async current(signal?: AbortSignal): Promise<KernelState> {
    const routes = await this.netlink.routes(signal);
    if (this.backend?.type !== 'vxlan' || !(await this.netlink.link(this.device, signal))) return { routes, neighbours: [], fdb: [] };
    return { routes, neighbours: await this.netlink.neighbours(this.device, signal), fdb: await this.netlink.fdb(this.device, signal) };
  }

  /** Brings the kernel to exactly `peers` (this node's own entry is ignored); returns the steps applied. */
  async sync(peers: OverlayPeer[], signal?: AbortSignal): Promise<PlanStep[]> {
    const backend = this.backend;
    if (!backend) throw new HedgeError('Internal', 'overlay: sync before setUp');
    // IPv6 ranges are routed only by a dual-stack node (host-gw: one with an IPv6 underlay address)
    const v6 = this.cfg.podCIDRv6 !== undefined && (backend.type === 'vxlan' || backend.underlayCidr6 !== undefined);
    const others = peers
      .filter((p) => p.name !== this.cfg.nodeName && p.podCIDR !== this.cfg.podCIDR)
      .map(({ podCIDRv6, ...p }) => (v6 && podCIDRv6 && podCIDRv6 !== this.cfg.podCIDRv6 ? { ...p, podCIDRv6 } : p));
    const steps = planSteps(await this.current(signal), desiredState(backend, others));
    for (const s of steps) await this.apply(s, signal);
    if (steps.length > 0) this.log.info({ steps: steps.map(describeStep) }, 'overlay programmed');
    return steps;
  }

  private async apply(s: PlanStep, signal?: AbortSignal): Promise<void> {
    switch (s.op) {
      case 'replace-route':
        return this.netlink.replaceRoute(s.route, signal);
      case 'delete-route':
        return this.netlink.deleteRoute(s.route, signal);
      case 'replace-neigh':
        return this.netlink.replaceNeighbour(s.neigh, signal);
      case 'delete-neigh':
        return this.netlink.deleteNeighbour(s.neigh, signal);
      case 'replace-fdb':
        return this.netlink.replaceFdb(s.fdb, signal);
      case 'delete-fdb':
        return this.netlink.deleteFdb(s.fdb, signal);
      default: {
        const never: never = s;
        throw new HedgeError('Internal', `overlay: unknown step ${JSON.stringify(never)}`);
      }
    }
  }

  /** Removes every route the overlay owns and the vxlan device (with its neighbour and FDB entries). */
  async tearDown(signal?: AbortSignal): Promise<void> {
    for (const r of await this.netlink.routes(signal)) await this.netlink.deleteRoute(r, signal);
    await this.netlink.deleteLink(this.device, signal);
    this.backend = undefined;
  }
}

export function describeStep(s: PlanStep): string {
  switch (s.op) {
    case 'replace-route':
    case 'delete-route':
      return `${s.op} ${s.route.dst} via ${s.route.via} dev ${s.route.dev}${s.route.onlink ? ' onlink' : ''}`;
    case 'replace-neigh':
    case 'delete-neigh':
      return `${s.op} ${s.neigh.ip} lladdr ${s.neigh.mac} dev ${s.neigh.dev}`;
    case 'replace-fdb':
    case 'delete-fdb':
      return `${s.op} ${s.fdb.mac} dst ${s.fdb.dst} dev ${s.fdb.dev}`;
    default: {
      const never: never = s;
      return JSON.stringify(never);
    }
  }
}
