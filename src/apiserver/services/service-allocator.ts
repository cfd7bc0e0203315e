import { randomInt } from 'node:crypto';
import type { Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { index, invalid } from '../../api/meta/field-errors.ts';
import { HedgeError, isHedgeError, type FieldCause } from '../../lib/errors.ts';
import type { Store } from '../../store/types.ts';
import { formatIp, parseIp } from '../../lib/cidr.ts';
import { addressAt, familyName, offsetInRange, type NodePortRange, type ServiceIpRange } from './service-ranges.ts';

/**
 * ClusterIP and NodePort allocation for Services, kept in the store itself so it survives restarts
 * and is shared by every apiserver on the same etcd: one key per allocated address or port (like
 * upstream's IPAddress objects), created with create-if-absent, so two concurrent creates can never
 * both win the same address. A reservation names its Service (namespace, name, uid); one whose
 * Service does not hold it any more (a crash between reserving and writing the Service) is
 * reclaimed once it is older than `staleAfterMs`.
 */

export const SERVICE_IP_PREFIX = '/registry/hedge.io/serviceips/';
export const NODE_PORT_PREFIX = '/registry/hedge.io/servicenodeports/';

interface Reservation {
  namespace: string;
  name: string;
  uid: string;
  /** ms since epoch when reserved */
  at: number;
}

export interface ServiceAllocatorOptions {
  store: Store;
  /** the primary range first; a second of the other family makes the cluster dual-stack */
  ipRanges: ServiceIpRange[];
  nodePortRange: NodePortRange;
  /** a reservation whose Service does not hold it is reclaimed after this long (default 60 s) */
  staleAfterMs?: number;
  now?: () => number;
}

/** What a create or update reserved; `finish(true)` keeps it (and frees what the old object no longer holds), `finish(false)` undoes it. */
export type FinishAllocation = (committed: boolean) => Promise<void>;

type Owner = Pick<Reservation, 'namespace' | 'name' | 'uid'>;

interface SpecView {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  ipFamilies?: string[];
  ipFamilyPolicy?: string;
  allocateLoadBalancerNodePorts?: boolean;
  ports?: ServicePort[];
}

const spec = (obj: KubeObject | undefined): SpecView => {
  const sp = (obj as unknown as Service | undefined)?.spec;
  return (typeof sp === 'object' && sp !== null ? sp : {}) as SpecView;
};
/** the ports that are objects (validation reports the rest; allocation must not trip over them) */
const portsOf = (s: SpecView): ServicePort[] => (Array.isArray(s.ports) ? s.ports.filter((p): p is ServicePort => typeof p === 'object' && p !== null) : []);
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.map(String) : undefined);
const ownerOf = (obj: KubeObject): Owner => ({ namespace: obj.metadata.namespace ?? '', name: obj.metadata.name ?? '', uid: obj.metadata.uid ?? '' });

/** the cluster IPs this Service should hold (none: ExternalName or headless) */
function heldIps(obj: KubeObject | undefined): string[] {
  const s = spec(obj);
  if (!obj || s.type === 'ExternalName' || !s.clusterIP || s.clusterIP === 'None') return [];
  return Array.isArray(s.clusterIPs) && s.clusterIPs.length > 0 ? s.clusterIPs.map(String) : [s.clusterIP];
}

/** the canonical text of an address (RFC 5952 for IPv6), as reservations are keyed; anything else as it is */
const canonical = (ip: string): string => {
  const a = parseIp(ip);
  return a ? formatIp(a.family, a.value) : ip;
};

function wantsNodePorts(s: SpecView): boolean {
  return s.type === 'NodePort' || (s.type === 'LoadBalancer' && s.allocateLoadBalancerNodePorts !== false);
}

function heldNodePorts(obj: KubeObject | undefined): Set<number> {
  const out = new Set<number>();
  const s = spec(obj);
  if (!obj || s.type === 'ExternalName' || s.type === 'ClusterIP') return out;
  for (const p of portsOf(s)) if (typeof p.nodePort === 'number' && p.nodePort) out.add(p.nodePort);
  return out;
}

export class ServiceAllocator {
  readonly ipRanges: ServiceIpRange[];
  readonly nodePortRange: NodePortRange;
  readonly #store: Store;
  readonly #staleAfterMs: number;
  readonly #now: () => number;

