/**
 * The `Netlink` seam over iproute2: reads are `ip -j` / `bridge -j` (JSON), writes are the
 * idempotent `replace` forms where iproute2 has them. Every route the overlay adds carries its
 * own route protocol (`proto 104`), which is how a restarted node finds the routes it owns
 * among the host's (host-gw routes share the underlay device with everybody else's).
 */
import { writeFile } from 'node:fs/promises';
import { HedgeError } from '../../../lib/errors.ts';
import { runCommand } from '../../host/run-command.ts';
import type { FdbSpec, LinkState, NeighSpec, Netlink, RouteSpec, VxlanSpec } from './types.ts';

/** the route protocol number marking the overlay's routes (rtnetlink leaves 5–251 to daemons; 104 = "h") */
export const OVERLAY_ROUTE_PROTO = '104';

interface IpLink {
  ifname: string;
  address?: string;
  mtu?: number;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; link?: string; port?: number; learning?: boolean } };
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
}

/** "does not exist" answers of iproute2, which deletes treat as done */
const GONE = /Cannot find device|No such (file|device|process)|does not exist|not found|Cannot assign requested address/i;

export interface IpNetlinkOptions {
  /** run in this pinned network namespace (nsenter --net) instead of the process's own: tests and benches */
  netnsPath?: string;
}

export class IpNetlink implements Netlink {
  constructor(private readonly opts: IpNetlinkOptions = {}) {}

  private run(cmd: string, args: string[], signal?: AbortSignal): ReturnType<typeof runCommand> {
    const ns = this.opts.netnsPath;
    return ns ? runCommand('nsenter', [`--net=${ns}`, cmd, ...args], { signal, timeoutMs: 15_000 }) : runCommand(cmd, args, { signal, timeoutMs: 15_000 });
  }

