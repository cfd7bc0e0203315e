/**
 * Ingresses → a route table (pure): which Service port a request's host and path go to, as the
 * networking/v1 Ingress spec defines the matching.
 */
import type { Ingress, IngressBackend, IngressClass } from 'kubernetes-types/networking/v1.js';
import { HEDGE_INGRESS_CONTROLLER, INGRESS_CLASS_ANNOTATION, isDefaultIngressClass } from '../../../api/networking/ingress.ts';
import type { KubeObject } from '../../../api/object.ts';

export type IngressObject = Ingress & KubeObject;
export type IngressClassObject = IngressClass & KubeObject;

/** IngressClass.spec.controller of the classes `hedge node` serves */
export const INGRESS_CONTROLLER = HEDGE_INGRESS_CONTROLLER;

/** A Service port an Ingress sends to: by number or by name, in the Ingress's namespace. */
export interface ServiceBackend {
  namespace: string;
  service: string;
  port: { number: number } | { name: string };
}

export type PathType = 'Exact' | 'Prefix';

export interface Route {
  /** as written (Prefix: trailing slash ignored when matching) */
  path: string;
  pathType: PathType;
  /** undefined: a resource backend, which hedge does not serve (503) */
  backend: ServiceBackend | undefined;
  /** `namespace/name` of the Ingress it came from */
  ingress: string;
}

/** what a request matched */
export interface Match {
  backend: ServiceBackend | undefined;
  ingress: string;
  /** undefined for an Ingress's defaultBackend */
  route?: Route;
}

/**
 * Whether `ing` is one of ours: its class (spec.ingressClassName, else the deprecated
 * `kubernetes.io/ingress.class` annotation) is an IngressClass whose controller is
 * `hedge.io/ingress`; a classless Ingress is ours when one of our classes is the default.
 */
export function servesIngress(ing: IngressObject, ourClasses: readonly IngressClassObject[]): boolean {
  const name = ing.spec?.ingressClassName ?? ing.metadata.annotations?.[INGRESS_CLASS_ANNOTATION];
  if (name === undefined || name === '') return ourClasses.some(isDefaultIngressClass);
  return ourClasses.some((c) => c.metadata.name === name);
}

/** the IngressClasses this node's controller answers for */
export function ourClasses(classes: Iterable<IngressClassObject>, controller = INGRESS_CONTROLLER): IngressClassObject[] {
  return [...classes].filter((c) => c.spec?.controller === controller);
}

function backendOf(ns: string, b: IngressBackend | undefined): ServiceBackend | undefined {
  const svc = b?.service;
  if (!svc?.name) return undefined;
  const port = svc.port?.name ? { name: svc.port.name } : { number: svc.port?.number ?? 0 };
  return { namespace: ns, service: svc.name, port };
}

/** `/aaa/bbb/` → ['aaa', 'bbb']: the elements a Prefix path is matched by (empty ones dropped) */
function elements(path: string): string[] {
  return path.split('/').filter((e) => e !== '');
}

/** Whether `route` matches the request path (no query string), as the spec's table defines. */
export function pathMatches(route: Pick<Route, 'path' | 'pathType'>, requestPath: string): boolean {
  if (route.pathType === 'Exact') return route.path === requestPath;
  // Prefix: element-wise, the route's elements are the first ones of the request's; a trailing
  // slash of either side is ignored, `/aaa/bb` does not match `/aaa/bbb`
  const want = elements(route.path);
  const got = elements(requestPath);
  if (want.length > got.length) return false;
  for (let i = 0; i < want.length; i++) if (want[i] !== got[i]) return false;
  return true;
}

/** the length a match is ranked by: longest wins (Prefix paths without their trailing slash) */
function rank(r: Route): number {
  return r.pathType === 'Prefix' ? r.path.replace(/\/+$/, '').length : r.path.length;
}

/** host rule keys: exact hosts, `*.suffix` wildcards (one label), and '' for rules without a host */
interface HostRules {
  routes: Route[];
}

