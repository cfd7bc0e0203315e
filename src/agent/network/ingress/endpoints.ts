/**
 * A backend Service port → the addresses to proxy to (pure lookup + a round-robin cursor), from
 * the Services and EndpointSlices the node's informers hold.
 */
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { KubeObject } from '../../../api/object.ts';
import type { ServiceBackend } from './routes.ts';

export type ServiceObject = Service & KubeObject;
export type SliceObject = EndpointSlice & KubeObject;

export interface Upstream {
  host: string;
  port: number;
}

/** why a backend has no upstream: no such Service (or port), or no ready endpoint */
export type Resolution = { upstreams: Upstream[] } | { missing: 'service' | 'port' | 'endpoints'; detail: string };

export interface EndpointSource {
  service(namespace: string, name: string): ServiceObject | undefined;
  slices(namespace: string, service: string): Iterable<SliceObject>;
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/**
 * The ready endpoints of a Service port: the Service port is found by number (`port`) or name;
 * the slices' port of the same name (the Service port's name, '' when it has none) gives the
 * target port. Ready endpoints, else the serving-and-terminating ones (upstream's proxy fallback).
 * ExternalName Services resolve to their DNS name at the Service port.
 */
export function resolveBackend(src: EndpointSource, b: ServiceBackend): Resolution {
  const svc = src.service(b.namespace, b.service);
  if (!svc) return { missing: 'service', detail: `service ${b.namespace}/${b.service} not found` };
  const sp = svc.spec?.ports?.find((p) => ('number' in b.port ? p.port === b.port.number : p.name === b.port.name));
  if (svc.spec?.type === 'ExternalName' && svc.spec.externalName) {
    const port = 'number' in b.port ? b.port.number : sp?.port;
    if (!port) return { missing: 'port', detail: `service ${b.namespace}/${b.service} has no port ${'name' in b.port ? b.port.name : ''}` };
    return { upstreams: [{ host: svc.spec.externalName, port }] };
  }
  if (!sp) return { missing: 'port', detail: `service ${b.namespace}/${b.service} has no port ${'number' in b.port ? b.port.number : b.port.name}` };
  if ((sp.protocol ?? 'TCP') !== 'TCP') return { missing: 'port', detail: `service ${b.namespace}/${b.service} port ${sp.port} is ${sp.protocol}` };
  const name = sp.name ?? '';
  const ready: Upstream[] = [];
  const terminating: Upstream[] = [];
  const seen = new Set<string>();
  for (const slice of src.slices(b.namespace, b.service)) {
    if (slice.addressType === 'FQDN') continue;
    const port = slice.ports?.find((p) => (p.name ?? '') === name && (p.protocol ?? 'TCP') === 'TCP')?.port;
    if (!port) continue;
    for (const ep of slice.endpoints ?? []) {
      const c = ep.conditions ?? {};
      const isReady = c.ready !== false;
      const fallback = !isReady && c.serving === true && c.terminating === true;
      if (!isReady && !fallback) continue;
      for (const addr of ep.addresses.slice(0, 1)) {
        const key = `${addr}:${port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        (isReady ? ready : terminating).push({ host: addr, port });
      }
    }
  }
  const upstreams = ready.length > 0 ? ready : terminating;
  if (upstreams.length === 0) return { missing: 'endpoints', detail: `service ${b.namespace}/${b.service} has no ready endpoints` };
  return { upstreams };
}

/** the slices of `namespace/service` among all slices (their service-name label) */
export function slicesOf(all: Iterable<SliceObject>, namespace: string, service: string): SliceObject[] {
  const out: SliceObject[] = [];
  for (const s of all) if (s.metadata.namespace === namespace && s.metadata.labels?.[SERVICE_NAME_LABEL] === service) out.push(s);
  return out;
}

/** Round-robin over a backend's upstreams; the cursor survives endpoint changes (it wraps). */
export class RoundRobin {
  readonly #next = new Map<string, number>();

  /** `upstreams` in the order to try them: the first is the pick, the rest the retries */
  order(key: string, upstreams: readonly Upstream[]): Upstream[] {
    const n = upstreams.length;
    if (n <= 1) return [...upstreams];
    const start = (this.#next.get(key) ?? 0) % n;
    this.#next.set(key, (start + 1) % n);
    return [...upstreams.slice(start), ...upstreams.slice(0, start)];
  }

  /** forget cursors of backends no longer routed to */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.#next.keys()) if (!keys.has(k)) this.#next.delete(k);
  }
}
