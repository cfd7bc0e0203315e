import type { DeploymentCondition, DeploymentStatus } from 'kubernetes-types/apps/v1.js';
import type { Clock } from '../../client/clock.ts';
import { systemClock } from '../../client/clock.ts';
import type { SharedInformer } from '../../client/shared-informers.ts';
import { formatTime } from '../../client/micro-time.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { EventRecorder } from '../common/events.ts';
import {
  copyableAnnotations,
  DESIRED_REPLICAS_ANNOTATION,
  fenceposts,
  MAX_REPLICAS_ANNOTATION,
  maxUnavailableOf,
  POD_TEMPLATE_HASH,
  REVISION_ANNOTATION,
  revisionOf,
  setCondition,
  specReplicas,
  templatesEqual,
  type DeploymentObject,
  type RsObject,
} from './deployment-util.ts';
import type { SharedInformers } from './informers.ts';
import { controllerOf, controllerRef, objectKey, splitKey, templateHash } from './owners.ts';
import { WorkQueue } from './queue.ts';

export interface DeploymentControllerConfig {
  client: KubeClient;
  logger: Logger;
  informers: SharedInformers;
  clock?: Clock;
  workers?: number;
}

const FM = { fieldManager: 'deployment-controller' };

/**
 * The Deployment controller: one ReplicaSet per pod template, rolled by RollingUpdate
 * (maxSurge / maxUnavailable against available pods, so readiness gates the rollout) or
 * Recreate; revision annotations, history limit, pause, and the Progressing / Available
 * conditions that `kubectl rollout status` reads. Follows k8s.io/kubernetes/pkg/controller/deployment.
 */
export class DeploymentController {
  readonly queue = new WorkQueue();
  readonly #deps: SharedInformer<DeploymentObject>;
  readonly #rs: SharedInformer<RsObject>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #byUid = new Map<string, string>();

  constructor(private readonly cfg: DeploymentControllerConfig) {
    this.#clock = cfg.clock ?? systemClock;
    this.#log = cfg.logger.child({ component: 'deployment-controller' });
    this.#events = new EventRecorder({ client: cfg.client, component: 'deployment-controller', clock: this.#clock, logger: this.#log });
    this.#deps = cfg.informers.for<DeploymentObject>(Resources.deployments);
    this.#rs = cfg.informers.for<RsObject>(Resources.replicasets);
    const onDep = (d: DeploymentObject): void => {
      this.#byUid.set(d.metadata.uid ?? '', objectKey(d));
      this.queue.add(objectKey(d));
    };
    this.#deps.addHandlers({ onAdd: onDep, onUpdate: (_, d) => onDep(d), onDelete: (d) => this.#byUid.delete(d.metadata.uid ?? '') });
    const onRs = (rs: RsObject): void => {
      const ref = controllerOf(rs);
      const key = ref?.kind === 'Deployment' ? this.#byUid.get(ref.uid) : undefined;
      if (key) this.queue.add(key);
    };
    this.#rs.addHandlers({ onAdd: onRs, onUpdate: (_, rs) => onRs(rs), onDelete: onRs });
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.cfg.informers.waitForSync(signal);
    await this.queue.run(signal, (key) => this.sync(key, signal), { workers: this.cfg.workers ?? 2, logger: this.#log });
  }

  #owned(d: DeploymentObject): RsObject[] {
    return this.#rs.list().filter((rs) => rs.metadata.namespace === d.metadata.namespace && controllerOf(rs)?.uid === d.metadata.uid);
  }

  async sync(key: string, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    const d = this.#deps.get(name, namespace);
    if (!d || d.metadata.deletionTimestamp) return;
    const all = this.#owned(d);
    let newRs = all.filter((rs) => templatesEqual(rs.spec?.template, d.spec?.template)).sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''))[0];
    const old = all.filter((rs) => rs !== newRs);
    const created = { value: false };

    if (d.spec?.paused) {
      // a paused Deployment still scales, it only stops rolling
      if (newRs && specReplicas(newRs) !== (d.spec.replicas ?? 1) && old.every((rs) => specReplicas(rs) === 0)) {
        await this.#scale(newRs, d.spec.replicas ?? 1, d, signal);
      }
      await this.#syncStatus(d, newRs, old, { created: false, signal });
      return;
    }

