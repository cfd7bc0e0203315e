import type { KubeObject } from '../../api/object.ts';
import { matches, selectorFromSet } from '../../api/labels/selector.ts';
import type { Clock } from '../../client/clock.ts';
import type { SharedInformer, SharedInformerFactory } from '../../client/shared-informers.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { NodeObject, PodObject } from '../common/types.ts';
import { SharedInformers } from '../workloads/informers.ts';
import { controllerRef, objectKey, splitKey, stableStringify } from '../workloads/owners.ts';
import { WorkQueue } from '../workloads/queue.ts';
import {
  chunkGroups,
  desiredGroups,
  serviceAddressTypes,
  endpointsSubsets,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  MAX_ENDPOINTS_PER_SLICE,
  SERVICE_NAME_LABEL,
  type EndpointSliceObject,
  type ServiceObject,
} from './desired.ts';

export interface EndpointSliceControllerConfig {
  client: KubeClient;
  logger: Logger;
  clock?: Clock;
  /** informers to share (default: its own set, over `informerFactory`) */
  informers?: SharedInformers;
  /** the process's shared informers (default: a factory of its own) */
  informerFactory?: SharedInformerFactory;
  maxEndpointsPerSlice?: number;
  workers?: number;
}

type EndpointsObject = KubeObject & { subsets?: unknown[] };

const FIELD_MANAGER = 'endpointslice-controller';

/**
 * upstream's EndpointSlice controller (plus the legacy Endpoints controller): for every Service
 * with a selector, EndpointSlices of the selected pods' IPs, grouped by resolved target ports, at
 * most 100 endpoints each, labelled `kubernetes.io/service-name` and owned by the Service; gone
 * when the Service goes. Slices it does not manage (other managed-by) are left alone.
 */
export class EndpointSliceController {
  readonly queue = new WorkQueue();
  readonly informers: SharedInformers;
  readonly #ownInformers: boolean;
  readonly #services: SharedInformer<ServiceObject>;
  readonly #pods: SharedInformer<PodObject>;
  readonly #slices: SharedInformer<EndpointSliceObject>;
  readonly #nodes: SharedInformer<NodeObject>;
  readonly #log: Logger;
  readonly #max: number;