/**
 * The routes of every served Ingress, merged by host as ingress-nginx merges them: the oldest
 * Ingress (creationTimestamp, then namespace/name) wins a host+path+pathType both define, and
 * its defaultBackend is the one used.
 */
export class RouteTable {
  readonly #exact = new Map<string, HostRules>();
  /** keyed by the suffix after `*.` */
  readonly #wildcard = new Map<string, HostRules>();
  readonly #anyHost: HostRules = { routes: [] };
  #defaultBackend: Match | undefined;
  /** `namespace/name` of every Ingress in the table */
  readonly ingresses: string[] = [];

  constructor(served: readonly IngressObject[]) {
    const sorted = [...served].sort(
      (a, b) =>
        (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
    );
    for (const ing of sorted) {
      const ns = ing.metadata.namespace ?? 'default';
      const key = `${ns}/${ing.metadata.name ?? ''}`;
      this.ingresses.push(key);
      if (ing.spec?.defaultBackend && !this.#defaultBackend) this.#defaultBackend = { backend: backendOf(ns, ing.spec.defaultBackend), ingress: key };
      for (const rule of ing.spec?.rules ?? []) {
        const host = (rule.host ?? '').toLowerCase();
        const rules = this.#rulesFor(host);
        for (const p of rule.http?.paths ?? []) {
          // ImplementationSpecific is a Prefix match here (ingress-nginx treats it as a prefix too)
          const pathType: PathType = p.pathType === 'Exact' ? 'Exact' : 'Prefix';
          const path = p.path || '/';
          if (rules.routes.some((r) => r.path === path && r.pathType === pathType)) continue;
          rules.routes.push({ path, pathType, backend: backendOf(ns, p.backend), ingress: key });
        }
      }
    }
  }

  #rulesFor(host: string): HostRules {
    const [map, key] = host === '' ? [undefined, ''] : host.startsWith('*.') ? [this.#wildcard, host.slice(2)] : [this.#exact, host];
    if (!map) return this.#anyHost;
    let r = map.get(key);
    if (!r) map.set(key, (r = { routes: [] }));
    return r;
  }

  /**
   * The backend of a request: among the rules of the most specific host that has any (exact, then
   * `*.` wildcard of exactly one more label, then rules without a host), the longest matching
   * path, Exact before Prefix at equal length; no path matching there → the defaultBackend;
   * undefined: no route (404).
   */
  match(hostHeader: string | undefined, requestPath: string): Match | undefined {
    const host = hostOnly(hostHeader ?? '');
    const dot = host.indexOf('.');
    const rules = this.#exact.get(host) ?? (dot > 0 ? this.#wildcard.get(host.slice(dot + 1)) : undefined) ?? this.#anyHost;
    let best: Route | undefined;
    for (const r of rules.routes) {
      if (!pathMatches(r, requestPath)) continue;
      if (!best || rank(r) > rank(best) || (rank(r) === rank(best) && r.pathType === 'Exact' && best.pathType !== 'Exact')) best = r;
    }
    if (best) return { backend: best.backend, ingress: best.ingress, route: best };
    return this.#defaultBackend;
  }

  /** every backend any route or default names (what the endpoints model resolves) */
  backends(): ServiceBackend[] {
    const all = [...this.#exact.values(), ...this.#wildcard.values(), this.#anyHost].flatMap((h) => h.routes.map((r) => r.backend));
    if (this.#defaultBackend) all.push(this.#defaultBackend.backend);
    return all.filter((b): b is ServiceBackend => b !== undefined);
  }
}

/** `Foo.Example.com:8080` → `foo.example.com`; `[::1]:80` → `::1` */
export function hostOnly(hostHeader: string): string {
  let h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  const colon = h.lastIndexOf(':');
  if (colon >= 0 && h.indexOf(':') === colon) h = h.slice(0, colon);
  return h.replace(/\.$/, '');
}

export function backendKey(b: ServiceBackend): string {
  return `${b.namespace}/${b.service}:${'number' in b.port ? b.port.number : b.port.name}`;
}