  constructor(opts: ServiceAllocatorOptions) {
    this.#store = opts.store;
    this.ipRanges = opts.ipRanges;
    this.nodePortRange = opts.nodePortRange;
    this.#staleAfterMs = opts.staleAfterMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Fill and reserve a new Service's cluster IP fields and node ports (upstream's allocateCreate).
   * Throws HedgeError('Invalid') with field causes; nothing stays reserved then.
   */
  async beginCreate(obj: KubeObject, dryRun: boolean): Promise<FinishAllocation> {
    return this.#begin(obj, undefined, dryRun);
  }

  /** Carry over allocated values the update left out, and reserve/free what the type change needs. */
  async beginUpdate(obj: KubeObject, old: KubeObject, dryRun: boolean): Promise<FinishAllocation> {
    patchAllocatedValues(obj, old);
    return this.#begin(obj, old, dryRun);
  }

  /** Free everything a deleted Service held (only reservations that name it). */
  async release(obj: KubeObject): Promise<void> {
    const owner = ownerOf(obj);
    for (const ip of heldIps(obj)) await this.#free(SERVICE_IP_PREFIX + ip, owner);
    for (const p of heldNodePorts(obj)) await this.#free(NODE_PORT_PREFIX + String(p), owner);
  }

  /** Is `ip` reserved right now (for tests and the repair of the `kubernetes` Service)? */
  async isReserved(ip: string): Promise<boolean> {
    return (await this.#store.get(SERVICE_IP_PREFIX + ip)) !== undefined;
  }

  async #begin(obj: KubeObject, old: KubeObject | undefined, dryRun: boolean): Promise<FinishAllocation> {
    const owner = ownerOf(obj);
    const s = spec(obj);
    const taken: string[] = [];
    const undo = async (): Promise<void> => {
      for (const key of taken.reverse()) await this.#free(key, owner);
    };
    try {
      const causes = this.#fillIpFields(obj, old);
      if (causes.length > 0) throw invalidService(obj, causes);
      // cluster IPs: one per family in spec.ipFamilies (filled above), the requested ones reserved
      if (s.type !== 'ExternalName' && s.clusterIP !== 'None') {
        const oldIps = new Set(heldIps(old));
        const ips = [...(s.clusterIPs ?? [])];
        for (const [i, fam] of (s.ipFamilies ?? []).entries()) {
          const range = this.ipRanges.find((r) => familyName(r.family) === fam)!;
          const ip = ips[i];
          if (!ip) {
            ips[i] = await this.#allocateIp(range, owner, dryRun);
            if (!dryRun) taken.push(SERVICE_IP_PREFIX + ips[i]);
          } else if (!oldIps.has(ip)) {
            const cause = await this.#reserveIp(ip, range, owner, dryRun);
            if (cause) throw invalidService(obj, [cause]);
            if (!dryRun) taken.push(SERVICE_IP_PREFIX + ip);
          }
        }
        s.clusterIPs = ips;
        s.clusterIP = ips[0];
      }
      // node ports
      if (wantsNodePorts(s)) {
        const oldPorts = heldNodePorts(old);
        const mine = new Set<number>();
        const portCauses: FieldCause[] = [];
        for (const [i, p] of portsOf(s).entries()) {
          const field = `${index('spec.ports', i)}.nodePort`;
          if (p.nodePort) {
            if (mine.has(p.nodePort) || oldPorts.has(p.nodePort)) continue;
            const cause = await this.#reservePort(p.nodePort, field, owner, dryRun);
            if (cause) portCauses.push(cause);
            else {
              mine.add(p.nodePort);
              if (!dryRun) taken.push(NODE_PORT_PREFIX + String(p.nodePort));
            }
          }
        }
        if (portCauses.length > 0) throw invalidService(obj, portCauses);
        for (const p of portsOf(s)) {
          if (p.nodePort) continue;
          p.nodePort = await this.#allocatePort(owner, dryRun, mine);
          mine.add(p.nodePort);
          if (!dryRun) taken.push(NODE_PORT_PREFIX + String(p.nodePort));
        }
      } else {
        for (const p of portsOf(s)) if (p.nodePort === 0) delete p.nodePort;
      }
    } catch (err) {
      await undo();
      throw err;
    }
    return async (committed) => {
      if (dryRun) return;
      if (!committed) return undo();
      if (!old) return;
      // what the old object held and the new one does not is free now
      const oldOwner = ownerOf(old);
      const ips = new Set(heldIps(obj));
      for (const ip of heldIps(old)) if (!ips.has(ip)) await this.#free(SERVICE_IP_PREFIX + ip, oldOwner);
      const now = heldNodePorts(obj);
      for (const p of heldNodePorts(old)) if (!now.has(p)) await this.#free(NODE_PORT_PREFIX + String(p), oldOwner);
    };
  }

  /**
   * clusterIPs / ipFamilies / ipFamilyPolicy as upstream fills them (initIPFamilyFields): the
   * policy inferred from two IPs or families, the families from the requested IPs, then the
   * primary family, and for PreferDualStack/RequireDualStack on a dual-stack cluster the other one
   * too; a downgrade to SingleStack drops the secondary IP. Returns what is invalid.
   */
  #fillIpFields(obj: KubeObject, old: KubeObject | undefined): FieldCause[] {
    const s = spec(obj);
    const o = spec(old);
    const causes: FieldCause[] = [];
    if (s.type === 'ExternalName') return causes;
    if (s.clusterIP !== undefined && typeof s.clusterIP !== 'string') return [invalid('spec.clusterIP', s.clusterIP, 'must be a string')];
    if (s.clusterIPs !== undefined && !Array.isArray(s.clusterIPs)) return [invalid('spec.clusterIPs', s.clusterIPs, 'must be a list of IP addresses')];
    if (s.ipFamilies !== undefined && !Array.isArray(s.ipFamilies)) return [invalid('spec.ipFamilies', s.ipFamilies, 'must be a list')];
    const configured = this.ipRanges.map((r) => familyName(r.family));
    const dualStack = configured.length === 2;
    if (s.clusterIP) s.clusterIP = canonical(s.clusterIP);
    s.clusterIPs = strings(s.clusterIPs)?.map(canonical);
    if (s.clusterIPs === undefined) delete s.clusterIPs;
    if (!s.clusterIP && s.clusterIPs?.[0]) s.clusterIP = s.clusterIPs[0];
    const ips = s.clusterIPs ?? (s.clusterIP ? [s.clusterIP] : []);
    const families = strings(s.ipFamilies) ?? [];
    if (s.clusterIPs && s.clusterIPs.length > 0 && s.clusterIPs[0] !== s.clusterIP) causes.push(invalid('spec.clusterIPs[0]', s.clusterIPs[0], 'must be same as clusterIP'));
    if (ips.length > 2) causes.push(invalid('spec.clusterIPs', ips, 'may contain at most 2 IP addresses'));
    for (const [i, f] of families.entries()) {
      if (f !== 'IPv4' && f !== 'IPv6') causes.push(invalid(index('spec.ipFamilies', i), f, 'must be IPv4 or IPv6'));
      else if (!configured.includes(f)) causes.push(invalid(index('spec.ipFamilies', i), f, 'not configured on this cluster'));
      else if (families.indexOf(f) !== i) causes.push(invalid(index('spec.ipFamilies', i), f, 'may not be repeated'));
    }
    if (families.length > 2) causes.push(invalid('spec.ipFamilies', families, 'may contain at most 2 families'));
    if (s.ipFamilyPolicy !== undefined && s.ipFamilyPolicy !== 'SingleStack' && s.ipFamilyPolicy !== 'PreferDualStack' && s.ipFamilyPolicy !== 'RequireDualStack') {
      causes.push(invalid('spec.ipFamilyPolicy', s.ipFamilyPolicy, 'must be one of SingleStack, PreferDualStack, RequireDualStack'));
    }
    if (causes.length > 0) return causes;
    // a downgrade to SingleStack keeps the primary IP and family only (the rest came from the old object)
    if (s.ipFamilyPolicy === 'SingleStack' && old && o.ipFamilyPolicy !== 'SingleStack' && ips.length === 2 && ips[1] === o.clusterIPs?.[1]) {
      ips.length = 1;
      families.length = Math.min(families.length, 1);
    }
    s.ipFamilyPolicy ??= o.ipFamilyPolicy ?? (ips.length === 2 || families.length === 2 ? 'RequireDualStack' : 'SingleStack');
    // the requested IPs decide their families
    for (const [i, ip] of ips.entries()) {
      if (ip === 'None') continue;
      const f = parseIp(ip)?.family;
      const name = f && familyName(f);
      if (!name) causes.push(invalid(index('spec.clusterIPs', i), ip, 'must be a valid IP address'));
      else if (families[i] !== undefined && families[i] !== name) causes.push(invalid(index('spec.clusterIPs', i), ip, `expected an ${families[i]} value as indicated by spec.ipFamilies[${i}]`));
      else if (!configured.includes(name)) causes.push(invalid('spec.clusterIPs', ips, `failed to allocate IP ${ip}: ${name} is not configured on this cluster`));
      else if (families[i] === undefined) families[i] = name;
    }
    if (ips.length === 2 && families[0] === families[1]) causes.push(invalid('spec.clusterIPs', ips, 'must be a dual-stack pair, one IPv4 and one IPv6 address'));
    if (s.ipFamilyPolicy === 'SingleStack' && (ips.length > 1 || families.length > 1)) causes.push(invalid('spec.ipFamilyPolicy', s.ipFamilyPolicy, 'must be RequireDualStack or PreferDualStack when multiple IP families are specified'));
    if (s.ipFamilyPolicy === 'RequireDualStack' && !dualStack) causes.push(invalid('spec.ipFamilyPolicy', s.ipFamilyPolicy, 'this cluster is not configured for dual-stack services'));
    if (causes.length > 0) return causes;
    if (families.length === 0) families.push(o.ipFamilies?.[0] ?? configured[0]!);
    if (s.ipFamilyPolicy !== 'SingleStack' && dualStack && families.length === 1) families.push(configured.find((f) => f !== families[0])!);
    // the primary family stays what it was (its address does too: clusterIP is immutable)
    const oldPrimary = old && heldIps(old).length > 0 ? o.ipFamilies?.[0] : undefined;
    if (oldPrimary && families[0] !== oldPrimary) return [invalid('spec.ipFamilies[0]', families[0], 'may not change (the primary IP family of a Service is immutable)')];
    s.ipFamilies = families;
    if (ips.length > 0) s.clusterIPs = ips;
    return causes;
  }

