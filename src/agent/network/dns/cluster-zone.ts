/**
 * The cluster's DNS records (the Kubernetes DNS specification, as CoreDNS's kubernetes plugin
 * answers it) computed from the Services and EndpointSlices the node sees:
 * - `<svc>.<ns>.svc.<domain>`: the ClusterIPs, or a headless Service's ready endpoint addresses;
 *   an ExternalName Service is a CNAME;
 * - `<hostname>.<svc>.<ns>.svc.<domain>` for headless endpoints with a hostname, and
 *   `<a-b-c-d>.<svc>.<ns>.svc.<domain>` for those without (the SRV targets);
 * - `_<port>._<proto>.<svc>.<ns>.svc.<domain>` SRV for every named port;
 * - PTR for ClusterIPs and headless endpoint addresses;
 * - `<a-b-c-d>.<ns>.pod.<domain>` (CoreDNS's `pods insecure`).
 * Names under the domain that match nothing are NXDOMAIN (authoritative); reverse names that
 * match nothing are left to the upstream resolvers.
 */
import { isIP } from 'node:net';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { RCode, RRType, reverseName, type Question, type RCodeValue, type RecordData, type ResourceRecord } from './wire.ts';

/** CoreDNS's kubernetes plugin default */
export const DNS_TTL = 5;
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export type Answer =
  | { kind: 'records'; rcode: RCodeValue; answers: ResourceRecord[]; authority: ResourceRecord[]; additional: ResourceRecord[] }
  /** not ours: ask the upstream resolvers */
  | { kind: 'forward' };

type Named = RecordData & { name: string };

export class ClusterZone {
  private readonly services = new Map<string, Service>();
  private readonly slices = new Map<string, EndpointSlice>();
  private index: { names: Map<string, RecordData[]>; present: Set<string>; ptr: Map<string, string> } | undefined;
  private serial = 1;

  constructor(readonly domain: string) {}

  setService(svc: Service): void {
    this.services.set(key(svc.metadata), svc);
    this.changed();
  }

  deleteService(svc: Service): void {
    this.services.delete(key(svc.metadata));
    this.changed();
  }

  setSlice(slice: EndpointSlice): void {
    this.slices.set(key(slice.metadata), slice);
    this.changed();
  }

  deleteSlice(slice: EndpointSlice): void {
    this.slices.delete(key(slice.metadata));
    this.changed();
  }

  private changed(): void {
    this.index = undefined;
    this.serial = (this.serial + 1) >>> 0;
  }

  /** The answer to one question, or `forward` when the name is outside what the cluster knows. */
  lookup(q: Question): Answer {
    const name = q.name;
    const inDomain = name === this.domain || name.endsWith(`.${this.domain}`);
    const idx = this.build();
    if (!inDomain) {
      const target = q.type === RRType.PTR || q.type === RRType.ANY ? idx.ptr.get(name) : undefined;
      if (target) return this.records(RCode.NoError, [{ name, ttl: DNS_TTL, type: 'PTR', target }]);
      return { kind: 'forward' };
    }
    let data = idx.names.get(name) ?? this.podRecord(name);
    if (!data) return this.records(idx.present.has(name) ? RCode.NoError : RCode.NXDomain, []);
    const cname = data.find((d) => d.type === 'CNAME');
    if (cname && q.type !== RRType.CNAME) data = [cname];
    const matching = data.filter((d) => q.type === RRType.ANY || TYPE_OF[d.type] === q.type || d.type === 'CNAME');
    const answers = matching.map((d) => ({ ...d, name, ttl: DNS_TTL }));
    // SRV targets' addresses ride along in the additional section
    const additional: ResourceRecord[] = [];
    for (const a of answers) {
      if (a.type !== 'SRV') continue;
      for (const d of idx.names.get(a.target) ?? []) if (d.type === 'A' || d.type === 'AAAA') additional.push({ ...d, name: a.target, ttl: DNS_TTL });
    }
    return this.records(RCode.NoError, answers, additional);
  }

  private records(rcode: RCodeValue, answers: ResourceRecord[], additional: ResourceRecord[] = []): Answer {
    // negative answers carry the zone's SOA so resolvers can cache them (RFC 2308)
    const authority: ResourceRecord[] = answers.length === 0 ? [this.soa()] : [];
    return { kind: 'records', rcode, answers, authority, additional };
  }

  private soa(): ResourceRecord {
    return {
      name: this.domain,
      ttl: DNS_TTL,
      type: 'SOA',
      mname: `ns.dns.${this.domain}`,
      rname: `hostmaster.${this.domain}`,
      serial: this.serial,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: DNS_TTL,
    };
  }

  /** `1-2-3-4.<ns>.pod.<domain>` answers with the address it spells */
  private podRecord(name: string): RecordData[] | undefined {
    const labels = name.slice(0, -(this.domain.length + 1)).split('.');
    if (labels.length !== 3 || labels[2] !== 'pod') return undefined;
    const v4 = (labels[0] ?? '').replace(/-/g, '.');
    if (isIP(v4) === 4) return [{ type: 'A', address: v4 }];
    const v6 = (labels[0] ?? '').replace(/-/g, ':');
    return isIP(v6) === 6 ? [{ type: 'AAAA', address: v6 }] : undefined;
  }

