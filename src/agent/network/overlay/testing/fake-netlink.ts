/**
 * In-memory `Netlink` for unit tests: one namespace's links, addresses, overlay routes,
 * permanent neighbours and FDB entries, with iproute2's semantics where the overlay relies on
 * them (deleting a link drops its addresses, routes, neighbours and FDB entries; deletes of
 * absent entries succeed). `calls` records every write, so tests can assert idempotency.
 */
import { HedgeError } from '../../../../lib/errors.ts';
import type { FdbSpec, LinkState, NeighSpec, Netlink, RouteSpec, VxlanSpec } from '../types.ts';

export class FakeNetlink implements Netlink {
  readonly links = new Map<string, LinkState>();
  readonly addrs = new Map<string, string[]>();
  routeTable: RouteSpec[] = [];
  neighTable: NeighSpec[] = [];
  fdbTable: FdbSpec[] = [];
  forwarding = false;
  forwarding6 = false;
  readonly calls: string[] = [];

  /** an underlay interface holding `cidr` (e.g. 192.168.1.2/24) */
  addUnderlay(name: string, cidr: string, mtu = 1500): void {
    this.links.set(name, { name, mac: '02:00:00:00:00:01', mtu, up: true });
    this.addrs.set(name, [cidr]);
  }

  private need(name: string): LinkState {
    const l = this.links.get(name);
    if (!l) throw new HedgeError('Internal', `Cannot find device "${name}"`);
    return l;
  }

  async link(name: string): Promise<LinkState | undefined> {
    const l = this.links.get(name);
    return l ? structuredClone(l) : undefined;
  }

  async linkWithAddress(ip: string): Promise<{ name: string; mtu: number; prefixLength: number } | undefined> {
    for (const [name, list] of this.addrs) {
      const a = list.find((c) => c.split('/')[0] === ip);
      if (a) return { name, mtu: this.need(name).mtu, prefixLength: Number(a.split('/')[1]) };
    }
    return undefined;
  }

  async addVxlan(s: VxlanSpec): Promise<void> {
    this.calls.push(`addVxlan ${s.name}`);
    if (this.links.has(s.name)) throw new HedgeError('Internal', 'RTNETLINK answers: File exists');
    this.need(s.dev);
    this.links.set(s.name, { name: s.name, mac: s.mac, mtu: s.mtu, up: false, vxlan: { vni: s.vni, local: s.local, dev: s.dev, port: s.port, learning: false } });
  }

  async setLink(name: string, opts: { mtu?: number; up?: boolean }): Promise<void> {
    this.calls.push(`setLink ${name}`);
    const l = this.need(name);
    if (opts.mtu !== undefined) l.mtu = opts.mtu;
    if (opts.up !== undefined) l.up = opts.up;
  }

  async deleteLink(name: string): Promise<void> {
    this.calls.push(`deleteLink ${name}`);
    this.links.delete(name);
    this.addrs.delete(name);
    this.routeTable = this.routeTable.filter((r) => r.dev !== name);
    this.neighTable = this.neighTable.filter((n) => n.dev !== name);
    this.fdbTable = this.fdbTable.filter((f) => f.dev !== name);
  }

  async addresses(dev: string): Promise<string[]> {
    return [...(this.addrs.get(dev) ?? [])];
  }

  async addAddress(dev: string, cidr: string): Promise<void> {
    this.calls.push(`addAddress ${dev} ${cidr}`);
    this.need(dev);
    const list = this.addrs.get(dev) ?? [];
    if (!list.includes(cidr)) list.push(cidr);
    this.addrs.set(dev, list);
  }

  async deleteAddress(dev: string, cidr: string): Promise<void> {
    this.calls.push(`deleteAddress ${dev} ${cidr}`);
    this.addrs.set(dev, (this.addrs.get(dev) ?? []).filter((c) => c !== cidr));
  }

  async routes(): Promise<RouteSpec[]> {
    return this.routeTable.map((r) => ({ ...r }));
  }

  async replaceRoute(r: RouteSpec): Promise<void> {
    this.calls.push(`replaceRoute ${r.dst}`);
    this.need(r.dev);
    this.routeTable = [...this.routeTable.filter((x) => x.dst !== r.dst), { ...r }];
  }

  async deleteRoute(r: RouteSpec): Promise<void> {
    this.calls.push(`deleteRoute ${r.dst}`);
    this.routeTable = this.routeTable.filter((x) => x.dst !== r.dst);
  }

  async neighbours(dev: string): Promise<NeighSpec[]> {
    return this.neighTable.filter((n) => n.dev === dev).map((n) => ({ ...n }));
  }

  async replaceNeighbour(n: NeighSpec): Promise<void> {
    this.calls.push(`replaceNeighbour ${n.ip}`);
    this.need(n.dev);
    this.neighTable = [...this.neighTable.filter((x) => !(x.dev === n.dev && x.ip === n.ip)), { ...n }];
  }

  async deleteNeighbour(n: NeighSpec): Promise<void> {
    this.calls.push(`deleteNeighbour ${n.ip}`);
    this.neighTable = this.neighTable.filter((x) => !(x.dev === n.dev && x.ip === n.ip));
  }

  async fdb(dev: string): Promise<FdbSpec[]> {
    return this.fdbTable.filter((f) => f.dev === dev).map((f) => ({ ...f }));
  }

  async replaceFdb(f: FdbSpec): Promise<void> {
    this.calls.push(`replaceFdb ${f.mac} ${f.dst}`);
    this.need(f.dev);
    this.fdbTable = [...this.fdbTable.filter((x) => !(x.dev === f.dev && x.mac === f.mac && x.dst === f.dst)), { ...f }];
  }

  async deleteFdb(f: FdbSpec): Promise<void> {
    this.calls.push(`deleteFdb ${f.mac} ${f.dst}`);
    this.fdbTable = this.fdbTable.filter((x) => !(x.dev === f.dev && x.mac === f.mac && x.dst === f.dst));
  }

  async enableForwarding(_signal?: AbortSignal, opts: { ipv6?: boolean } = {}): Promise<void> {
    this.forwarding = true;
    if (opts.ipv6) this.forwarding6 = true;
  }
}
