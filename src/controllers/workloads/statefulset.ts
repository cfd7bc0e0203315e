import type { ControllerRevision, StatefulSet, StatefulSetStatus } from 'kubernetes-types/apps/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { systemClock, type Clock } from '../../client/clock.ts';
import type { SharedInformer } from '../../client/shared-informers.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { EventRecorder } from '../common/events.ts';
import type { PodObject } from '../common/types.ts';
import { REVISION_HASH_LABEL } from './daemonset.ts';
import type { SharedInformers } from './informers.ts';
import { controllerOf, controllerRef, objectKey, splitKey, templateHash } from './owners.ts';
import { isAvailable, isReady, podFromTemplate } from './pods.ts';
import { WorkQueue } from './queue.ts';

export type StatefulSetObject = StatefulSet & KubeObject;
type RevisionObject = ControllerRevision & KubeObject;

export interface StatefulSetControllerConfig {
  client: KubeClient;
  logger: Logger;
  informers: SharedInformers;
  clock?: Clock;
}

const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';

/** upstream's getPersistentVolumeClaimName: `<template>-<set>-<ordinal>` */
export const claimName = (template: string, set: string, ordinal: number): string => `${template}-${set}-${ordinal}`;

const running = (p: PodObject): boolean => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp;

/**
 * The StatefulSet controller: pods `<name>-<ordinal>` with stable names and hostnames.
 * OrderedReady creates them one by one in ordinal order, each after its predecessors are
 * Running and Ready, and removes them highest ordinal first; Parallel does not wait.
 * RollingUpdate replaces pods at or above the partition, highest ordinal first, one at a time.
 * Each volumeClaimTemplate becomes the claim `<template>-<set>-<ordinal>`, created before its pod
 * and kept when the pod is re-created; persistentVolumeClaimRetentionPolicy Delete makes the set
 * (whenDeleted) or the pod (whenScaled, for ordinals scaled away) the claim's owner, so the
 * garbage collector removes it, as upstream.
 */
export class StatefulSetController {
  readonly queue = new WorkQueue();
  readonly #sets: SharedInformer<StatefulSetObject>;
  readonly #pods: SharedInformer<PodObject>;
  readonly #revs: SharedInformer<RevisionObject>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #byUid = new Map<string, string>();

  constructor(private readonly cfg: StatefulSetControllerConfig) {
    this.#clock = cfg.clock ?? systemClock;
    this.#log = cfg.logger.child({ component: 'statefulset-controller' });
    this.#events = new EventRecorder({ client: cfg.client, component: 'statefulset-controller', clock: this.#clock, logger: this.#log });
    this.#sets = cfg.informers.for<StatefulSetObject>(Resources.statefulsets);
    this.#pods = cfg.informers.for<PodObject>(Resources.pods);
    this.#revs = cfg.informers.for<RevisionObject>(Resources.controllerrevisions);
    const onSet = (s: StatefulSetObject): void => {
      this.#byUid.set(s.metadata.uid ?? '', objectKey(s));
      this.queue.add(objectKey(s));
    };
    this.#sets.addHandlers({ onAdd: onSet, onUpdate: (_, s) => onSet(s), onDelete: (s) => this.#byUid.delete(s.metadata.uid ?? '') });
    const onPod = (p: PodObject): void => {
      const ref = controllerOf(p);
      const k = ref?.kind === 'StatefulSet' ? this.#byUid.get(ref.uid) : undefined;
      if (k) this.queue.add(k);
    };
    this.#pods.addHandlers({ onAdd: onPod, onUpdate: (_, p) => onPod(p), onDelete: onPod });
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.cfg.informers.waitForSync(signal);
    await this.queue.run(signal, (key) => this.sync(key, signal), { workers: 2, logger: this.#log });
  }

  async #ensureRevision(set: StatefulSetObject, hash: string, signal: AbortSignal): Promise<void> {
    const owned = this.#revs.list().filter((r) => r.metadata.namespace === set.metadata.namespace && controllerOf(r)?.uid === set.metadata.uid);
    if (owned.some((r) => r.metadata.labels?.[REVISION_HASH_LABEL] === hash)) return;
    const rev: RevisionObject = {
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name: `${set.metadata.name}-${hash}`,
        namespace: set.metadata.namespace,
        labels: { ...set.spec?.template?.metadata?.labels, [REVISION_HASH_LABEL]: hash },
        ownerReferences: [controllerRef(set, Resources.statefulsets)],
      },
      data: { spec: { template: { ...structuredClone(set.spec?.template), $patch: 'replace' } } },
      revision: owned.reduce((m, r) => Math.max(m, r.revision), 0) + 1,
    };
    try {
      await this.cfg.client.create(Resources.controllerrevisions, rev, { signal, fieldManager: 'statefulset-controller' });
    } catch (err) {
      if (!isHedgeError(err, 'AlreadyExists')) throw err;
    }
  }

