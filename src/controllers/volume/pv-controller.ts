import type { PersistentVolumeClaimStatus, PersistentVolumeStatus } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { claimClass, type PersistentVolumeClaimObject, type PersistentVolumeObject, type StorageClassObject } from '../../api/storage/claims.ts';
import {
  BIND_COMPLETED_ANNOTATION,
  BOUND_BY_CONTROLLER_ANNOTATION,
  LOCAL_PATH_CLEANUP_FINALIZER,
  LOCAL_PATH_PROVISIONER,
  SELECTED_NODE_ANNOTATION,
  STORAGE_PROVISIONER_ANNOTATION,
  BETA_STORAGE_PROVISIONER_ANNOTATION,
} from '../../api/storage/names.ts';
import { systemClock, type Clock } from '../../client/clock.ts';
import { EventRecorder } from '../../client/event-recorder.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { NodeObject } from '../common/types.ts';
import type { SharedInformers } from '../workloads/informers.ts';
import { WorkQueue } from '../workloads/queue.ts';
import { claimRefMatches, findMatchingVolume, isLocalPathVolume, provisionedVolume, volumeNode } from './binder.ts';
import type { LocalPathVolumeDeleter } from './local-path-deleter.ts';

export interface PersistentVolumeControllerConfig {
  client: KubeClient;
  logger: Logger;
  informers: SharedInformers;
  /** how local-path volume directories are deleted on their node (the node proxy); without one, Delete-policy local-path volumes stay Released */
  deleter?: LocalPathVolumeDeleter;
  /** the longest pause between attempts to reach an offline node for a reclaim (default 5 min) */
  reclaimMaxBackoffMs?: number;
  clock?: Clock;
}

const FIELD_MANAGER = 'persistentvolume-binder-controller';

const notFoundOk = (err: unknown): void => {
  if (!isHedgeError(err, 'NotFound')) throw err;
};

/**
 * Upstream's PersistentVolume controller (pkg/controller/volume/persistentvolume) for what hedge
 * needs: claims bind to the smallest matching Available volume (Immediate classes, or
 * WaitForFirstConsumer ones once the scheduler annotated the selected node); claims of the
 * `hedge.io/local-path` provisioner get a volume made for them on their selected node; volumes
 * follow Available → Bound → Released (claim gone) → deleted or kept per reclaim policy, with
 * the local-path directory deleted by its node (through the node proxy) before the PV goes.
 * Claims whose volume vanished are Lost. Every write is guarded by the cached object's
 * resourceVersion; a conflict re-syncs from the cache.
 */
export class PersistentVolumeController {
  readonly claimQueue = new WorkQueue();
  readonly volumeQueue = new WorkQueue();
  readonly reclaimQueue = new WorkQueue();
  readonly #cfg: PersistentVolumeControllerConfig;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #claims;
  readonly #volumes;
  readonly #classes;
  readonly #nodes;

