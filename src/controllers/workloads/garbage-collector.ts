import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { Resources, apiVersionOfRef } from '../../client/resources.ts';
import type { KubeClient, ResourceRef } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { SharedInformers } from './informers.ts';
import { WorkQueue } from './queue.ts';

export const ORPHAN_FINALIZER = 'orphan';
export const FOREGROUND_FINALIZER = 'foregroundDeletion';

/** the kinds whose objects own or are owned in practice; each is watched */
export const GC_RESOURCES: ResourceRef[] = [
  Resources.pods,
  Resources.replicasets,
  Resources.deployments,
  Resources.daemonsets,
  Resources.statefulsets,
  Resources.controllerrevisions,
  Resources.jobs,
  Resources.cronjobs,
  Resources.configmaps,
  Resources.secrets,
  Resources.services,
  Resources.serviceaccounts,
  Resources.endpoints,
  Resources.endpointslices,
  Resources.poddisruptionbudgets,
  Resources.persistentvolumeclaims,
];

interface GraphNode {
  uid: string;
  res: ResourceRef;
  namespace: string;
  name: string;
  owners: OwnerReference[];
  deleting: boolean;
  finalizers: string[];
  resourceVersion: string;
}

export interface GarbageCollectorConfig {
  client: KubeClient;
  logger: Logger;
  informers: SharedInformers;
  resources?: ResourceRef[];
  /** also watch the custom resources of established CRDs (default true) */
  customResources?: boolean;
  workers?: number;
}

const CRD_REF: ResourceRef = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', namespaced: false, kind: 'CustomResourceDefinition' };

/** the fields of a CRD the collector reads */
type CrdLike = KubeObject & {
  spec?: { group?: string; scope?: string; names?: { plural?: string; kind?: string }; versions?: { name: string; served?: boolean; storage?: boolean }[] };
  status?: { conditions?: { type: string; status: string }[] };
};

/** the served storage version of the CRD's resource (else the first served one) */
function customResourceRef(crd: CrdLike): ResourceRef | undefined {
  const s = crd.spec;
  const versions = (s?.versions ?? []).filter((v) => v.served);
  const v = versions.find((x) => x.storage) ?? versions[0];
  if (!s?.group || !s.names?.plural || !s.names.kind || !v) return undefined;
  return { group: s.group, version: v.name, plural: s.names.plural, namespaced: s.scope === 'Namespaced', kind: s.names.kind };
}

/**
 * The garbage collector: a graph of ownerReferences over the watched kinds. A dependent whose
 * owners are all gone (checked live, not only in the cache) is deleted in the background;
 * `orphan` strips the owner from its dependents before the owner goes; `foregroundDeletion`
 * deletes the dependents first and releases the owner once none with blockOwnerDeletion remain.
 */
export class GarbageCollector {
  readonly queue = new WorkQueue();
  readonly #nodes = new Map<string, GraphNode>();
  readonly #dependents = new Map<string, Set<string>>();
  readonly #byKind = new Map<string, ResourceRef>();
  readonly #log: Logger;
  readonly stats = { deleted: 0, orphaned: 0 };

  constructor(private readonly cfg: GarbageCollectorConfig) {
    this.#log = cfg.logger.child({ component: 'garbage-collector' });
    for (const res of cfg.resources ?? GC_RESOURCES) this.#watch(res);
    if (cfg.customResources !== false) {
      // custom resources own and are owned too: follow the CRDs and watch each established one
      cfg.informers.for<CrdLike>(CRD_REF).addHandlers({
        onAdd: (crd) => this.#crdChanged(crd),
        onUpdate: (_old, crd) => this.#crdChanged(crd),
        onDelete: (crd) => this.#crdGone(crd),
      });
    }
  }

  #watch(res: ResourceRef): void {
    const kindKey = `${apiVersionOfRef(res)}/${res.kind ?? ''}`;
    if (this.#byKind.has(kindKey)) return;
    this.#byKind.set(kindKey, res);
    this.cfg.informers.for(res).addHandlers({
      onAdd: (o) => this.#upsert(res, o, undefined),
      onUpdate: (old, o) => this.#upsert(res, o, old),
      onDelete: (o) => this.#remove(o),
    });
  }

