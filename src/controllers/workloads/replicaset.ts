import type { ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { matches, selectorFromLabelSelector } from '../../api/labels/selector.ts';
import type { Clock } from '../../client/clock.ts';
import { systemClock } from '../../client/clock.ts';
import type { SharedInformer } from '../../client/shared-informers.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { EventRecorder } from '../common/events.ts';
import type { PodObject } from '../common/types.ts';
import type { SharedInformers } from './informers.ts';
import { controllerOf, controllerRef, objectKey, splitKey } from './owners.ts';
import { deletionOrder, isActive, isAvailable, isReady, podFromTemplate } from './pods.ts';
import { WorkQueue } from './queue.ts';

export type ReplicaSetObject = ReplicaSet & KubeObject;

export interface ReplicaSetControllerConfig {
  client: KubeClient;
  logger: Logger;
  informers: SharedInformers;
  clock?: Clock;
  /** pods created or deleted per sync at most (upstream burstReplicas, 500) */
  burst?: number;
  workers?: number;
}

/** creates/deletes still to be seen by the informer, per owner (upstream ControllerExpectations) */
export class Expectations {
  readonly #m = new Map<string, { adds: number; dels: Set<string>; at: number }>();
  constructor(private readonly clock: Clock, private readonly ttlMs = 60_000) {}
  expect(key: string, adds: number, dels: string[]): void {
    this.#m.set(key, { adds, dels: new Set(dels), at: this.clock.now() });
  }
  observedAdd(key: string): void {
    const e = this.#m.get(key);
    if (e) e.adds--;
  }
  observedDelete(key: string, podName: string): void {
    this.#m.get(key)?.dels.delete(podName);
  }
  lowerAdds(key: string, n: number): void {
    const e = this.#m.get(key);
    if (e) e.adds -= n;
  }
  satisfied(key: string): boolean {
    const e = this.#m.get(key);
    if (!e) return true;
    if ((e.adds <= 0 && e.dels.size === 0) || this.clock.now() - e.at > this.ttlMs) {
      this.#m.delete(key);
      return true;
    }
    return false;
  }
  forget(key: string): void {
    this.#m.delete(key);
  }
}

/** batches of 1, 2, 4, ... (upstream slowStartBatch): a failing template costs one pod, not hundreds */
export async function slowStart(count: number, fn: () => Promise<void>): Promise<{ done: number; err?: unknown }> {
  let done = 0;
  let batch = 1;
  while (done < count) {
    const n = Math.min(batch, count - done);
    const results = await Promise.allSettled(Array.from({ length: n }, fn));
    const failed = results.find((r) => r.status === 'rejected');
    done += results.filter((r) => r.status === 'fulfilled').length;
    if (failed) return { done, err: (failed as PromiseRejectedResult).reason };
    batch *= 2;
  }
  return { done };
}

/**
 * The ReplicaSet controller: keeps spec.replicas active pods per ReplicaSet and reports
 * replicas / ready / available in status. Pods are found through the shared pod informer by
 * controllerRef; expectations keep a sync from acting on a cache that lags its own writes.
 */
export class ReplicaSetController {
  readonly queue = new WorkQueue();
  readonly #rs: SharedInformer<ReplicaSetObject>;
  readonly #pods: SharedInformer<PodObject>;
  readonly #exp: Expectations;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  /** rs uid → key, to map a pod's controllerRef to its ReplicaSet */
  readonly #byUid = new Map<string, string>();
  readonly stats = { created: 0, deleted: 0 };

  constructor(private readonly cfg: ReplicaSetControllerConfig) {
    this.#clock = cfg.clock ?? systemClock;
    this.#log = cfg.logger.child({ component: 'replicaset-controller' });
    this.#exp = new Expectations(this.#clock);
    this.#events = new EventRecorder({ client: cfg.client, component: 'replicaset-controller', clock: this.#clock, logger: this.#log });
    this.#rs = cfg.informers.for<ReplicaSetObject>(Resources.replicasets);
    this.#pods = cfg.informers.for<PodObject>(Resources.pods);
    this.#rs.addHandlers({
      onAdd: (rs) => this.#onRs(rs),
      onUpdate: (_, rs) => this.#onRs(rs),
      onDelete: (rs) => {
        this.#byUid.delete(rs.metadata.uid ?? '');
        this.#exp.forget(objectKey(rs));
      },
    });
    this.#pods.addHandlers({
      onAdd: (p) => {
        const key = this.#ownerKey(p);
        if (!key) return;
        this.#exp.observedAdd(key);
        this.queue.add(key);
      },
      onUpdate: (o, p) => {
        const key = this.#ownerKey(p);
        if (key) this.queue.add(key);
        const oldKey = this.#ownerKey(o);
        if (oldKey && oldKey !== key) this.queue.add(oldKey);
        // a pod that becomes ready counts as available only after minReadySeconds
        if (key && !isReady(o) && isReady(p)) {
          const rs = this.#rs.get(splitKey(key).name, splitKey(key).namespace);
          const min = rs?.spec?.minReadySeconds ?? 0;
          if (min > 0) this.queue.addAfter(key, min * 1000 + 100);
        }
      },
      onDelete: (p) => {
        const key = this.#ownerKey(p);
        if (!key) return;
        this.#exp.observedDelete(key, p.metadata.name ?? '');
        this.queue.add(key);
      },
    });
  }

  #onRs(rs: ReplicaSetObject): void {
    const key = objectKey(rs);
    this.#byUid.set(rs.metadata.uid ?? '', key);
    this.queue.add(key);
  }

  #ownerKey(p: PodObject): string | undefined {
    const ref = controllerOf(p);
    if (!ref || ref.kind !== 'ReplicaSet') return undefined;
    return this.#byUid.get(ref.uid);
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.cfg.informers.waitForSync(signal);
    await this.queue.run(signal, (key) => this.sync(key, signal), { workers: this.cfg.workers ?? 4, logger: this.#log });
  }

  /** the pods this ReplicaSet controls, from the cache */
  ownedPods(rs: ReplicaSetObject): PodObject[] {
    const uid = rs.metadata.uid;
    return this.#pods.list().filter((p) => p.metadata.namespace === rs.metadata.namespace && controllerOf(p)?.uid === uid);
  }

  async sync(key: string, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    const rs = this.#rs.get(name, namespace);
    if (!rs) return;
    const now = this.#clock.now();
    let selector;
    try {
      selector = selectorFromLabelSelector(rs.spec?.selector);
    } catch {
      return;
    }
    const pods = this.ownedPods(rs).filter((p) => matches(selector, p.metadata.labels ?? {}));
    const active = pods.filter(isActive);
    const want = rs.metadata.deletionTimestamp ? active.length : (rs.spec?.replicas ?? 1);
    if (this.#exp.satisfied(key) && !rs.metadata.deletionTimestamp) await this.#manage(key, rs, active, want, signal);
    await this.#updateStatus(rs, active, now, signal);
  }

  async #manage(key: string, rs: ReplicaSetObject, active: PodObject[], want: number, signal: AbortSignal): Promise<void> {
    const diff = want - active.length;
    const burst = this.cfg.burst ?? 500;
    const { client } = this.cfg;
    if (diff > 0) {
      const n = Math.min(diff, burst);
      this.#exp.expect(key, n, []);
      const owner = controllerRef(rs, Resources.replicasets);
      const res = await slowStart(n, async () => {
        const pod = podFromTemplate(rs.spec?.template, { namespace: rs.metadata.namespace ?? '', owner, generateName: `${rs.metadata.name}-` });
        await client.create(Resources.pods, pod, { signal, fieldManager: 'replicaset-controller' });
        this.stats.created++;
      });
      if (res.err) {
        this.#exp.lowerAdds(key, n - res.done);
        void this.#events.record({ involved: rs, type: 'Warning', reason: 'FailedCreate', message: `Error creating: ${(res.err as Error).message}` });
        throw res.err;
      }
      if (n === 1 || res.done > 0) void this.#events.record({ involved: rs, type: 'Normal', reason: 'SuccessfulCreate', message: `Created ${res.done} pod(s)` });
    } else if (diff < 0) {
      const victims = [...active].sort(deletionOrder).slice(0, Math.min(-diff, burst));
      this.#exp.expect(key, 0, victims.map((p) => p.metadata.name ?? ''));
      await Promise.all(
        victims.map(async (p) => {
          try {
            await client.delete(Resources.pods, p.metadata.name ?? '', { namespace: p.metadata.namespace, signal });
            this.stats.deleted++;
          } catch (err) {
            if (!isHedgeError(err, 'NotFound')) throw err;
            this.#exp.observedDelete(key, p.metadata.name ?? '');
          }
        }),
      );
      void this.#events.record({ involved: rs, type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted ${victims.length} pod(s)` });
    }
  }

  async #updateStatus(rs: ReplicaSetObject, active: PodObject[], now: number, signal: AbortSignal): Promise<void> {
    const min = rs.spec?.minReadySeconds ?? 0;
    const labels = rs.spec?.template?.metadata?.labels ?? {};
    const status = {
      replicas: active.length,
      fullyLabeledReplicas: active.filter((p) => Object.entries(labels).every(([k, v]) => p.metadata.labels?.[k] === v)).length,
      readyReplicas: active.filter(isReady).length,
      availableReplicas: active.filter((p) => isAvailable(p, min, now)).length,
      observedGeneration: rs.metadata.generation ?? 0,
    };
    const cur: NonNullable<ReplicaSetObject['status']> = rs.status ?? { replicas: 0 };
    if (
      cur.replicas === status.replicas &&
      (cur.fullyLabeledReplicas ?? 0) === status.fullyLabeledReplicas &&
      (cur.readyReplicas ?? 0) === status.readyReplicas &&
      (cur.availableReplicas ?? 0) === status.availableReplicas &&
      cur.observedGeneration === status.observedGeneration
    ) {
      return;
    }
    try {
      await this.cfg.client.patch(Resources.replicasets, rs.metadata.name ?? '', 'merge', { status }, { namespace: rs.metadata.namespace, subresource: 'status', signal });
    } catch (err) {
      if (!isHedgeError(err, 'NotFound')) throw err;
    }
  }
}
