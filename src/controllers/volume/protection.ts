import type { KubeObject } from '../../api/object.ts';
import { podClaimNames, type PersistentVolumeClaimObject, type PersistentVolumeObject } from '../../api/storage/claims.ts';
import { PV_PROTECTION_FINALIZER, PVC_PROTECTION_FINALIZER } from '../../api/storage/names.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient, ResourceRef } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { PodObject } from '../common/types.ts';
import type { SharedInformers } from '../workloads/informers.ts';
import { WorkQueue } from '../workloads/queue.ts';

export interface StorageProtectionConfig {
  client: KubeClient;
  logger: Logger;
  informers: SharedInformers;
}

const terminated = (p: PodObject): boolean => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';


/**
 * Upstream's pvc-protection and pv-protection controllers: a deleted claim keeps
 * `kubernetes.io/pvc-protection` while a pod that is not terminated uses it, a deleted volume
 * keeps `kubernetes.io/pv-protection` while it is Bound; then the finalizer is removed and the
 * deletion completes.
 */
export class StorageProtectionController {
  readonly queue = new WorkQueue();
  readonly #cfg: StorageProtectionConfig;
  readonly #log: Logger;
  readonly #claims;
  readonly #volumes;
  readonly #pods;

  constructor(cfg: StorageProtectionConfig) {
    this.#cfg = cfg;
    this.#log = cfg.logger.child({ component: 'storage-protection-controller' });
    this.#claims = cfg.informers.for<PersistentVolumeClaimObject>(Resources.persistentvolumeclaims);
    this.#volumes = cfg.informers.for<PersistentVolumeObject>(Resources.persistentvolumes);
    this.#pods = cfg.informers.for<PodObject>(Resources.pods);
    const claim = (c: PersistentVolumeClaimObject): void => {
      if (c.metadata.deletionTimestamp) this.queue.add(`pvc/${c.metadata.namespace}/${c.metadata.name}`);
    };
    this.#claims.addHandlers({ onAdd: claim, onUpdate: (_, c) => claim(c) });
    const volume = (v: PersistentVolumeObject): void => {
      if (v.metadata.deletionTimestamp) this.queue.add(`pv/${v.metadata.name}`);
    };
    this.#volumes.addHandlers({ onAdd: volume, onUpdate: (_, v) => volume(v) });
    // a pod that goes or finishes may free the claims it used
    const pod = (p: PodObject): void => {
      for (const c of podClaimNames(p)) this.queue.add(`pvc/${p.metadata.namespace}/${c}`);
    };
    this.#pods.addHandlers({ onUpdate: (o, p) => terminated(p) !== terminated(o) && pod(p), onDelete: pod });
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.#cfg.informers.waitForSync(signal);
    await this.queue.run(signal, (k) => this.sync(k, signal), { workers: 1, logger: this.#log });
  }

  async sync(key: string, signal: AbortSignal): Promise<void> {
    const [kind, ...rest] = key.split('/');
    if (kind === 'pvc') {
      const [namespace, name] = rest;
      const pvc = this.#claims.get(name, namespace);
      if (!pvc?.metadata.deletionTimestamp || !pvc.metadata.finalizers?.includes(PVC_PROTECTION_FINALIZER)) return;
      const inUse = this.#pods.list().some((p) => p.metadata.namespace === namespace && !terminated(p) && podClaimNames(p).includes(name));
      if (!inUse) await this.#dropFinalizer(Resources.persistentvolumeclaims, pvc, PVC_PROTECTION_FINALIZER, signal);
      return;
    }
    const pv = this.#volumes.get(rest[0]);
    if (!pv?.metadata.deletionTimestamp || !pv.metadata.finalizers?.includes(PV_PROTECTION_FINALIZER)) return;
    if (pv.status?.phase !== 'Bound') await this.#dropFinalizer(Resources.persistentvolumes, pv, PV_PROTECTION_FINALIZER, signal);
  }

  async #dropFinalizer(ref: ResourceRef, obj: KubeObject, finalizer: string, signal: AbortSignal): Promise<void> {
    const finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    await this.#cfg.client.update(ref, { ...obj, metadata: { ...obj.metadata, finalizers } }, { signal, fieldManager: 'storage-protection-controller' }).catch((err: unknown) => {
      if (!isHedgeError(err, 'NotFound')) throw err;
    });
  }
}
