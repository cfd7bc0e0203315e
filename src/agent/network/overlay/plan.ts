/**
 * What the kernel should hold for a set of peers, and the steps from what it holds now. Pure:
 * `Overlay.sync` reads the current state through the Netlink seam, plans, and applies.
 */
import { cidrContains, networkAddress } from '../../../lib/cidr.ts';
import { compareStrings } from '../../../lib/compare.ts';
import type { FdbSpec, NeighSpec, OverlayPeer, RouteSpec } from './types.ts';

export interface KernelState {
  routes: RouteSpec[];
  neighbours: NeighSpec[];
  fdb: FdbSpec[];
}

export type PlanStep =
  | { op: 'replace-route'; route: RouteSpec }
  | { op: 'delete-route'; route: RouteSpec }
  | { op: 'replace-neigh'; neigh: NeighSpec }
  | { op: 'delete-neigh'; neigh: NeighSpec }
  | { op: 'replace-fdb'; fdb: FdbSpec }
  | { op: 'delete-fdb'; fdb: FdbSpec };

export type DesiredBackend =
  | { type: 'vxlan'; device: string }
  /** `underlayCidr6`: the IPv6 subnet of the node's own underlay address, on a dual-stack host-gw node that has one */
  | { type: 'host-gw'; underlayDevice: string; underlayCidr: string; underlayCidr6?: string };

export { cidrContains, networkAddress };

/** The entries one node needs for `peers` (its own Node left out by the caller). */
export function desiredState(backend: DesiredBackend, peers: OverlayPeer[]): KernelState {
  const out: KernelState = { routes: [], neighbours: [], fdb: [] };
  for (const p of [...peers].sort((a, b) => compareStrings(a.name, b.name))) {
    switch (backend.type) {
      case 'vxlan': {
        if (!p.vtepMAC) continue;
        // dual-stack: the IPv6 range goes the same way (IPv6 inner frames over the IPv4 underlay), one FDB entry serves both
        for (const cidr of p.podCIDRv6 ? [p.podCIDR, p.podCIDRv6] : [p.podCIDR]) {
          const vtep = networkAddress(cidr);
          out.routes.push({ dst: cidr, via: vtep, dev: backend.device, onlink: true });
          out.neighbours.push({ ip: vtep, mac: p.vtepMAC, dev: backend.device });
        }
        out.fdb.push({ mac: p.vtepMAC, dst: p.publicIP, dev: backend.device });
        break;
      }
      case 'host-gw':
        // a direct route needs the peer on our L2; others are left out (the caller logs them).
        // Its IPv6 range goes via its IPv6 underlay address, when both of us have one on the same subnet
        if (!cidrContains(backend.underlayCidr, p.publicIP)) continue;
        out.routes.push({ dst: p.podCIDR, via: p.publicIP, dev: backend.underlayDevice, onlink: false });
        if (p.podCIDRv6 && p.publicIPv6 && backend.underlayCidr6 && cidrContains(backend.underlayCidr6, p.publicIPv6)) {
          out.routes.push({ dst: p.podCIDRv6, via: p.publicIPv6, dev: backend.underlayDevice, onlink: false });
        }
        break;
      default: {
        const never: never = backend;
        throw new Error(`unknown backend ${JSON.stringify(never)}`);
      }
    }
  }
  return out;
}

const routeKey = (r: RouteSpec): string => r.dst;
const routeSame = (a: RouteSpec, b: RouteSpec): boolean => a.via === b.via && a.dev === b.dev && a.onlink === b.onlink;
const neighKey = (n: NeighSpec): string => `${n.dev}|${n.ip}`;
const fdbKey = (f: FdbSpec): string => `${f.dev}|${f.mac}|${f.dst}`;

/**
 * Steps from `current` to `desired`: adds in the order fdb → neighbour → route (a route is only
 * usable once the peer's vtep resolves and is reachable), removals the other way round.
 * Entries already right are left alone, so a second plan of the same state is empty.
 */
export function planSteps(current: KernelState, desired: KernelState): PlanStep[] {
  const steps: PlanStep[] = [];
  const curRoutes = new Map(current.routes.map((r) => [routeKey(r), r]));
  const wantRoutes = new Map(desired.routes.map((r) => [routeKey(r), r]));
  const curNeigh = new Map(current.neighbours.map((n) => [neighKey(n), n]));
  const wantNeigh = new Map(desired.neighbours.map((n) => [neighKey(n), n]));
  const curFdb = new Set(current.fdb.map(fdbKey));
  const wantFdb = new Set(desired.fdb.map(fdbKey));

  for (const r of current.routes) if (!wantRoutes.has(routeKey(r))) steps.push({ op: 'delete-route', route: r });
  for (const n of current.neighbours) if (!wantNeigh.has(neighKey(n))) steps.push({ op: 'delete-neigh', neigh: n });
  for (const f of current.fdb) if (!wantFdb.has(fdbKey(f))) steps.push({ op: 'delete-fdb', fdb: f });
  for (const f of desired.fdb) if (!curFdb.has(fdbKey(f))) steps.push({ op: 'replace-fdb', fdb: f });
  for (const n of desired.neighbours) {
    const cur = curNeigh.get(neighKey(n));
    if (!cur || cur.mac !== n.mac) steps.push({ op: 'replace-neigh', neigh: n });
  }
  for (const r of desired.routes) {
    const cur = curRoutes.get(routeKey(r));
    if (!cur || !routeSame(cur, r)) steps.push({ op: 'replace-route', route: r });
  }
  return steps;
}
