import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { UserInfo } from '../auth/types.ts';
import type { Registry } from '../registry/registry.ts';

export interface KubernetesServiceOptions {
  registry: Registry;
  services: ResourceDef;
  endpointSlices?: ResourceDef;
  endpoints?: ResourceDef;
  /** the first address of the Service range */
  clusterIp: string;
  /** where pods reach this apiserver; without it the Service has no endpoints */
  advertise?: { address: string; port: number };
  user: UserInfo;
  signal: AbortSignal;
  log: Logger;
}

/**
 * Upstream's "kubernetes" Service in `default` (the first Service IP, port 443 https) and its
 * endpoints: this apiserver's advertised address is added to the EndpointSlice and Endpoints
 * named `kubernetes` (several apiservers each add themselves).
 */
export async function ensureKubernetesService(opts: KubernetesServiceOptions): Promise<void> {
  const { registry, user, signal } = opts;
  const ctx = { user, dryRun: false, signal, fieldManager: 'kube-apiserver' };
  const port = opts.advertise?.port ?? 6443;
  const svc: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: { type: 'ClusterIP', clusterIP: opts.clusterIp, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }], sessionAffinity: 'None' },
  };
  // checked first: a create of an existing Service would fail on its (held) address, not as AlreadyExists
  if (!(await registry.storeFor(opts.services).tryGet('default', 'kubernetes'))) {
    await createIfAbsent(() => registry.create(opts.services, svc, ctx), opts.log, 'kubernetes Service');
  }
  const adv = opts.advertise;
  if (!adv) return;
  if (opts.endpointSlices) {
    const def = opts.endpointSlices;
    const slice: KubeObject = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'kube-apiserver' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [adv.address], conditions: { ready: true, serving: true, terminating: false } }],
      ports: [{ name: 'https', port: adv.port, protocol: 'TCP' }],
    };
    const created = await createIfAbsent(() => registry.create(def, slice, ctx), opts.log, 'kubernetes EndpointSlice');
    if (!created) {
      await registry
        .transform(def, 'default', 'kubernetes', '', ctx, (cur) => {
          const c = cur as KubeObject & { endpoints?: { addresses: string[] }[]; ports?: { port?: number }[] };
          const eps = c.endpoints ?? [];
          if (!eps.some((e) => e.addresses.includes(adv.address))) eps.push({ addresses: [adv.address], conditions: { ready: true, serving: true, terminating: false } } as { addresses: string[] });
          c.endpoints = eps;
          c.ports = [{ name: 'https', port: adv.port, protocol: 'TCP' } as { port: number }];
          return c;
        })
        .catch((err: unknown) => opts.log.warn({ err }, 'could not update the kubernetes EndpointSlice'));
    }
  }
  if (opts.endpoints) {
    const def = opts.endpoints;
    const ep: KubeObject = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
      subsets: [{ addresses: [{ ip: adv.address }], ports: [{ name: 'https', port: adv.port, protocol: 'TCP' }] }],
    } as KubeObject;
    const created = await createIfAbsent(() => registry.create(def, ep, ctx), opts.log, 'kubernetes Endpoints');
    if (!created) {
      await registry
        .transform(def, 'default', 'kubernetes', '', ctx, (cur) => {
          const c = cur as KubeObject & { subsets?: { addresses?: { ip: string }[]; ports?: unknown[] }[] };
          const subset = (c.subsets ??= [{}])[0]!;
          const addrs = (subset.addresses ??= []);
          if (!addrs.some((a) => a.ip === adv.address)) addrs.push({ ip: adv.address });
          subset.ports = [{ name: 'https', port: adv.port, protocol: 'TCP' }];
          return c;
        })
        .catch((err: unknown) => opts.log.warn({ err }, 'could not update the kubernetes Endpoints'));
    }
  }
}

async function createIfAbsent(create: () => Promise<unknown>, log: Logger, what: string): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (err) {
    if (isHedgeError(err, 'AlreadyExists')) return false;
    // e.g. the address is held by an older Service of that name: log, the server still starts
    log.warn({ err }, `could not create the ${what}`);
    return false;
  }
}
