import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { KubeObject } from '../../../api/object.ts';
import { WebhookCallError } from './review.ts';

/** where a webhook Service's traffic goes: one ready endpoint, and the node its pod runs on */
export interface ServiceEndpoint {
  ip: string;
  port: number;
  /** the endpoint's node (reached through its tunnel); absent for endpoints not on a node */
  nodeName?: string;
}

export interface ServiceLookups {
  getService(namespace: string, name: string): Promise<KubeObject | undefined>;
  /** the namespace's EndpointSlices (filtered here by kubernetes.io/service-name) */
  listEndpointSlices(namespace: string): Promise<KubeObject[]>;
}

/**
 * upstream's endpoint resolver (apiserver/pkg/util/proxy ResolveEndpoint): the Service port
 * `port`, then a random ready endpoint from the Service's EndpointSlices with the target port of
 * that Service port (the slice port of the same name). Errors are webhook call errors, so the
 * webhook's failurePolicy applies.
 */
export async function resolveServiceEndpoint(lookups: ServiceLookups, namespace: string, name: string, port: number, random: () => number = Math.random): Promise<ServiceEndpoint> {
  const id = `${namespace}/${name}`;
  const svc = (await lookups.getService(namespace, name)) as Service | undefined;
  if (!svc) throw new WebhookCallError(`service "${id}" not found`);
  const svcPort = (svc.spec?.ports ?? []).find((p) => p.port === port);
  if (!svcPort) throw new WebhookCallError(`no service port ${port} found for service "${id}"`);
  const portName = svcPort.name ?? '';
  const candidates: ServiceEndpoint[] = [];
  for (const obj of await lookups.listEndpointSlices(namespace)) {
    const slice = obj as unknown as EndpointSlice;
    if (slice.metadata?.labels?.['kubernetes.io/service-name'] !== name) continue;
    const slicePort = (slice.ports ?? []).find((p) => (p.name ?? '') === portName)?.port ?? (typeof svcPort.targetPort === 'number' ? svcPort.targetPort : undefined);
    if (slicePort === undefined || slicePort === null) continue;
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false || ep.addresses.length === 0) continue;
      candidates.push({ ip: ep.addresses[0]!, port: slicePort, ...(ep.nodeName ? { nodeName: ep.nodeName } : {}) });
    }
  }
  if (candidates.length === 0) throw new WebhookCallError(`no endpoints available for service "${id}"`);
  return candidates[Math.floor(random() * candidates.length)]!;
}