  private build(): NonNullable<ClusterZone['index']> {
    if (this.index) return this.index;
    const names = new Map<string, RecordData[]>();
    const ptr = new Map<string, string>();
    const add = (r: Named): void => {
      const { name, ...data } = r;
      const list = names.get(name) ?? [];
      if (!list.some((d) => JSON.stringify(d) === JSON.stringify(data))) list.push(data as RecordData);
      names.set(name, list);
    };
    const slicesBySvc = new Map<string, EndpointSlice[]>();
    for (const s of this.slices.values()) {
      const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (!svc) continue;
      const k = `${s.metadata?.namespace ?? 'default'}/${svc}`;
      slicesBySvc.set(k, [...(slicesBySvc.get(k) ?? []), s]);
    }
    for (const [k, svc] of this.services) {
      const fqdn = `${svc.metadata?.name ?? ''}.${svc.metadata?.namespace ?? 'default'}.svc.${this.domain}`.toLowerCase();
      for (const r of serviceRecords(fqdn, svc, slicesBySvc.get(k) ?? [])) {
        if (r.type === 'PTR') ptr.set(r.name, r.target);
        else add(r);
      }
      // a Service without addresses yet still exists: NODATA, not NXDOMAIN
      if (!names.has(fqdn)) names.set(fqdn, []);
    }
    const present = new Set<string>();
    for (const n of names.keys()) {
      // every ancestor down to the domain is an empty non-terminal
      for (let p = n; p.length > this.domain.length; p = p.slice(p.indexOf('.') + 1)) present.add(p);
    }
    present.add(this.domain);
    this.index = { names, present, ptr };
    return this.index;
  }
}

const TYPE_OF: Record<RecordData['type'], number> = { A: RRType.A, AAAA: RRType.AAAA, CNAME: RRType.CNAME, PTR: RRType.PTR, SRV: RRType.SRV, SOA: RRType.SOA };

const key = (m: { namespace?: string; name?: string } | undefined): string => `${m?.namespace ?? 'default'}/${m?.name ?? ''}`;

const addrRecord = (name: string, address: string): Named | undefined =>
  isIP(address) === 4 ? { name, type: 'A', address } : isIP(address) === 6 ? { name, type: 'AAAA', address } : undefined;

/** `1-2-3-4` (or the IPv6 address with dashes): the label an endpoint without a hostname gets */
const dashed = (address: string): string => address.replace(/[.:]/g, '-');

function serviceRecords(fqdn: string, svc: Service, slices: EndpointSlice[]): Named[] {
  const spec = svc.spec ?? {};
  const out: Named[] = [];
  if (spec.type === 'ExternalName') {
    if (spec.externalName) out.push({ name: fqdn, type: 'CNAME', target: spec.externalName.toLowerCase().replace(/\.$/, '') });
    return out;
  }
  const srvName = (portName: string, protocol: string | undefined): string => `_${portName}._${(protocol ?? 'TCP').toLowerCase()}.${fqdn}`.toLowerCase();
  if (spec.clusterIP !== 'None') {
    const ips = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => isIP(ip) !== 0);
    for (const ip of ips) {
      const a = addrRecord(fqdn, ip);
      if (a) out.push(a);
      out.push({ name: reverseName(ip), type: 'PTR', target: fqdn });
    }
    if (ips.length) {
      for (const p of spec.ports ?? []) {
        if (p.name) out.push({ name: srvName(p.name, p.protocol), type: 'SRV', priority: 0, weight: 100, port: p.port, target: fqdn });
      }
    }
    return out;
  }
  // headless: the endpoints themselves
  const publishNotReady = spec.publishNotReadyAddresses === true;
  const targets: { name: string; address: string; ports: EndpointSlice['ports'] }[] = [];
  for (const slice of slices) {
    for (const ep of slice.endpoints ?? []) {
      if (!publishNotReady && ep.conditions?.ready === false) continue;
      for (const address of ep.addresses ?? []) {
        const a = addrRecord(fqdn, address);
        if (!a) continue;
        out.push(a);
        const host = `${(ep.hostname ?? dashed(address)).toLowerCase()}.${fqdn}`;
        const ha = addrRecord(host, address);
        if (ha) out.push(ha);
        out.push({ name: reverseName(address), type: 'PTR', target: host });
        targets.push({ name: host, address, ports: slice.ports });
      }
    }
  }
  const srv = new Map<string, { port: number; target: string }[]>();
  for (const t of targets) {
    for (const p of t.ports ?? []) {
      if (!p.name || p.port === undefined) continue;
      const n = srvName(p.name, p.protocol);
      srv.set(n, [...(srv.get(n) ?? []), { port: p.port, target: t.name }]);
    }
  }
  for (const [name, list] of srv) {
    // CoreDNS spreads the weight evenly over a name's targets
    const weight = Math.max(1, Math.floor(100 / list.length));
    for (const s of list) out.push({ name, type: 'SRV', priority: 0, weight, port: s.port, target: s.target });
  }
  return out;
}
