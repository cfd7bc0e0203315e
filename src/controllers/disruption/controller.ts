/**
 * The disruption controller (upstream pkg/controller/disruption): keeps each
 * PodDisruptionBudget's status current — the pods its selector matches in its namespace, how
 * many are expected (the controllers' scale for percentages and maxUnavailable) and healthy,
 * how many may be disrupted now, the evictions still awaited (`disruptedPods`, dropped after 2
 * minutes) and the DisruptionAllowed condition. The eviction subresource spends the allowance.
 */
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { SYNC_FAILED, budgetSelects, setStatusCondition } from '../../api/policy/disruption-budget.ts';
import { systemClock, type Clock } from '../../client/clock.ts';
import type { SharedInformer } from '../../client/shared-informers.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { EventRecorder } from '../common/events.ts';
import type { PodObject } from '../common/types.ts';
import type { SharedInformers } from '../workloads/informers.ts';
import { controllerOf, objectKey, splitKey } from '../workloads/owners.ts';
import { WorkQueue } from '../workloads/queue.ts';
import { buildDisruptedPodMap, countHealthyPods, expectedPodCount, nextStatus, type PdbObject, type ScaleFinder } from './budget.ts';

export interface DisruptionControllerConfig {
  client: KubeClient;
  logger: Logger;
  informers: SharedInformers;
  clock?: Clock;
}

interface Scalable extends KubeObject {
  spec?: { replicas?: number };
}

const isApps = (ref: OwnerReference, kind: string): boolean => ref.kind === kind && ref.apiVersion.split('/')[0] === 'apps';

export class DisruptionController {
  readonly queue = new WorkQueue();
  readonly #pdbs: SharedInformer<PdbObject>;
  readonly #pods: SharedInformer<PodObject>;
  readonly #replicaSets: SharedInformer<Scalable>;
  readonly #deployments: SharedInformer<Scalable>;
  readonly #statefulSets: SharedInformer<Scalable>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;