  constructor(cfg: PersistentVolumeControllerConfig) {
    this.#cfg = cfg;
    this.#log = cfg.logger.child({ component: 'persistentvolume-controller' });
    const clock = cfg.clock ?? systemClock;
    this.#events = new EventRecorder({ client: cfg.client, component: 'persistentvolume-controller', clock, logger: this.#log });
    this.#claims = cfg.informers.for<PersistentVolumeClaimObject>(Resources.persistentvolumeclaims);
    this.#volumes = cfg.informers.for<PersistentVolumeObject>(Resources.persistentvolumes);
    this.#classes = cfg.informers.for<StorageClassObject>(Resources.storageclasses);
    this.#nodes = cfg.informers.for<NodeObject>(Resources.nodes);
    const claim = (c: PersistentVolumeClaimObject): void => this.claimQueue.add(`${c.metadata.namespace}/${c.metadata.name}`);
    this.#claims.addHandlers({
      onAdd: claim,
      onUpdate: (_, c) => claim(c),
      // the volume bound to it is Released now
      onDelete: (c) => {
        if (c.spec?.volumeName) this.volumeQueue.add(c.spec.volumeName);
      },
    });
    const volume = (v: PersistentVolumeObject): void => {
      this.volumeQueue.add(v.metadata.name ?? '');
      const ref = v.spec?.claimRef;
      if (ref?.name) this.claimQueue.add(`${ref.namespace ?? ''}/${ref.name}`);
    };
    this.#volumes.addHandlers({ onAdd: volume, onUpdate: (_, v) => volume(v), onDelete: volume });
    // a new class (or default) may let pending claims proceed
    this.#classes.addHandlers({ onAdd: () => this.#pendingClaims(), onUpdate: () => this.#pendingClaims() });
  }

  #pendingClaims(): void {
    for (const c of this.#claims.list()) if (!c.spec?.volumeName) this.claimQueue.add(`${c.metadata.namespace}/${c.metadata.name}`);
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.#cfg.informers.waitForSync(signal);
    await Promise.all([
      this.claimQueue.run(signal, (k) => this.syncClaim(k, signal), { workers: 2, logger: this.#log }),
      this.volumeQueue.run(signal, (k) => this.syncVolume(k, signal), { workers: 1, logger: this.#log }),
      this.reclaimQueue.run(signal, (k) => this.reclaim(k, signal), { workers: 2, logger: this.#log, maxBackoffMs: this.#cfg.reclaimMaxBackoffMs ?? 300_000 }),
    ]);
  }

  // ---- claims

  async syncClaim(key: string, signal: AbortSignal): Promise<void> {
    const slash = key.indexOf('/');
    const pvc = this.#claims.get(key.slice(slash + 1), key.slice(0, slash));
    if (!pvc || pvc.metadata.deletionTimestamp) return;
    const volumeName = pvc.spec?.volumeName;
    if (!volumeName) return this.#syncUnboundClaim(pvc, signal);
    const pv = this.#volumes.get(volumeName);
    if (!pv) {
      // bound once and its volume is gone: Lost; pre-bound to a volume not yet made: Pending
      if (pvc.metadata.annotations?.[BIND_COMPLETED_ANNOTATION]) {
        if (pvc.status?.phase !== 'Lost') {
          await this.#claimStatus(pvc, { ...pvc.status, phase: 'Lost' }, signal);
          void this.#events.record({ involved: pvc, type: 'Warning', reason: 'ClaimLost', message: 'Bound claim has lost reference to PersistentVolume. Data on the volume is lost!' });
        }
      } else await this.#claimStatus(pvc, { ...pvc.status, phase: 'Pending' }, signal);
      return;
    }
    if (!pv.spec?.claimRef) return this.#bind(pv, pvc, signal);
    if (claimRefMatches(pv, pvc)) return this.#bind(pv, pvc, signal);
    // the volume is someone else's: this claim is bound incorrectly
    if (pvc.status?.phase !== 'Lost') {
      await this.#claimStatus(pvc, { ...pvc.status, phase: 'Lost' }, signal);
      void this.#events.record({ involved: pvc, type: 'Warning', reason: 'ClaimMisbound', message: 'Two claims are bound to the same volume, this one is bound incorrectly' });
    }
  }

  async #syncUnboundClaim(pvc: PersistentVolumeClaimObject, signal: AbortSignal): Promise<void> {
    const className = claimClass(pvc);
    const sc = className ? this.#classes.get(className) : undefined;
    const waitsForConsumer = sc?.volumeBindingMode === 'WaitForFirstConsumer';
    const selected = pvc.metadata.annotations?.[SELECTED_NODE_ANNOTATION];
    const node = selected ? this.#nodes.get(selected) : undefined;
    // a delayed-binding claim waits for the scheduler to pick its node, or to give it an existing
    // volume (the scheduler's PreBind writes that volume's claimRef, as may the claim's author)
    if (waitsForConsumer && !selected) {
      const preBound = this.#volumes.list().find((pv) => claimRefMatches(pv, pvc) && !pv.metadata.deletionTimestamp);
      if (preBound) return this.#bind(preBound, pvc, signal);
      return this.#pending(pvc, 'WaitForFirstConsumer', 'waiting for first consumer to be created before binding', signal);
    }
    const pv = findMatchingVolume(pvc, this.#volumes.list(), waitsForConsumer ? node : undefined);
    if (pv && (!waitsForConsumer || node)) return this.#bind(pv, pvc, signal);
    if (!sc) {
      const message = className ? `storageclass.storage.k8s.io "${className}" not found` : 'no persistent volumes available for this claim and no storage class is set';
      return this.#pending(pvc, 'FailedBinding', message, signal, 'Warning');
    }
    if (sc.provisioner !== LOCAL_PATH_PROVISIONER) {
      await this.#annotateProvisioner(pvc, sc.provisioner ?? '', signal);
      return this.#pending(pvc, 'ExternalProvisioning', `Waiting for a volume to be created either by the external provisioner '${sc.provisioner}' or manually by the system administrator.`, signal);
    }
    if (!selected) return this.#pending(pvc, 'ProvisioningFailed', 'configuration error, no node was specified: the local-path class needs volumeBindingMode WaitForFirstConsumer', signal, 'Warning');
    if (!node) return this.#pending(pvc, 'ProvisioningFailed', `node "${selected}" not found`, signal, 'Warning');
    await this.#provision(pvc, sc, node, signal);
  }

  async #pending(pvc: PersistentVolumeClaimObject, reason: string, message: string, signal: AbortSignal, type: 'Normal' | 'Warning' = 'Normal'): Promise<void> {
    void this.#events.record({ involved: pvc, type, reason, message });
    await this.#claimStatus(pvc, { ...pvc.status, phase: 'Pending' }, signal);
  }

  async #annotateProvisioner(pvc: PersistentVolumeClaimObject, provisioner: string, signal: AbortSignal): Promise<void> {
    const a = pvc.metadata.annotations ?? {};
    if (a[STORAGE_PROVISIONER_ANNOTATION] === provisioner) return;
    await this.#updateClaim({ ...pvc, metadata: { ...pvc.metadata, annotations: { ...a, [STORAGE_PROVISIONER_ANNOTATION]: provisioner, [BETA_STORAGE_PROVISIONER_ANNOTATION]: provisioner } } }, signal);
  }

  async #provision(pvc: PersistentVolumeClaimObject, sc: StorageClassObject, node: NodeObject, signal: AbortSignal): Promise<void> {
    await this.#annotateProvisioner(pvc, LOCAL_PATH_PROVISIONER, signal);
    const want = provisionedVolume(pvc, sc, node);
    let pv = this.#volumes.get(want.metadata.name ?? '');
    if (!pv) {
      try {
        pv = await this.#cfg.client.create(Resources.persistentvolumes, want, { signal, fieldManager: FIELD_MANAGER });
        void this.#events.record({ involved: pvc, type: 'Normal', reason: 'ProvisioningSucceeded', message: `Successfully provisioned volume ${want.metadata.name} on node ${node.metadata.name}` });
      } catch (err) {
        if (!isHedgeError(err, 'AlreadyExists')) {
          void this.#events.record({ involved: pvc, type: 'Warning', reason: 'ProvisioningFailed', message: `failed to provision volume with StorageClass "${sc.metadata.name}": ${(err as Error).message}` });
          throw err;
        }
        pv = await this.#cfg.client.get<PersistentVolumeObject>(Resources.persistentvolumes, want.metadata.name ?? '', { signal });
      }
    }
    await this.#bind(pv, pvc, signal);
  }

  /**
   * upstream's bind(): the volume's claimRef (and Bound phase), then the claim's volumeName and
   * annotations, then its Bound status with the volume's capacity and access modes. Each step is
   * skipped when done, so a retry after a failure finishes the rest.
   */
  async #bind(pv: PersistentVolumeObject, pvc: PersistentVolumeClaimObject, signal: AbortSignal): Promise<void> {
    const { client } = this.#cfg;
    const ref = pv.spec?.claimRef;
    if (!ref || !ref.uid) {
      pv = await client.update(Resources.persistentvolumes, {
        ...pv,
        metadata: { ...pv.metadata, annotations: { ...pv.metadata.annotations, ...(ref ? {} : { [BOUND_BY_CONTROLLER_ANNOTATION]: 'yes' }) } },
        spec: { ...pv.spec, claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid, resourceVersion: pvc.metadata.resourceVersion } },
      }, { signal, fieldManager: FIELD_MANAGER });
    }
    if (pv.status?.phase !== 'Bound') await this.#volumeStatus(pv, { ...pv.status, phase: 'Bound' }, signal);
    const annotations = pvc.metadata.annotations ?? {};
    if (pvc.spec?.volumeName !== pv.metadata.name || annotations[BIND_COMPLETED_ANNOTATION] !== 'yes') {
      const byController = pvc.spec?.volumeName !== pv.metadata.name || annotations[BOUND_BY_CONTROLLER_ANNOTATION] === 'yes';
      pvc = await this.#updateClaim({
        ...pvc,
        metadata: { ...pvc.metadata, annotations: { ...annotations, [BIND_COMPLETED_ANNOTATION]: 'yes', ...(byController ? { [BOUND_BY_CONTROLLER_ANNOTATION]: 'yes' } : {}) } },
        spec: { ...pvc.spec, volumeName: pv.metadata.name },
      }, signal);
    }
    const status: PersistentVolumeClaimStatus = { ...pvc.status, phase: 'Bound', accessModes: [...(pv.spec?.accessModes ?? [])], capacity: { ...pv.spec?.capacity } };
    if (JSON.stringify(status) !== JSON.stringify(pvc.status)) {
      await this.#claimStatus(pvc, status, signal);
      void this.#events.record({ involved: pvc, type: 'Normal', reason: 'Bound', message: `Bound to volume ${pv.metadata.name}` }).catch(() => undefined);
    }
  }

  async #updateClaim(pvc: PersistentVolumeClaimObject, signal: AbortSignal): Promise<PersistentVolumeClaimObject> {
    return this.#cfg.client.update(Resources.persistentvolumeclaims, pvc, { signal, fieldManager: FIELD_MANAGER });
  }

  async #claimStatus(pvc: PersistentVolumeClaimObject, status: PersistentVolumeClaimStatus, signal: AbortSignal): Promise<void> {
    if (JSON.stringify(status) === JSON.stringify(pvc.status)) return;
    await this.#cfg.client.updateStatus(Resources.persistentvolumeclaims, { ...pvc, status } as KubeObject, { signal, fieldManager: FIELD_MANAGER }).catch(notFoundOk);
  }

  async #volumeStatus(pv: PersistentVolumeObject, status: PersistentVolumeStatus, signal: AbortSignal): Promise<PersistentVolumeObject> {
    if (JSON.stringify(status) === JSON.stringify(pv.status)) return pv;
    return this.#cfg.client.updateStatus(Resources.persistentvolumes, { ...pv, status } as KubeObject, { signal, fieldManager: FIELD_MANAGER }) as Promise<PersistentVolumeObject>;
  }

  // ---- volumes

  async syncVolume(name: string, signal: AbortSignal): Promise<void> {
    const pv = this.#volumes.get(name);
    if (!pv) return;
    await this.#syncVolumePhase(pv, signal);
    // deleted by hand: a local-path volume is cleaned up on its node once no claim holds it
    if (pv.metadata.deletionTimestamp && pv.metadata.finalizers?.includes(LOCAL_PATH_CLEANUP_FINALIZER)) this.reclaimQueue.add(name);
  }

  async #syncVolumePhase(pv: PersistentVolumeObject, signal: AbortSignal): Promise<void> {
    const ref = pv.spec?.claimRef;
    if (!ref) {
      await this.#volumeStatus(pv, { phase: 'Available' }, signal).catch(notFoundOk);
      return;
    }
    const pvc = this.#claims.get(ref.name ?? '', ref.namespace ?? '');
    // pre-bound by a user to a claim that does not exist yet
    if (!ref.uid && !pvc) {
      await this.#volumeStatus(pv, { phase: 'Available' }, signal).catch(notFoundOk);
      return;
    }
    if (!pvc || (ref.uid && pvc.metadata.uid !== ref.uid)) return this.#released(pv, signal);
    if (pvc.spec?.volumeName === pv.metadata.name) {
      await this.#volumeStatus(pv, { ...pv.status, phase: 'Bound' }, signal).catch(notFoundOk);
      return;
    }
    // the claim is bound to another volume: a binding the controller made is undone
    if (pvc.spec?.volumeName && pv.metadata.annotations?.[BOUND_BY_CONTROLLER_ANNOTATION] === 'yes') {
      const spec = { ...pv.spec };
      delete spec.claimRef;
      const annotations = { ...pv.metadata.annotations };
      delete annotations[BOUND_BY_CONTROLLER_ANNOTATION];
      const updated = await this.#cfg.client.update(Resources.persistentvolumes, { ...pv, metadata: { ...pv.metadata, annotations }, spec }, { signal, fieldManager: FIELD_MANAGER });
      await this.#volumeStatus(updated as PersistentVolumeObject, { phase: 'Available' }, signal);
    }
    // otherwise the claim's own sync binds it
  }

  async #released(pv: PersistentVolumeObject, signal: AbortSignal): Promise<void> {
    if (pv.status?.phase !== 'Released' && pv.status?.phase !== 'Failed') pv = await this.#volumeStatus(pv, { phase: 'Released' }, signal);
    const policy = pv.spec?.persistentVolumeReclaimPolicy ?? 'Retain';
    switch (policy) {
      case 'Retain':
        return;
      case 'Delete':
        if (pv.metadata.finalizers?.includes(LOCAL_PATH_CLEANUP_FINALIZER) && isLocalPathVolume(pv)) {
          this.reclaimQueue.add(pv.metadata.name ?? '');
          return;
        }
        break;
      case 'Recycle':
        break;
    }
    if (pv.status?.phase === 'Failed') return;
    const message = `error getting ${policy === 'Recycle' ? 'recycler' : 'deleter'} volume plugin for volume "${pv.metadata.name}": no volume plugin matched`;
    await this.#volumeStatus(pv, { phase: 'Failed', message }, signal);
    void this.#events.record({ involved: pv, type: 'Warning', reason: policy === 'Recycle' ? 'VolumeFailedRecycle' : 'VolumeFailedDelete', message });
  }

  // ---- reclaim

  /**
   * Deletes a released (or hand-deleted) local-path volume: its node removes the directory
   * through the node proxy, then the cleanup finalizer goes and the PV is deleted. A node that is
   * offline, still runs a pod on the volume or cannot now makes this throw: the reclaim queue
   * retries with back-off (edge nodes can be away for days). A Retain volume deleted by hand
   * only loses the finalizer; a node that no longer exists has nothing left to clean.
   */
  async reclaim(name: string, signal: AbortSignal): Promise<void> {
    const pv = this.#volumes.get(name);
    // a volume still bound keeps its data, deleted or not (pv-protection holds its deletion)
    if (!pv || !pv.metadata.finalizers?.includes(LOCAL_PATH_CLEANUP_FINALIZER) || pv.status?.phase === 'Bound') return;
    const { client } = this.#cfg;
    const policy = pv.spec?.persistentVolumeReclaimPolicy ?? 'Retain';
    const released = pv.status?.phase === 'Released' || pv.status?.phase === 'Failed';
    if (!pv.metadata.deletionTimestamp && !(released && policy === 'Delete')) return;
    if (policy === 'Delete' && isLocalPathVolume(pv)) {
      const where = volumeNode(pv, this.#nodes.list());
      if (where?.node) {
        if (!this.#cfg.deleter) return;
        try {
          await this.#cfg.deleter.deleteVolume({ node: where.node.metadata.name ?? '', volumeHandle: pv.spec?.csi?.volumeHandle ?? name, signal });
        } catch (err) {
          this.#log.info({ err, volume: name, node: where.node.metadata.name }, 'the node could not delete the volume yet; will retry');
          throw err;
        }
      } else this.#log.warn({ volume: name, hostname: where?.hostname }, "the volume's node is gone; deleting the PV without cleaning its directory");
    }
    if (!pv.metadata.deletionTimestamp) await client.delete(Resources.persistentvolumes, name, { signal, preconditions: { uid: pv.metadata.uid } }).catch(notFoundOk);
    // the finalizer comes off the object as it is now (the delete changed it)
    const cur = await client.get<PersistentVolumeObject>(Resources.persistentvolumes, name, { signal }).catch((err: unknown) => (isHedgeError(err, 'NotFound') ? undefined : Promise.reject(err)));
    if (!cur || cur.metadata.uid !== pv.metadata.uid) return;
    const finalizers = (cur.metadata.finalizers ?? []).filter((f) => f !== LOCAL_PATH_CLEANUP_FINALIZER);
    await client.update(Resources.persistentvolumes, { ...cur, metadata: { ...cur.metadata, finalizers } }, { signal, fieldManager: FIELD_MANAGER }).catch(notFoundOk);
    if (policy === 'Delete') void this.#events.record({ involved: pv, type: 'Normal', reason: 'VolumeDeleted', message: `Deleted volume ${name}` }).catch(() => undefined);
  }
}
