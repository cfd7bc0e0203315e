/**
 * The node's ingress controller: Ingresses, IngressClasses, Services, EndpointSlices and Nodes
 * from the node's shared informers (the hub's cache when the cloud is away), the TLS Secrets the
 * served Ingresses name read by name, all turned into one routing snapshot the IngressServer
 * answers from; the served Ingresses' status.loadBalancer is kept at the serving nodes' addresses.
 */
import type { Node } from 'kubernetes-types/core/v1.js';
import type { IngressLoadBalancerIngress } from 'kubernetes-types/networking/v1.js';
import type { KubeObject } from '../../../api/object.ts';
import { Resources } from '../../../client/resources.ts';
import { SharedInformerFactory, type SharedInformer } from '../../../client/shared-informers.ts';
import type { KubeClient } from '../../../client/types.ts';
import { isHedgeError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { CertificateStore, tlsRefs, type KeyPair, type SecretObject } from './certificates.ts';
import { resolveBackend, RoundRobin, slicesOf, type Resolution, type ServiceObject, type SliceObject } from './endpoints.ts';
import { IngressServer, type Decision, type ListenAt, type Router } from './ingress-server.ts';
import { backendKey, INGRESS_CONTROLLER, ourClasses, RouteTable, servesIngress, type IngressClassObject, type IngressObject } from './routes.ts';
import type { AddressInfo } from 'node:net';

type NodeObject = Node & KubeObject;

/** on a Node whose ingress listeners are up: status.loadBalancer lists the InternalIPs of these nodes */
export const INGRESS_SERVING_LABEL = 'ingress.hedge.io/serving';

export interface IngressControllerOptions {
  client: KubeClient;
  logger: Logger;
  /** the listeners; one left out is off */
  listen: { http?: ListenAt; https?: ListenAt };
  /** served to hosts without a certificate of their own, and to clients without SNI */
  defaultCertificate: KeyPair;
  /** IngressClass.spec.controller this node answers for (default hedge.io/ingress) */
  controller?: string;
  /** the node's shared informers; its own otherwise */
  informers?: SharedInformerFactory;
  /** changes arriving within this window make one snapshot (default 50 ms) */
  debounceMs?: number;
  /** how often the named TLS Secrets are read again (a node may not watch Secrets), and failed status writes retried (default 30 s) */
  refreshMs?: number;
  /** write status.loadBalancer (default true) */
  writeStatus?: boolean;
}

export interface RunningIngressController {
  address: { http?: AddressInfo; https?: AddressInfo };
  /** resolves once the informers listed once and the first snapshot is in place */
  synced: Promise<void>;
  /** the current route table (tests) */
  routes(): RouteTable;
  /** runs a sync now (tests; normally debounced from the informers' events) */
  syncNow(): Promise<void>;
  close(): Promise<void>;
}

/** what status.loadBalancer.ingress should list: the InternalIPs of the nodes labelled as serving, sorted */
export function loadBalancerIngress(nodes: Iterable<NodeObject>): IngressLoadBalancerIngress[] {
  const ips = new Set<string>();
  for (const n of nodes) {
    if (n.metadata.labels?.[INGRESS_SERVING_LABEL] !== 'true' || n.metadata.deletionTimestamp) continue;
    for (const a of n.status?.addresses ?? []) if (a.type === 'InternalIP' && a.address) ips.add(a.address);
  }
  return [...ips].sort().map((ip) => ({ ip }));
}

export async function startIngressController(o: IngressControllerOptions): Promise<RunningIngressController> {
  const log = o.logger;
  const certificates = new CertificateStore(o.defaultCertificate);
  const server = new IngressServer({ certificates, logger: log });
  const address = await server.listen(o.listen).catch(async (err: unknown) => {
    // the HTTP listener may be up when the HTTPS one fails: it goes too
    await server.close();
    throw err;
  });
  const stop = new AbortController();
  const informers = o.informers ?? new SharedInformerFactory({ client: o.client, logger: log });
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (timer || stop.signal.aborted) return;
    timer = setTimeout(() => {
      timer = undefined;
      void syncing();
    }, o.debounceMs ?? 50);
  };
  const handlers = { onAdd: schedule, onUpdate: schedule, onDelete: schedule };
  const ingresses = informers.informer<IngressObject>({ resource: Resources.ingresses, ...handlers });
  const classes = informers.informer<IngressClassObject>({ resource: Resources.ingressclasses, ...handlers });
  const services = informers.informer<ServiceObject>({ resource: Resources.services, ...handlers });
  const slices = informers.informer<SliceObject>({ resource: Resources.endpointslices, ...handlers });
  const nodes = informers.informer<NodeObject>({ resource: Resources.nodes, ...handlers });
  const all: SharedInformer<KubeObject>[] = [ingresses, classes, services, slices, nodes] as SharedInformer<KubeObject>[];
  const runs = all.map((i) => i.run(stop.signal));

  const rr = new RoundRobin();
  let table = new RouteTable([]);
  /** `ns/name` → the Secret as last read (undefined: not found / not readable) */
  const secrets = new Map<string, SecretObject | undefined>();
  let lastRefresh = 0;
  /** `ns/name` of an Ingress → the status value last written (or found) */
  const written = new Map<string, string>();

  const readSecret = async (key: string): Promise<void> => {
    const [namespace = '', name = ''] = key.split('/');
    try {
      secrets.set(key, await o.client.get<SecretObject>(Resources.secrets, name, { namespace, signal: stop.signal }));
    } catch (err) {
      // a Secret that cannot be read now keeps the version read before (offline, the hub answers from its copy)
      if (isHedgeError(err, 'NotFound')) secrets.set(key, undefined);
      else if (!secrets.has(key)) {
        secrets.set(key, undefined);
        log.warn({ err, secret: key }, 'cannot read TLS secret');
      }
    }
  };

  const sync = async (): Promise<void> => {
    const ours = ourClasses(classes.list(), o.controller ?? INGRESS_CONTROLLER);
    const served = ingresses.list().filter((i) => !i.metadata.deletionTimestamp && servesIngress(i, ours));
    const next = new RouteTable(served);
    // the backends resolved once per snapshot: a request does a table match and a map lookup
    const resolved = new Map<string, Resolution>();
    const source = {
      service: (ns: string, name: string) => services.get(name, ns),
      slices: (ns: string, svc: string) => slicesOf(slices.list(), ns, svc),
    };
    for (const b of next.backends()) {
      const k = backendKey(b);
      if (!resolved.has(k)) resolved.set(k, resolveBackend(source, b));
    }
    rr.retain(new Set(resolved.keys()));
    const router: Router = {
      decide(host, path): Decision {
        const m = next.match(host, path);
        if (!m) return { kind: 'none' };
        if (!m.backend) return { kind: 'unavailable', detail: `ingress ${m.ingress}: only Service backends are served` };
        const k = backendKey(m.backend);
        const r = resolved.get(k);
        if (!r || 'missing' in r) return { kind: 'unavailable', detail: r?.detail ?? k };
        return { kind: 'upstreams', key: k, upstreams: rr.order(k, r.upstreams) };
      },
    };
    server.setRouter(router);
    table = next;

    // TLS: Secrets read when first named, and all again every refreshMs (a node may get, not watch, them)
    const refs = tlsRefs(served);
    const refresh = Date.now() - lastRefresh >= (o.refreshMs ?? 30_000);
    const wanted = [...new Set(refs.map((r) => `${r.namespace}/${r.secretName}`))];
    for (const k of secrets.keys()) if (!wanted.includes(k)) secrets.delete(k);
    // one not found (or unreadable) yet is asked for again at every sync: made after its Ingress, it is served at the next change
    await Promise.all(wanted.filter((k) => refresh || secrets.get(k) === undefined).map(readSecret));
    for (const p of certificates.update(refs, secrets)) log.warn({ problem: p }, 'TLS certificate not served: the default certificate answers');

    if (o.writeStatus !== false) await writeStatus(served, refresh);
    if (refresh) lastRefresh = Date.now();
  };

  const writeStatus = async (served: IngressObject[], recheck: boolean): Promise<void> => {
    const want = loadBalancerIngress(nodes.list());
    const text = JSON.stringify(want);
    const keep = new Set<string>();
    for (const ing of served) {
      const key = `${ing.metadata.namespace}/${ing.metadata.name}`;
      keep.add(key);
      const has = JSON.stringify(ing.status?.loadBalancer?.ingress ?? []);
      if (has === text) {
        written.set(key, text);
        continue;
      }
      // written already and the informer has not caught up: not again
      if (!recheck && written.get(key) === text) continue;
      try {
        await o.client.patch(Resources.ingresses, ing.metadata.name ?? '', 'merge', { status: { loadBalancer: { ingress: want } } }, { namespace: ing.metadata.namespace, subresource: 'status', signal: stop.signal });
        written.set(key, text);
      } catch (err) {
        if (!stop.signal.aborted) log.warn({ err, ingress: key }, 'cannot write ingress status (tried again later)');
      }
    }
    for (const k of written.keys()) if (!keep.has(k)) written.delete(k);
  };

  let inFlight: Promise<void> | undefined;
  let again = false;
  const syncing = async (): Promise<void> => {
    if (inFlight) {
      again = true;
      return inFlight;
    }
    inFlight = (async () => {
      do {
        again = false;
        try {
          await sync();
        } catch (err) {
          if (!stop.signal.aborted) log.error({ err }, 'ingress sync failed');
        }
      } while (again && !stop.signal.aborted);
    })();
    try {
      await inFlight;
    } finally {
      inFlight = undefined;
    }
  };

  const periodic = setInterval(() => {
    lastRefresh = 0;
    schedule();
  }, o.refreshMs ?? 30_000);
  const synced = Promise.all(all.map((i) => i.waitForSync(stop.signal))).then(() => syncing());
  synced.catch(() => undefined);
  log.info({ http: address.http, https: address.https }, 'ingress serving');
  return {
    address,
    synced,
    routes: () => table,
    syncNow: syncing,
    async close() {
      stop.abort();
      clearTimeout(timer);
      clearInterval(periodic);
      await Promise.all(runs);
      await inFlight?.catch(() => undefined);
      if (informers !== o.informers) await informers.shutdown();
      await server.close();
    },
  };
}