  #crdChanged(crd: CrdLike): void {
    const res = customResourceRef(crd);
    if (!res || crd.metadata.deletionTimestamp) return;
    const established = (crd.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True');
    if (established) this.#watch(res);
  }

  #crdGone(crd: CrdLike): void {
    const res = customResourceRef(crd);
    if (!res) return;
    this.#byKind.delete(`${apiVersionOfRef(res)}/${res.kind ?? ''}`);
    this.cfg.informers.stop(res);
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.cfg.informers.waitForSync(signal);
    await this.queue.run(signal, (key) => this.#process(key, signal), { workers: this.cfg.workers ?? 4, logger: this.#log });
  }

  /** for tests and the bench: dependents the graph knows of */
  dependentsOf(uid: string): number {
    return this.#dependents.get(uid)?.size ?? 0;
  }

  #upsert(res: ResourceRef, o: KubeObject, old: KubeObject | undefined): void {
    const uid = o.metadata.uid ?? '';
    const prior = this.#nodes.get(uid);
    const node: GraphNode = {
      uid,
      res,
      namespace: o.metadata.namespace ?? '',
      name: o.metadata.name ?? '',
      owners: o.metadata.ownerReferences ?? [],
      deleting: !!o.metadata.deletionTimestamp,
      finalizers: o.metadata.finalizers ?? [],
      resourceVersion: o.metadata.resourceVersion ?? '',
    };
    if (prior) for (const r of prior.owners) this.#dependents.get(r.uid)?.delete(uid);
    for (const r of node.owners) {
      let set = this.#dependents.get(r.uid);
      if (!set) this.#dependents.set(r.uid, (set = new Set()));
      set.add(uid);
    }
    this.#nodes.set(uid, node);
    const ownersChanged = !old || JSON.stringify(old.metadata.ownerReferences ?? []) !== JSON.stringify(node.owners);
    if (node.owners.length > 0 && ownersChanged) this.queue.add(`check:${uid}`);
    if (node.deleting && node.finalizers.includes(ORPHAN_FINALIZER)) this.queue.add(`orphan:${uid}`);
    if (node.deleting && node.finalizers.includes(FOREGROUND_FINALIZER)) this.queue.add(`foreground:${uid}`);
    // a dependent that started deleting may unblock its foreground-deleting owner
    if (node.deleting) for (const r of node.owners) if (this.#nodes.get(r.uid)?.deleting) this.queue.add(`foreground:${r.uid}`);
  }

  #remove(o: KubeObject): void {
    const uid = o.metadata.uid ?? '';
    const node = this.#nodes.get(uid);
    this.#nodes.delete(uid);
    for (const r of node?.owners ?? []) {
      this.#dependents.get(r.uid)?.delete(uid);
      if (this.#nodes.get(r.uid)?.deleting) this.queue.add(`foreground:${r.uid}`);
    }
    for (const dep of this.#dependents.get(uid) ?? []) this.queue.add(`check:${dep}`);
  }

  async #process(key: string, signal: AbortSignal): Promise<void> {
    const i = key.indexOf(':');
    const kind = key.slice(0, i);
    const uid = key.slice(i + 1);
    const node = this.#nodes.get(uid);
    if (!node) return;
    switch (kind) {
      case 'check':
        return this.#check(node, signal);
      case 'orphan':
        return this.#orphan(node, signal);
      case 'foreground':
        return this.#foreground(node, signal);
      default:
        return;
    }
  }

  /** is the owner gone? the cache may lag, so absence is confirmed with a live read */
  async #ownerAbsent(dep: GraphNode, ref: OwnerReference, signal: AbortSignal): Promise<boolean> {
    if (this.#nodes.has(ref.uid)) return false;
    const res = this.#byKind.get(`${ref.apiVersion}/${ref.kind}`);
    if (!res) return false;
    try {
      const live = await this.cfg.client.get(res, ref.name, { namespace: res.namespaced ? dep.namespace : undefined, signal });
      return live.metadata.uid !== ref.uid;
    } catch (err) {
      if (isHedgeError(err, 'NotFound')) return true;
      throw err;
    }
  }