  constructor(private readonly cfg: EndpointSliceControllerConfig) {
    this.#log = cfg.logger.child({ component: 'endpointslice-controller' });
    this.#ownInformers = !cfg.informers;
    this.informers = cfg.informers ?? new SharedInformers({ client: cfg.client, logger: cfg.logger, clock: cfg.clock, factory: cfg.informerFactory });
    this.#max = cfg.maxEndpointsPerSlice ?? MAX_ENDPOINTS_PER_SLICE;
    this.#services = this.informers.for<ServiceObject>(Resources.services);
    this.#pods = this.informers.for<PodObject>(Resources.pods);
    this.#slices = this.informers.for<EndpointSliceObject>(Resources.endpointslices);
    this.#nodes = this.informers.for<NodeObject>(Resources.nodes);
    this.#services.addHandlers({
      onAdd: (s) => this.queue.add(objectKey(s)),
      onUpdate: (_, s) => this.queue.add(objectKey(s)),
      onDelete: (s) => this.queue.add(objectKey(s)),
    });
    this.#pods.addHandlers({
      onAdd: (p) => this.#podChanged(p),
      onUpdate: (o, p) => this.#podChanged(p, o),
      onDelete: (p) => this.#podChanged(p),
    });
    this.#slices.addHandlers({
      // someone else changed or removed one of ours: look again
      onUpdate: (_, s) => this.#sliceChanged(s),
      onDelete: (s) => this.#sliceChanged(s),
    });
  }

  #sliceChanged(s: EndpointSliceObject): void {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (svc && s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) this.queue.add(`${s.metadata.namespace ?? ''}/${svc}`);
  }

  #podChanged(p: PodObject, old?: PodObject): void {
    const ns = p.metadata.namespace ?? '';
    for (const svc of this.#services.list()) {
      if (svc.metadata.namespace !== ns || !svc.spec?.selector) continue;
      const sel = selectorFromSet(svc.spec.selector);
      if (matches(sel, p.metadata.labels ?? {}) || (old && matches(sel, old.metadata.labels ?? {}))) this.queue.add(objectKey(svc));
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    if (this.#ownInformers) this.informers.start(signal);
    await this.informers.waitForSync(signal);
    for (const s of this.#services.list()) this.queue.add(objectKey(s));
    await this.queue.run(signal, (key) => this.sync(key, signal), { workers: this.cfg.workers ?? 2, logger: this.#log });
    if (this.#ownInformers) await this.informers.done();
  }

  #managed(namespace: string, service: string): EndpointSliceObject[] {
    return this.#slices
      .list()
      .filter((s) => s.metadata.namespace === namespace && s.metadata.labels?.[SERVICE_NAME_LABEL] === service && s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY)
      .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  }

  async sync(key: string, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.#services.get(name, namespace);
    const existing = this.#managed(namespace, name);
    const { client } = this.cfg;
    if (!svc || svc.metadata.deletionTimestamp || !svc.spec?.selector || svc.spec.type === 'ExternalName') {
      for (const s of existing) await this.#delete(s, signal);
      // the legacy Endpoints of a Service we managed (never a selectorless Service's own)
      if (!svc || svc.spec?.type === 'ExternalName') await this.#deleteEndpoints(namespace, name, signal);
      return;
    }
    const sel = selectorFromSet(svc.spec.selector);
    const pods = this.#pods.list().filter((p) => p.metadata.namespace === namespace && matches(sel, p.metadata.labels ?? {}));
    // one set of slices per address family of the Service (upstream: addressType is immutable, so
    // a slice is only ever reused for its own family); the legacy Endpoints carry the primary one
    const perFamily = serviceAddressTypes(svc).map((addressType) => ({ addressType, groups: desiredGroups(svc, pods, (n) => this.#nodes.get(n), addressType) }));
    const wanted = perFamily.flatMap(({ addressType, groups }) => chunkGroups(groups, this.#max).map((w) => ({ ...w, addressType })));
    const owner = controllerRef(svc, Resources.services);
    const labels = { ...svc.metadata.labels, [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: MANAGED_BY };
    // reuse existing slices with the same ports first, then any other; remove the rest
    const free = [...existing];
    const takeFor = (addressType: string, portsKey: string): EndpointSliceObject | undefined => {
      let i = free.findIndex((s) => s.addressType === addressType && stableStringify(s.ports ?? []) === stableStringify(JSON.parse(portsKey)));
      if (i < 0) i = free.findIndex((s) => s.addressType === addressType);
      return i < 0 ? undefined : free.splice(i, 1)[0];
    };
    for (const w of wanted) {
      const body = { addressType: w.addressType, endpoints: w.endpoints, ports: w.ports };
      const cur = takeFor(w.addressType, w.key);
      if (!cur) {
        const slice = {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { generateName: `${name}-`, namespace, labels, ownerReferences: [owner] },
          ...body,
        } as unknown as EndpointSliceObject;
        await client.create(Resources.endpointslices, slice, { signal, fieldManager: FIELD_MANAGER });
        continue;
      }
      const same =
        stableStringify(cur.endpoints ?? []) === stableStringify(body.endpoints) &&
        stableStringify(cur.ports ?? []) === stableStringify(body.ports) &&
        stableStringify(cur.metadata.labels ?? {}) === stableStringify(labels);
      if (same) continue;
      const next = { ...cur, ...body, metadata: { ...cur.metadata, labels, ownerReferences: [owner] } } as unknown as EndpointSliceObject;
      await client.update(Resources.endpointslices, next, { signal, fieldManager: FIELD_MANAGER });
    }
    for (const s of free) await this.#delete(s, signal);
    await this.#syncEndpoints(svc, endpointsSubsets(perFamily[0]!.groups), signal);
  }

  async #delete(s: EndpointSliceObject, signal: AbortSignal): Promise<void> {
    try {
      await this.cfg.client.delete(Resources.endpointslices, s.metadata.name ?? '', { namespace: s.metadata.namespace, signal });
    } catch (err) {
      if (!isHedgeError(err, 'NotFound')) throw err;
    }
  }

  async #deleteEndpoints(namespace: string, name: string, signal: AbortSignal): Promise<void> {
    try {
      const cur = await this.cfg.client.get<EndpointsObject>(Resources.endpoints, name, { namespace, signal });
      // only what this controller wrote (the apiserver's own `kubernetes` Endpoints carry skip-mirror)
      if (cur.metadata.labels?.['endpointslice.kubernetes.io/skip-mirror'] === 'true' && name === 'kubernetes') return;
      await this.cfg.client.delete(Resources.endpoints, name, { namespace, signal });
    } catch (err) {
      if (!isHedgeError(err, 'NotFound')) throw err;
    }
  }

  async #syncEndpoints(svc: ServiceObject, subsets: unknown[], signal: AbortSignal): Promise<void> {
    const { client } = this.cfg;
    const namespace = svc.metadata.namespace ?? '';
    const name = svc.metadata.name ?? '';
    let cur: EndpointsObject | undefined;
    try {
      cur = await client.get<EndpointsObject>(Resources.endpoints, name, { namespace, signal });
    } catch (err) {
      if (!isHedgeError(err, 'NotFound')) throw err;
    }
    const labels = { ...svc.metadata.labels, 'endpointslice.kubernetes.io/skip-mirror': 'true' };
    if (!cur) {
      const ep = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace, labels }, subsets } as EndpointsObject;
      try {
        await client.create(Resources.endpoints, ep, { signal, fieldManager: FIELD_MANAGER });
      } catch (err) {
        if (!isHedgeError(err, 'AlreadyExists')) throw err;
        this.queue.add(objectKey(svc));
      }
      return;
    }
    if (stableStringify(cur.subsets ?? []) === stableStringify(subsets) && stableStringify(cur.metadata.labels ?? {}) === stableStringify(labels)) return;
    await client.update(Resources.endpoints, { ...cur, metadata: { ...cur.metadata, labels }, subsets } as EndpointsObject, { signal, fieldManager: FIELD_MANAGER });
  }
}