  private async exec(cmd: 'ip' | 'bridge', args: string[], signal?: AbortSignal): Promise<string> {
    const r = await this.run(cmd, args, signal);
    if (r.code !== 0) throw new HedgeError('Internal', `${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
    return r.stdout;
  }

  private async json<T>(cmd: 'ip' | 'bridge', args: string[], signal?: AbortSignal): Promise<T[]> {
    const out = (await this.exec(cmd, ['-j', ...args], signal)).trim();
    return out === '' ? [] : (JSON.parse(out) as T[]);
  }

  private async del(cmd: 'ip' | 'bridge', args: string[], signal?: AbortSignal): Promise<void> {
    const r = await this.run(cmd, args, signal);
    if (r.code !== 0 && !GONE.test(r.stderr)) throw new HedgeError('Internal', `${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  }

  async link(name: string, signal?: AbortSignal): Promise<LinkState | undefined> {
    const r = await this.run('ip', ['-j', '-d', 'link', 'show', 'dev', name], signal);
    if (r.code !== 0) {
      if (GONE.test(r.stderr)) return undefined;
      throw new HedgeError('Internal', `ip -j -d link show dev ${name}: ${r.stderr.trim()}`);
    }
    const l = (JSON.parse(r.stdout) as IpLink[])[0];
    if (!l) return undefined;
    const info = l.linkinfo?.info_kind === 'vxlan' ? l.linkinfo.info_data : undefined;
    return {
      name: l.ifname,
      mac: (l.address ?? '').toLowerCase(),
      mtu: l.mtu ?? 0,
      up: (l.flags ?? []).includes('UP'),
      vxlan: info ? { vni: info.id ?? -1, local: info.local, dev: info.link, port: info.port, learning: info.learning ?? true } : undefined,
    };
  }

  async linkWithAddress(ip: string, signal?: AbortSignal): Promise<{ name: string; mtu: number; prefixLength: number } | undefined> {
    for (const l of await this.json<IpLink>('ip', ['-4', 'addr', 'show'], signal)) {
      const a = (l.addr_info ?? []).find((x) => x.local === ip);
      if (a) return { name: l.ifname, mtu: l.mtu ?? 1500, prefixLength: a.prefixlen ?? 32 };
    }
    return undefined;
  }

  async addVxlan(s: VxlanSpec, signal?: AbortSignal): Promise<void> {
    await this.exec('ip', ['link', 'add', s.name, 'address', s.mac, 'mtu', String(s.mtu), 'type', 'vxlan', 'id', String(s.vni), 'local', s.local, 'dev', s.dev, 'dstport', String(s.port), 'nolearning'], signal);
  }

  async setLink(name: string, opts: { mtu?: number; up?: boolean }, signal?: AbortSignal): Promise<void> {
    const args = ['link', 'set', 'dev', name];
    if (opts.mtu !== undefined) args.push('mtu', String(opts.mtu));
    if (opts.up !== undefined) args.push(opts.up ? 'up' : 'down');
    await this.exec('ip', args, signal);
  }

  async deleteLink(name: string, signal?: AbortSignal): Promise<void> {
    await this.del('ip', ['link', 'del', 'dev', name], signal);
  }

  async addresses(dev: string, signal?: AbortSignal): Promise<string[]> {
    const links = await this.json<IpLink>('ip', ['addr', 'show', 'dev', dev], signal);
    // the kernel's own fe80:: address of the device is not ours to manage
    return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local ?? ''}/${a.prefixlen ?? 32}`));
  }

  async addAddress(dev: string, cidr: string, signal?: AbortSignal): Promise<void> {
    // an IPv6 vtep address is unique by construction: no duplicate address detection delay
    await this.exec('ip', ['addr', 'replace', cidr, 'dev', dev, ...(cidr.includes(':') ? ['nodad'] : [])], signal);
  }

  async deleteAddress(dev: string, cidr: string, signal?: AbortSignal): Promise<void> {
    await this.del('ip', ['addr', 'del', cidr, 'dev', dev], signal);
  }

  async routes(signal?: AbortSignal): Promise<RouteSpec[]> {
    const rs: { dst?: string; gateway?: string; dev?: string; flags?: string[] }[] = [];
    for (const family of ['-4', '-6']) rs.push(...(await this.json<(typeof rs)[number]>('ip', [family, 'route', 'show', 'proto', OVERLAY_ROUTE_PROTO], signal)));
    return rs.map((r) => ({ dst: r.dst ?? '', via: r.gateway ?? '', dev: r.dev ?? '', onlink: (r.flags ?? []).includes('onlink') }));
  }

  async replaceRoute(r: RouteSpec, signal?: AbortSignal): Promise<void> {
    await this.exec('ip', ['route', 'replace', r.dst, 'via', r.via, 'dev', r.dev, ...(r.onlink ? ['onlink'] : []), 'proto', OVERLAY_ROUTE_PROTO], signal);
  }

  async deleteRoute(r: RouteSpec, signal?: AbortSignal): Promise<void> {
    await this.del('ip', ['route', 'del', r.dst, 'dev', r.dev, 'proto', OVERLAY_ROUTE_PROTO], signal);
  }

  async neighbours(dev: string, signal?: AbortSignal): Promise<NeighSpec[]> {
    const ns: { dst?: string; lladdr?: string; state?: string[] }[] = [];
    for (const family of ['-4', '-6']) ns.push(...(await this.json<(typeof ns)[number]>('ip', [family, 'neigh', 'show', 'dev', dev, 'nud', 'permanent'], signal)));
    return ns.filter((n) => n.dst && n.lladdr).map((n) => ({ ip: n.dst ?? '', mac: (n.lladdr ?? '').toLowerCase(), dev }));
  }

  async replaceNeighbour(n: NeighSpec, signal?: AbortSignal): Promise<void> {
    await this.exec('ip', ['neigh', 'replace', n.ip, 'lladdr', n.mac, 'dev', n.dev, 'nud', 'permanent'], signal);
  }

  async deleteNeighbour(n: NeighSpec, signal?: AbortSignal): Promise<void> {
    await this.del('ip', ['neigh', 'del', n.ip, 'dev', n.dev], signal);
  }

  async fdb(dev: string, signal?: AbortSignal): Promise<FdbSpec[]> {
    const es = await this.json<{ mac?: string; dst?: string }>('bridge', ['fdb', 'show', 'dev', dev], signal);
    return es.filter((e) => e.mac && e.dst).map((e) => ({ mac: (e.mac ?? '').toLowerCase(), dst: e.dst ?? '', dev }));
  }

  async replaceFdb(f: FdbSpec, signal?: AbortSignal): Promise<void> {
    await this.exec('bridge', ['fdb', 'replace', f.mac, 'dev', f.dev, 'dst', f.dst, 'self', 'permanent'], signal);
  }

  async deleteFdb(f: FdbSpec, signal?: AbortSignal): Promise<void> {
    await this.del('bridge', ['fdb', 'del', f.mac, 'dev', f.dev, 'dst', f.dst, 'self'], signal);
  }

  async enableForwarding(signal?: AbortSignal, opts: { ipv6?: boolean } = {}): Promise<void> {
    const files = ['/proc/sys/net/ipv4/ip_forward', ...(opts.ipv6 ? ['/proc/sys/net/ipv6/conf/all/forwarding'] : [])];
    for (const f of files) {
      // /proc/sys/net belongs to the network namespace of the writing process
      if (!this.opts.netnsPath) {
        await writeFile(f, '1\n');
        continue;
      }
      const r = await this.run('sh', ['-c', `echo 1 > ${f}`], signal);
      if (r.code !== 0) throw new HedgeError('Internal', `${f}: ${r.stderr.trim()}`);
    }
  }
}