  async #reserveIp(ip: string, range: ServiceIpRange, owner: Owner, dryRun: boolean): Promise<FieldCause | undefined> {
    const fail = (why: string): FieldCause => invalid('spec.clusterIPs', [ip], `failed to allocate IP ${ip}: ${why}`);
    if (offsetInRange(range, ip) === undefined) {
      return fail(`the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${range.cidr}`);
    }
    return (await this.#tryReserve(SERVICE_IP_PREFIX + ip, owner, dryRun)) ? undefined : fail('provided IP is already allocated');
  }

  async #reservePort(port: number, field: string, owner: Owner, dryRun: boolean): Promise<FieldCause | undefined> {
    const r = this.nodePortRange;
    if (port < r.min || port > r.max) return invalid(field, port, `provided port is not in the valid range. The range of valid ports is ${r.text}`);
    return (await this.#tryReserve(NODE_PORT_PREFIX + String(port), owner, dryRun)) ? undefined : invalid(field, port, 'provided port is already allocated');
  }

  /**
   * A free address, preferring the upper part of the range for dynamic allocation (upstream keeps
   * the lower band for addresses users ask for, e.g. the DNS Service's).
   */
  async #allocateIp(range: ServiceIpRange, owner: Owner, dryRun: boolean): Promise<string> {
    const usable = range.size - 2;
    const band = Math.min(Math.max(16, Math.floor(usable / 16)), 256);
    const lowBand = usable > band * 2 ? band : 0;
    const pick = await this.#allocate(
      { lo: 1 + lowBand, hi: usable, all: { lo: 1, hi: usable } },
      (off) => SERVICE_IP_PREFIX + addressAt(range, off),
      owner,
      dryRun,
      new Set(),
    );
    if (pick === undefined) throw new HedgeError('Invalid', `Service "${owner.name}" is invalid: spec.clusterIPs: Internal error: failed to allocate a serviceIP: range is full`, {
      details: { kind: 'Service', name: owner.name, causes: [{ field: 'spec.clusterIPs', reason: 'FieldValueInvalid', message: 'failed to allocate a serviceIP: range is full' }] },
    });
    return addressAt(range, pick);
  }

  async #allocatePort(owner: Owner, dryRun: boolean, avoid: Set<number>): Promise<number> {
    const r = this.nodePortRange;
    const pick = await this.#allocate({ lo: r.min, hi: r.max, all: { lo: r.min, hi: r.max } }, (p) => NODE_PORT_PREFIX + String(p), owner, dryRun, avoid);
    if (pick === undefined) throw new HedgeError('Invalid', `Service "${owner.name}" is invalid: spec.ports: failed to allocate a nodePort: range is full`, {
      details: { kind: 'Service', name: owner.name, causes: [{ field: 'spec.ports', reason: 'FieldValueInvalid', message: 'failed to allocate a nodePort: range is full' }] },
    });
    return pick;
  }

  /** a few random tries in the preferred band, then a pick among the free values the store lists */
  async #allocate(
    band: { lo: number; hi: number; all: { lo: number; hi: number } },
    keyOf: (v: number) => string,
    owner: Owner,
    dryRun: boolean,
    avoid: Set<number>,
  ): Promise<number | undefined> {
    for (let i = 0; i < 4 && band.hi >= band.lo; i++) {
      const v = randomInt(band.lo, band.hi + 1);
      if (!avoid.has(v) && (await this.#tryReserve(keyOf(v), owner, dryRun))) return v;
    }
    for (let round = 0; round < 8; round++) {
      const prefix = keyOf(band.all.lo).slice(0, keyOf(band.all.lo).lastIndexOf('/') + 1);
      const used = new Set((await this.#store.list(prefix)).items.map((kv) => kv.key));
      const free: number[] = [];
      for (let v = band.all.lo; v <= band.all.hi && free.length < 4096; v++) if (!avoid.has(v) && !used.has(keyOf(v))) free.push(v);
      if (free.length === 0) {
        // every value is reserved: only a stale reservation can be taken over
        for (let v = band.all.lo; v <= band.all.hi; v++) if (!avoid.has(v) && (await this.#tryReserve(keyOf(v), owner, dryRun))) return v;
        return undefined;
      }
      const v = free[randomInt(0, free.length)]!;
      if (await this.#tryReserve(keyOf(v), owner, dryRun)) return v;
    }
    return undefined;
  }

  /** create-if-absent; an existing reservation that has gone stale is replaced */
  async #tryReserve(key: string, owner: Owner, dryRun: boolean): Promise<boolean> {
    const value = JSON.stringify({ ...owner, at: this.#now() } satisfies Reservation);
    for (let attempt = 0; attempt < 3; attempt++) {
      const cur = await this.#store.get(key);
      if (cur) {
        if (!(await this.#stale(key, cur.value))) return false;
        if (dryRun) return true;
        try {
          await this.#store.delete(key, { expectedRevision: cur.modRevision });
        } catch (err) {
          if (isHedgeError(err, 'Conflict') || isHedgeError(err, 'NotFound')) continue;
          throw err;
        }
      }
      if (dryRun) return true;
      try {
        await this.#store.create(key, value);
        return true;
      } catch (err) {
        if (isHedgeError(err, 'AlreadyExists')) continue;
        throw err;
      }
    }
    return false;
  }

  async #stale(key: string, raw: string): Promise<boolean> {
    let r: Reservation;
    try {
      r = JSON.parse(raw) as Reservation;
    } catch {
      return true;
    }
    if (this.#now() - r.at < this.#staleAfterMs) return false;
    const svcKv = await this.#store.get(`/registry/core/services/${r.namespace}/${r.name}`);
    if (!svcKv) return true;
    const svc = JSON.parse(svcKv.value) as KubeObject;
    if (svc.metadata.uid !== r.uid) return true;
    const value = key.slice(key.lastIndexOf('/') + 1);
    if (key.startsWith(SERVICE_IP_PREFIX)) return !heldIps(svc).includes(value);
    return !heldNodePorts(svc).has(Number(value));
  }

  async #free(key: string, owner: Owner): Promise<void> {
    const cur = await this.#store.get(key);
    if (!cur) return;
    try {
      const r = JSON.parse(cur.value) as Reservation;
      if (r.uid !== owner.uid || r.namespace !== owner.namespace || r.name !== owner.name) return;
      await this.#store.delete(key, { expectedRevision: cur.modRevision });
    } catch (err) {
      if (!(err instanceof SyntaxError) && !isHedgeError(err, 'Conflict') && !isHedgeError(err, 'NotFound')) throw err;
    }
  }
}

/**
 * upstream patchAllocatedValues: an update that leaves out the cluster IP or node ports (kubectl
 * apply of the original manifest) keeps the allocated ones.
 */
export function patchAllocatedValues(obj: KubeObject, old: KubeObject): void {
  const s = spec(obj);
  const o = spec(old);
  if (s.type !== 'ExternalName' && o.type !== 'ExternalName') {
    if (!s.clusterIP && o.clusterIP) s.clusterIP = o.clusterIP;
    if ((!s.clusterIPs || s.clusterIPs.length === 0) && o.clusterIPs) s.clusterIPs = [...o.clusterIPs];
    if (!s.ipFamilies && o.ipFamilies) s.ipFamilies = [...o.ipFamilies];
  }
  if (wantsNodePorts(s) && wantsNodePorts(o)) {
    for (const p of portsOf(s)) {
      if (p.nodePort) continue;
      const match = portsOf(o).find((q) => q.port === p.port && (q.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
      if (match?.nodePort) p.nodePort = match.nodePort;
    }
  }
}

function invalidService(obj: KubeObject, causes: FieldCause[]): HedgeError {
  const name = obj.metadata.name ?? '';
  const errs = causes.map((c) => `${c.field}: ${c.message}`);
  const summary = errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`;
  return new HedgeError('Invalid', `Service "${name}" is invalid: ${summary}`, { details: { kind: 'Service', group: '', name, causes } });
}