  constructor(private readonly cfg: DisruptionControllerConfig) {
    this.#clock = cfg.clock ?? systemClock;
    this.#log = cfg.logger.child({ component: 'disruption-controller' });
    this.#events = new EventRecorder({ client: cfg.client, component: 'controllermanager', clock: this.#clock, logger: this.#log });
    this.#pdbs = cfg.informers.for<PdbObject>(Resources.poddisruptionbudgets);
    this.#pods = cfg.informers.for<PodObject>(Resources.pods);
    this.#replicaSets = cfg.informers.for<Scalable>(Resources.replicasets);
    this.#deployments = cfg.informers.for<Scalable>(Resources.deployments);
    this.#statefulSets = cfg.informers.for<Scalable>(Resources.statefulsets);
    const enqueue = (p: PdbObject): void => this.queue.add(objectKey(p));
    this.#pdbs.addHandlers({ onAdd: enqueue, onUpdate: (_o, p) => enqueue(p), onDelete: enqueue });
    const forPod = (pod: PodObject): void => {
      // upstream's getPdbsForPod: the budgets of the pod's namespace only
      for (const pdb of this.#pdbs.listNamespace(pod.metadata.namespace ?? '')) if (budgetSelects(pdb, pod)) enqueue(pdb);
    };
    this.#pods.addHandlers({
      onAdd: forPod,
      onUpdate: (old, pod) => {
        forPod(pod);
        // a relabelled pod leaves budgets it no longer matches
        if (JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(pod.metadata.labels ?? {})) forPod(old);
      },
      onDelete: forPod,
    });
    // a scale change moves expectedPods of percentage and maxUnavailable budgets in its namespace
    const rescaled = (old: Scalable, cur: Scalable): void => {
      if (old.spec?.replicas === cur.spec?.replicas) return;
      for (const pdb of this.#pdbs.listNamespace(cur.metadata.namespace ?? '')) enqueue(pdb);
    };
    for (const inf of [this.#replicaSets, this.#deployments, this.#statefulSets]) inf.addHandlers({ onUpdate: rescaled });
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.cfg.informers.waitForSync(signal);
    await this.queue.run(signal, (key) => this.sync(key, signal), { workers: 2, logger: this.#log });
  }

  /** upstream's finders over the informer caches: ReplicaSet (not a Deployment's), Deployment (via its ReplicaSet), StatefulSet */
  finders(): ScaleFinder[] {
    const owned = (inf: SharedInformer<Scalable>, ref: OwnerReference, ns: string): Scalable | undefined => {
      const o = inf.get(ref.name, ns);
      return o && o.metadata.uid === ref.uid ? o : undefined;
    };
    const scaleOf = (o: Scalable): { uid: string; scale: number } => ({ uid: o.metadata.uid ?? '', scale: o.spec?.replicas ?? 1 });
    return [
      (ref, ns) => {
        if (!isApps(ref, 'ReplicaSet')) return undefined;
        const rs = owned(this.#replicaSets, ref, ns);
        if (!rs || controllerOf(rs)?.kind === 'Deployment') return undefined;
        return scaleOf(rs);
      },
      (ref, ns) => {
        if (!isApps(ref, 'ReplicaSet')) return undefined;
        const rs = owned(this.#replicaSets, ref, ns);
        const dref = rs && controllerOf(rs);
        if (!dref || !isApps(dref, 'Deployment')) return undefined;
        const d = owned(this.#deployments, dref, ns);
        return d && scaleOf(d);
      },
      (ref, ns) => {
        if (!isApps(ref, 'StatefulSet')) return undefined;
        const ss = owned(this.#statefulSets, ref, ns);
        return ss && scaleOf(ss);
      },
    ];
  }

  async sync(key: string, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pdb = this.#pdbs.get(name, namespace);
    if (!pdb) return;
    try {
      await this.#trySync(pdb, signal);
    } catch (err) {
      // a conflict is retried as it is; anything else first closes the budget (fail safe)
      if (signal.aborted || isHedgeError(err, 'Conflict')) throw err;
      this.#log.warn({ err, pdb: key }, 'failed to sync PodDisruptionBudget');
      await this.#failSafe(pdb, err as Error, signal);
    }
  }

  async #trySync(pdb: PdbObject, signal: AbortSignal): Promise<void> {
    const pods = this.#pods.listNamespace(pdb.metadata.namespace ?? '').filter((p) => budgetSelects(pdb, p));
    if (pods.length === 0) this.#events.emit({ involved: pdb, type: 'Normal', reason: 'NoPods', message: 'No matching pods found' });
    let counts;
    try {
      counts = expectedPodCount(pdb, pods, this.finders());
    } catch (err) {
      this.#events.emit({ involved: pdb, type: 'Warning', reason: 'CalculateExpectedPodCountFailed', message: `Failed to calculate the number of expected pods: ${(err as Error).message}` });
      throw err;
    }
    if (counts.unmanaged.length > 0) {
      this.#events.emit({
        involved: pdb,
        type: 'Warning',
        reason: 'UnmanagedPods',
        message:
          'Pods selected by this PodDisruptionBudget were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set ".spec.minAvailable" field of the PDB to an integer value.',
      });
    }
    const now = this.#clock.now();
    const { disrupted, recheckAt, expired } = buildDisruptedPodMap(pods, pdb, now);
    for (const pod of expired) {
      this.#events.emit({ involved: pod, type: 'Warning', reason: 'NotDeleted', message: `Pod was expected by PDB ${pdb.metadata.namespace ?? ''}/${pdb.metadata.name ?? ''} to be deleted but it wasn't` });
    }
    const currentHealthy = countHealthyPods(pods, disrupted, now);
    const status = nextStatus(pdb, { currentHealthy, desiredHealthy: counts.desiredHealthy, expectedCount: counts.expectedCount, disrupted }, new Date(now));
    if (status) await this.cfg.client.updateStatus(Resources.poddisruptionbudgets, { ...pdb, status }, { signal });
    if (recheckAt !== undefined) this.queue.addAfter(objectKey(pdb), recheckAt - now);
  }

  /** failSafe: at least stop evictions (disruptionsAllowed 0, DisruptionAllowed False/SyncFailed) */
  async #failSafe(pdb: PdbObject, err: Error, signal: AbortSignal): Promise<void> {
    const st = structuredClone(pdb.status ?? { currentHealthy: 0, desiredHealthy: 0, expectedPods: 0, disruptionsAllowed: 0 });
    st.disruptionsAllowed = 0;
    st.conditions = setStatusCondition(
      st.conditions ?? [],
      { type: 'DisruptionAllowed', status: 'False', reason: SYNC_FAILED, message: err.message, observedGeneration: st.observedGeneration },
      new Date(this.#clock.now()),
    );
    await this.cfg.client.updateStatus(Resources.poddisruptionbudgets, { ...pdb, status: st }, { signal });
  }
}