  async #check(node: GraphNode, signal: AbortSignal): Promise<void> {
    if (node.owners.length === 0) return;
    const absent: OwnerReference[] = [];
    for (const ref of node.owners) if (await this.#ownerAbsent(node, ref, signal)) absent.push(ref);
    if (absent.length === 0) return;
    const { client } = this.cfg;
    if (absent.length === node.owners.length) {
      if (node.deleting) return;
      try {
        await client.delete(node.res, node.name, { namespace: node.namespace || undefined, signal, preconditions: { uid: node.uid }, propagationPolicy: 'Background' });
        this.stats.deleted++;
      } catch (err) {
        if (!isHedgeError(err, 'NotFound') && !isHedgeError(err, 'Conflict')) throw err;
      }
      return;
    }
    // some owners remain: drop the dangling references only
    const gone = new Set(absent.map((r) => r.uid));
    await this.#setOwners(node, node.owners.filter((r) => !gone.has(r.uid)), signal);
  }

  async #setOwners(node: GraphNode, owners: OwnerReference[], signal: AbortSignal): Promise<void> {
    try {
      await this.cfg.client.patch(
        node.res,
        node.name,
        'json',
        [
          { op: 'test', path: '/metadata/uid', value: node.uid },
          { op: owners.length ? 'replace' : 'remove', path: '/metadata/ownerReferences', ...(owners.length ? { value: owners } : {}) },
        ],
        { namespace: node.namespace || undefined, signal, fieldManager: 'garbage-collector' },
      );
    } catch (err) {
      if (!isHedgeError(err, 'NotFound')) throw err;
    }
  }

  async #removeFinalizer(node: GraphNode, finalizer: string, signal: AbortSignal): Promise<void> {
    try {
      await this.cfg.client.patch(
        node.res,
        node.name,
        'json',
        [
          { op: 'test', path: '/metadata/uid', value: node.uid },
          { op: 'test', path: '/metadata/finalizers', value: node.finalizers },
          { op: 'replace', path: '/metadata/finalizers', value: node.finalizers.filter((f) => f !== finalizer) },
        ],
        { namespace: node.namespace || undefined, signal, fieldManager: 'garbage-collector' },
      );
    } catch (err) {
      if (!isHedgeError(err, 'NotFound')) throw err;
    }
  }

  async #orphan(node: GraphNode, signal: AbortSignal): Promise<void> {
    if (!node.finalizers.includes(ORPHAN_FINALIZER)) return;
    for (const depUid of [...(this.#dependents.get(node.uid) ?? [])]) {
      const dep = this.#nodes.get(depUid);
      if (!dep) continue;
      await this.#setOwners(dep, dep.owners.filter((r) => r.uid !== node.uid), signal);
      this.stats.orphaned++;
    }
    await this.#removeFinalizer(node, ORPHAN_FINALIZER, signal);
  }

  async #foreground(node: GraphNode, signal: AbortSignal): Promise<void> {
    if (!node.deleting || !node.finalizers.includes(FOREGROUND_FINALIZER)) return;
    let blocking = 0;
    for (const depUid of [...(this.#dependents.get(node.uid) ?? [])]) {
      const dep = this.#nodes.get(depUid);
      if (!dep) continue;
      const ref = dep.owners.find((r) => r.uid === node.uid);
      if (ref?.blockOwnerDeletion) blocking++;
      if (dep.deleting) continue;
      try {
        await this.cfg.client.delete(dep.res, dep.name, { namespace: dep.namespace || undefined, signal, preconditions: { uid: dep.uid }, propagationPolicy: 'Foreground' });
        this.stats.deleted++;
      } catch (err) {
        if (!isHedgeError(err, 'NotFound') && !isHedgeError(err, 'Conflict')) throw err;
      }
    }
    if (blocking === 0) await this.#removeFinalizer(node, FOREGROUND_FINALIZER, signal);
  }
}