    const recreate = d.spec?.strategy?.type === 'Recreate';
    if (recreate) {
      let changed = false;
      for (const rs of old) if (specReplicas(rs) !== 0) changed = (await this.#scale(rs, 0, d, signal)) || changed;
      const oldRunning = old.some((rs) => (rs.status?.replicas ?? 0) > 0);
      if (changed || oldRunning) {
        await this.#syncStatus(d, newRs, old, { created: false, signal });
        return;
      }
      newRs = await this.#ensureNewRs(d, newRs, old, recreate, created, signal);
      if (specReplicas(newRs) !== (d.spec?.replicas ?? 1)) await this.#scale(newRs, d.spec?.replicas ?? 1, d, signal);
    } else {
      newRs = await this.#ensureNewRs(d, newRs, old, recreate, created, signal);
      const scaledUp = await this.#reconcileNewRs(d, newRs, old, signal);
      if (!scaledUp) await this.#reconcileOldRss(d, newRs, old, signal);
    }
    const complete = await this.#syncStatus(d, newRs, old, { created: created.value, signal });
    if (complete) await this.#cleanup(d, old, signal);
  }

  /** find or create the ReplicaSet for the current template, with its revision annotations */
  async #ensureNewRs(d: DeploymentObject, existing: RsObject | undefined, old: RsObject[], recreate: boolean, created: { value: boolean }, signal: AbortSignal): Promise<RsObject> {
    const maxOld = old.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
    const revision = String(maxOld + 1);
    const desired = d.spec?.replicas ?? 1;
    const { maxSurge } = fenceposts(d);
    const { client } = this.cfg;
    if (existing) {
      const ann = existing.metadata.annotations ?? {};
      const want: Record<string, string> = { ...copyableAnnotations(d) };
      if (revisionOf(existing) < maxOld + 1) want[REVISION_ANNOTATION] = revision;
      want[DESIRED_REPLICAS_ANNOTATION] = String(desired);
      want[MAX_REPLICAS_ANNOTATION] = String(desired + (recreate ? 0 : maxSurge));
      const changed = Object.entries(want).some(([k, v]) => ann[k] !== v);
      let rs = existing;
      if (changed) {
        rs = await client.patch<RsObject>(Resources.replicasets, existing.metadata.name ?? '', 'merge', { metadata: { annotations: want } }, { namespace: d.metadata.namespace, signal, ...FM });
      }
      await this.#setDeploymentRevision(d, String(revisionOf(rs)), signal);
      return rs;
    }
    const template = structuredClone(d.spec?.template ?? {});
    for (let collisions = d.status?.collisionCount ?? 0; ; collisions++) {
      const hash = templateHash(d.spec?.template, collisions);
      template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [POD_TEMPLATE_HASH]: hash } };
      const selector = structuredClone(d.spec?.selector ?? {});
      selector.matchLabels = { ...selector.matchLabels, [POD_TEMPLATE_HASH]: hash };
      const total = old.reduce((n, rs) => n + specReplicas(rs), 0);
      const replicas = recreate ? desired : Math.max(0, Math.min(desired + maxSurge - total, desired));
      const rs: RsObject = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${d.metadata.name}-${hash}`,
          namespace: d.metadata.namespace,
          labels: template.metadata.labels,
          annotations: {
            ...copyableAnnotations(d),
            [REVISION_ANNOTATION]: revision,
            [DESIRED_REPLICAS_ANNOTATION]: String(desired),
            [MAX_REPLICAS_ANNOTATION]: String(desired + (recreate ? 0 : maxSurge)),
          },
          ownerReferences: [controllerRef(d, Resources.deployments)],
        },
        spec: { replicas, minReadySeconds: d.spec?.minReadySeconds ?? 0, selector, template },
      };
      try {
        const out = await client.create<RsObject>(Resources.replicasets, rs, { signal, ...FM });
        created.value = true;
        void this.#events.record({ involved: d, type: 'Normal', reason: 'ScalingReplicaSet', message: `Scaled up replica set ${out.metadata.name} from 0 to ${replicas}` });
        await this.#setDeploymentRevision(d, revision, signal);
        return out;
      } catch (err) {
        if (!isHedgeError(err, 'AlreadyExists')) throw err;
        const clash = await client.get<RsObject>(Resources.replicasets, rs.metadata.name ?? '', { namespace: d.metadata.namespace, signal });
        if (controllerOf(clash)?.uid === d.metadata.uid && templatesEqual(clash.spec?.template, d.spec?.template)) return clash;
        // a hash collision: count it in status so the next name differs
        await client.patch(Resources.deployments, d.metadata.name ?? '', 'merge', { status: { collisionCount: collisions + 1 } }, { namespace: d.metadata.namespace, subresource: 'status', signal, ...FM });
      }
    }
  }

  async #setDeploymentRevision(d: DeploymentObject, revision: string, signal: AbortSignal): Promise<void> {
    if (d.metadata.annotations?.[REVISION_ANNOTATION] === revision) return;
    await this.cfg.client.patch(Resources.deployments, d.metadata.name ?? '', 'merge', { metadata: { annotations: { [REVISION_ANNOTATION]: revision } } }, { namespace: d.metadata.namespace, signal, ...FM });
  }

  async #scale(rs: RsObject, replicas: number, d: DeploymentObject, signal: AbortSignal): Promise<boolean> {
    const from = specReplicas(rs);
    if (from === replicas) return false;
    const desired = d.spec?.replicas ?? 1;
    const maxSurge = d.spec?.strategy?.type === 'Recreate' ? 0 : fenceposts(d).maxSurge;
    await this.cfg.client.patch(
      Resources.replicasets,
      rs.metadata.name ?? '',
      'merge',
      {
        metadata: { annotations: { [DESIRED_REPLICAS_ANNOTATION]: String(desired), [MAX_REPLICAS_ANNOTATION]: String(desired + maxSurge) } },
        spec: { replicas },
      },
      { namespace: rs.metadata.namespace, signal, ...FM },
    );
    // keep the cached copy in step so this sync's later arithmetic sees the new size
    rs.spec = { ...rs.spec, replicas } as RsObject['spec'];
    const dir = replicas > from ? 'up' : 'down';
    void this.#events.record({ involved: d, type: 'Normal', reason: 'ScalingReplicaSet', message: `Scaled ${dir} replica set ${rs.metadata.name} from ${from} to ${replicas}` });
    return true;
  }

  /** NewRSNewReplicas: grow the new ReplicaSet as far as maxSurge allows */
  async #reconcileNewRs(d: DeploymentObject, newRs: RsObject, old: RsObject[], signal: AbortSignal): Promise<boolean> {
    const desired = d.spec?.replicas ?? 1;
    const cur = specReplicas(newRs);
    if (cur === desired) return false;
    if (cur > desired) return this.#scale(newRs, desired, d, signal);
    const { maxSurge } = fenceposts(d);
    const total = old.reduce((n, rs) => n + specReplicas(rs), 0) + cur;
    const maxTotal = desired + maxSurge;
    if (total >= maxTotal) return false;
    const up = Math.min(maxTotal - total, desired - cur);
    return this.#scale(newRs, cur + up, d, signal);
  }

  /** reconcileOldReplicaSets: shrink old ReplicaSets while keeping desired - maxUnavailable available */
  async #reconcileOldRss(d: DeploymentObject, newRs: RsObject, old: RsObject[], signal: AbortSignal): Promise<boolean> {
    const active = old.filter((rs) => specReplicas(rs) > 0);
    if (active.length === 0) return false;
    const desired = d.spec?.replicas ?? 1;
    const all = [newRs, ...old];
    const allPods = all.reduce((n, rs) => n + specReplicas(rs), 0);
    const minAvailable = desired - maxUnavailableOf(d);
    const newUnavailable = specReplicas(newRs) - (newRs.status?.availableReplicas ?? 0);
    let maxScaledDown = allPods - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    let changed = false;
    const oldestFirst = [...active].sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
    // first the unhealthy replicas of old ReplicaSets: removing them costs no availability
    for (const rs of oldestFirst) {
      if (maxScaledDown <= 0) break;
      const unhealthy = specReplicas(rs) - (rs.status?.availableReplicas ?? 0);
      if (unhealthy <= 0) continue;
      const down = Math.min(unhealthy, maxScaledDown);
      changed = (await this.#scale(rs, specReplicas(rs) - down, d, signal)) || changed;
      maxScaledDown -= down;
    }
    // then available ones, as far as availability allows
    const available = all.reduce((n, rs) => n + (rs.status?.availableReplicas ?? 0), 0);
    let total = Math.min(available - minAvailable, maxScaledDown);
    for (const rs of oldestFirst) {
      if (total <= 0) break;
      const down = Math.min(specReplicas(rs), total);
      if (down <= 0) continue;
      changed = (await this.#scale(rs, specReplicas(rs) - down, d, signal)) || changed;
      total -= down;
    }
    return changed;
  }

  /** status and conditions; true when the rollout is complete */
  async #syncStatus(d: DeploymentObject, newRs: RsObject | undefined, old: RsObject[], opts: { created: boolean; signal: AbortSignal }): Promise<boolean> {
    const all = newRs ? [newRs, ...old] : old;
    const desired = d.spec?.replicas ?? 1;
    const sum = (f: (rs: RsObject) => number): number => all.reduce((n, rs) => n + f(rs), 0);
    const prev: DeploymentStatus = d.status ?? {};
    const status: DeploymentStatus = {
      observedGeneration: d.metadata.generation ?? 0,
      replicas: sum((rs) => rs.status?.replicas ?? 0),
      updatedReplicas: newRs?.status?.replicas ?? 0,
      readyReplicas: sum((rs) => rs.status?.readyReplicas ?? 0),
      availableReplicas: sum((rs) => rs.status?.availableReplicas ?? 0),
    };
    status.unavailableReplicas = Math.max(0, sum(specReplicas) - (status.availableReplicas ?? 0));
    if (prev.collisionCount !== undefined) status.collisionCount = prev.collisionCount;
    const now = formatTime(this.#clock.now());
    let conds: DeploymentCondition[] = [...(prev.conditions ?? [])];
    const minAvailable = desired - maxUnavailableOf(d);
    conds = setCondition(
      conds,
      (status.availableReplicas ?? 0) >= minAvailable
        ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.', lastUpdateTime: now, lastTransitionTime: now }
        : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.', lastUpdateTime: now, lastTransitionTime: now },
    );
    const complete = status.updatedReplicas === desired && status.replicas === desired && status.availableReplicas === desired && sum(specReplicas) === desired;
    const rsName = newRs?.metadata.name ?? '';
    const prevProgress = (prev.conditions ?? []).find((c) => c.type === 'Progressing');
    const deadline = d.spec?.progressDeadlineSeconds;
    const progressing = (reason: string, message: string): DeploymentCondition => ({ type: 'Progressing', status: 'True', reason, message, lastUpdateTime: now, lastTransitionTime: now });
    if (d.spec?.paused) {
      conds = setCondition(conds, { type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused', lastUpdateTime: now, lastTransitionTime: now });
    } else if (prevProgress?.reason === 'DeploymentPaused') {
      conds = setCondition(conds, { ...progressing('DeploymentResumed', 'Deployment is resumed'), status: 'Unknown' });
    } else if (complete) {
      conds = setCondition(conds, progressing('NewReplicaSetAvailable', `ReplicaSet "${rsName}" has successfully progressed.`));
    } else if (opts.created) {
      conds = setCondition(conds, progressing('NewReplicaSetCreated', `Created new replica set "${rsName}"`));
    } else if (
      (status.updatedReplicas ?? 0) > (prev.updatedReplicas ?? 0) ||
      (status.readyReplicas ?? 0) > (prev.readyReplicas ?? 0) ||
      (status.availableReplicas ?? 0) > (prev.availableReplicas ?? 0) ||
      (status.replicas ?? 0) < (prev.replicas ?? 0) ||
      !prevProgress ||
      prevProgress.reason === 'NewReplicaSetAvailable' ||
      prevProgress.reason === 'DeploymentResumed'
    ) {
      conds = setCondition(conds, progressing('ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`));
    } else if (deadline !== undefined && prevProgress.reason !== 'ProgressDeadlineExceeded') {
      const since = Date.parse(prevProgress.lastUpdateTime ?? '') || this.#clock.now();
      const left = since + deadline * 1000 - this.#clock.now();
      if (left <= 0) {
        conds = setCondition(conds, { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rsName}" has timed out progressing.`, lastUpdateTime: now, lastTransitionTime: now });
        void this.#events.record({ involved: d, type: 'Warning', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rsName}" has timed out progressing.` });
      } else {
        this.queue.addAfter(objectKey(d), left + 500);
      }
    }
    status.conditions = conds;
    // write only when something but the timestamps of unchanged conditions differs
    const strip = (s: DeploymentStatus): string => JSON.stringify({ ...s, conditions: (s.conditions ?? []).map((c) => ({ ...c, lastUpdateTime: undefined, lastTransitionTime: undefined })).sort((a, b) => a.type.localeCompare(b.type)) });
    if (strip(status) !== strip(prev)) {
      try {
        await this.cfg.client.patch(Resources.deployments, d.metadata.name ?? '', 'merge', { status }, { namespace: d.metadata.namespace, subresource: 'status', signal: opts.signal, ...FM });
      } catch (err) {
        if (!isHedgeError(err, 'NotFound')) throw err;
      }
    }
    if (!complete && deadline !== undefined && !d.spec?.paused) this.queue.addAfter(objectKey(d), Math.min(deadline * 1000, 30_000));
    return complete;
  }

  /** delete old, empty ReplicaSets beyond revisionHistoryLimit, oldest revision first */
  async #cleanup(d: DeploymentObject, old: RsObject[], signal: AbortSignal): Promise<void> {
    const limit = d.spec?.revisionHistoryLimit ?? 10;
    const empty = old.filter((rs) => specReplicas(rs) === 0 && (rs.status?.replicas ?? 0) === 0 && !rs.metadata.deletionTimestamp).sort((a, b) => revisionOf(a) - revisionOf(b));
    const extra = empty.length - limit;
    for (const rs of empty.slice(0, Math.max(0, extra))) {
      try {
        await this.cfg.client.delete(Resources.replicasets, rs.metadata.name ?? '', { namespace: rs.metadata.namespace, signal, propagationPolicy: 'Background' });
      } catch (err) {
        if (!isHedgeError(err, 'NotFound')) throw err;
      }
    }
  }
}