  /**
   * upstream's createPersistentVolumeClaims + updateClaimOwnerRefs: each template's claim for
   * ordinal `i` exists (an existing one is kept, whoever made it); with whenDeleted Delete the set
   * owns it, so deleting the set deletes it.
   */
  async #ensureClaims(set: StatefulSetObject, i: number, signal: AbortSignal): Promise<void> {
    const namespace = set.metadata.namespace ?? '';
    const setName = set.metadata.name ?? '';
    const whenDeleted = set.spec?.persistentVolumeClaimRetentionPolicy?.whenDeleted ?? 'Retain';
    for (const t of set.spec?.volumeClaimTemplates ?? []) {
      const name = claimName(t.metadata?.name ?? '', setName, i);
      const claim: KubeObject = {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name,
          namespace,
          labels: { ...set.spec?.selector?.matchLabels, ...t.metadata?.labels },
          ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
          ...(whenDeleted === 'Delete' ? { ownerReferences: [{ ...controllerRef(set, Resources.statefulsets), controller: false }] } : {}),
        },
        spec: structuredClone(t.spec ?? {}),
      };
      try {
        await this.cfg.client.create(Resources.persistentvolumeclaims, claim, { signal, fieldManager: 'statefulset-controller' });
        void this.#events.record({ involved: set, type: 'Normal', reason: 'SuccessfulCreate', message: `create Claim ${name} Pod ${setName}-${i} in StatefulSet ${setName} success` });
      } catch (err) {
        if (!isHedgeError(err, 'AlreadyExists')) {
          void this.#events.record({ involved: set, type: 'Warning', reason: 'FailedCreate', message: `create Claim ${name} for Pod ${setName}-${i} in StatefulSet ${setName} failed error: ${(err as Error).message}` });
          throw err;
        }
      }
    }
  }

  /** whenScaled Delete: the condemned pod becomes its claims' owner before it is deleted */
  async #claimsFollowPod(set: StatefulSetObject, pod: PodObject, signal: AbortSignal): Promise<void> {
    if (set.spec?.persistentVolumeClaimRetentionPolicy?.whenScaled !== 'Delete') return;
    const i = Number(/-(\d+)$/.exec(pod.metadata.name ?? '')?.[1]);
    for (const t of set.spec?.volumeClaimTemplates ?? []) {
      const name = claimName(t.metadata?.name ?? '', set.metadata.name ?? '', i);
      try {
        const claim = await this.cfg.client.get(Resources.persistentvolumeclaims, name, { namespace: pod.metadata.namespace, signal });
        const owners = claim.metadata.ownerReferences ?? [];
        if (owners.some((o) => o.uid === pod.metadata.uid)) continue;
        const podOwner = { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '', controller: false, blockOwnerDeletion: true };
        await this.cfg.client.update(Resources.persistentvolumeclaims, { ...claim, metadata: { ...claim.metadata, ownerReferences: [...owners, podOwner] } }, { signal, fieldManager: 'statefulset-controller' });
      } catch (err) {
        if (!isHedgeError(err, 'NotFound')) throw err;
      }
    }
  }

  async sync(key: string, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    const set = this.#sets.get(name, namespace);
    if (!set || set.metadata.deletionTimestamp) return;
    const { client } = this.cfg;
    const hash = templateHash(set.spec?.template);
    const updateRevision = `${name}-${hash}`;
    await this.#ensureRevision(set, hash, signal);
    const replicas = set.spec?.replicas ?? 1;
    const start = set.spec?.ordinals?.start ?? 0;
    const parallel = set.spec?.podManagementPolicy === 'Parallel';
    const pods = new Map<number, PodObject>();
    for (const p of this.#pods.list()) {
      if (p.metadata.namespace !== namespace || controllerOf(p)?.uid !== set.metadata.uid) continue;
      const m = /-(\d+)$/.exec(p.metadata.name ?? '');
      if (m) pods.set(Number(m[1]), p);
    }
    const podName = (i: number): string => `${name}-${i}`;
    const create = async (i: number): Promise<void> => {
      await this.#ensureClaims(set, i, signal);
      const pod = podFromTemplate(set.spec?.template, {
        namespace,
        owner: controllerRef(set, Resources.statefulsets),
        name: podName(i),
        extraLabels: { [REVISION_HASH_LABEL]: updateRevision, [POD_NAME_LABEL]: podName(i), [POD_INDEX_LABEL]: String(i) },
      });
      const spec = pod.spec ?? { containers: [] };
      // a claim template takes precedence over a template volume of the same name
      const templates = set.spec?.volumeClaimTemplates ?? [];
      if (templates.length > 0) {
        const names = new Set(templates.map((t) => t.metadata?.name));
        spec.volumes = [
          ...(spec.volumes ?? []).filter((v) => !names.has(v.name)),
          ...templates.map((t) => ({ name: t.metadata?.name ?? '', persistentVolumeClaim: { claimName: claimName(t.metadata?.name ?? '', name, i) } })),
        ];
      }
      spec.hostname = podName(i);
      if (set.spec?.serviceName) spec.subdomain = set.spec.serviceName;
      pod.spec = spec;
      try {
        await client.create(Resources.pods, pod, { signal, fieldManager: 'statefulset-controller' });
        void this.#events.record({ involved: set, type: 'Normal', reason: 'SuccessfulCreate', message: `create Pod ${podName(i)} in StatefulSet ${name} successful` });
      } catch (err) {
        if (!isHedgeError(err, 'AlreadyExists')) throw err;
      }
    };
    const remove = async (p: PodObject, why: string): Promise<void> => {
      // whenScaled Delete: the claims of a pod scaled away follow it (owned by the pod)
      if (why === 'successful (scale down)') await this.#claimsFollowPod(set, p, signal);
      await client.delete(Resources.pods, p.metadata.name ?? '', { namespace, signal, preconditions: { uid: p.metadata.uid } }).catch((err: unknown) => {
        if (!isHedgeError(err, 'NotFound') && !isHedgeError(err, 'Conflict')) throw err;
      });
      void this.#events.record({ involved: set, type: 'Normal', reason: 'SuccessfulDelete', message: `delete Pod ${p.metadata.name} in StatefulSet ${name} ${why}` });
    };

    let blocked = false;
    // failed pods are replaced under the same name
    for (const [, p] of pods) if ((p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded') && !p.metadata.deletionTimestamp) await remove(p, 'successful (failed pod)');
    for (let i = start; i < start + replicas; i++) {
      const p = pods.get(i);
      if (!p) {
        await create(i);
        if (!parallel) {
          blocked = true;
          break;
        }
        continue;
      }
      if (!parallel && !(running(p) && isReady(p))) {
        blocked = true;
        break;
      }
    }
    // scale down: highest ordinal first, one at a time unless Parallel
    const condemned = [...pods.entries()].filter(([i]) => i < start || i >= start + replicas).sort(([a], [b]) => b - a);
    if (!blocked) {
      for (const [, p] of condemned) {
        if (p.metadata.deletionTimestamp) {
          if (!parallel) break;
          continue;
        }
        await remove(p, 'successful (scale down)');
        if (!parallel) break;
      }
    }
    // rolling update: with every wanted pod running and ready, replace the highest outdated one
    const strategy = set.spec?.updateStrategy?.type ?? 'RollingUpdate';
    const partition = set.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
    const wanted = [...pods.entries()].filter(([i]) => i >= start && i < start + replicas);
    if (strategy === 'RollingUpdate' && !blocked && condemned.length === 0 && wanted.length === replicas && wanted.every(([, p]) => running(p) && isReady(p))) {
      const outdated = wanted.filter(([i, p]) => i - start >= partition && p.metadata.labels?.[REVISION_HASH_LABEL] !== updateRevision).sort(([a], [b]) => b - a);
      if (outdated.length > 0) await remove(outdated[0][1], 'successful (update)');
    }
    const live = [...pods.values()].filter((p) => !p.metadata.deletionTimestamp);
    const now = this.#clock.now();
    const updated = live.filter((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === updateRevision).length;
    const currentRevision = updated === live.length && updated >= replicas ? updateRevision : (set.status?.currentRevision ?? updateRevision);
    const status: StatefulSetStatus = {
      observedGeneration: set.metadata.generation ?? 0,
      replicas: live.length,
      readyReplicas: live.filter(isReady).length,
      availableReplicas: live.filter((p) => isAvailable(p, set.spec?.minReadySeconds ?? 0, now)).length,
      currentReplicas: live.filter((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === currentRevision).length,
      updatedReplicas: updated,
      currentRevision,
      updateRevision,
      collisionCount: set.status?.collisionCount ?? 0,
    };
    const cur = set.status;
    if (!cur || (Object.keys(status) as (keyof StatefulSetStatus)[]).some((k) => cur[k] !== status[k])) {
      await client.patch(Resources.statefulsets, name, 'merge', { status }, { namespace, subresource: 'status', signal, fieldManager: 'statefulset-controller' }).catch((err: unknown) => {
        if (!isHedgeError(err, 'NotFound')) throw err;
      });
    }
  }
}
