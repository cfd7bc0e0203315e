import type { ControllerRevision, DaemonSet, DaemonSetStatus } from 'kubernetes-types/apps/v1.js';
import type { Taint, Toleration } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { systemClock, type Clock } from '../../client/clock.ts';
import type { SharedInformer } from '../../client/shared-informers.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { EventRecorder } from '../common/events.ts';
import { findToleration } from '../common/tolerations.ts';
import type { NodeObject, PodObject } from '../common/types.ts';
import { matchTerm } from '../scheduler/filters/node-affinity.ts';
import { scaledValue } from './deployment-util.ts';
import type { SharedInformers } from './informers.ts';
import { controllerOf, controllerRef, objectKey, splitKey, templateHash } from './owners.ts';
import { isActive, isAvailable, isReady, podFromTemplate } from './pods.ts';
import { WorkQueue } from './queue.ts';

export type DaemonSetObject = DaemonSet & KubeObject;
type RevisionObject = ControllerRevision & KubeObject;

export const REVISION_HASH_LABEL = 'controller-revision-hash';

export interface DaemonSetControllerConfig {
  client: KubeClient;
  logger: Logger;
  informers: SharedInformers;
  clock?: Clock;
}

/** the tolerations every daemon pod gets (upstream AddOrUpdateDaemonPodTolerations) */
export function daemonTolerations(hostNetwork: boolean): Toleration[] {
  const t: Toleration[] = [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
  ];
  if (hostNetwork) t.push({ key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' });
  return t;
}

/**
 * Should a daemon pod run on this node (NodeShouldRunDaemonPod)? nodeSelector, required node
 * affinity, and NoSchedule/NoExecute taints against the pod's plus the daemon tolerations.
 * Node health is not a criterion: the unreachable and not-ready taints are tolerated forever,
 * so an edge node that loses the cloud (autonomous or not) keeps its daemon pods.
 */
export function shouldRunOn(ds: DaemonSetObject, node: NodeObject): boolean {
  const spec = ds.spec?.template?.spec;
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(spec?.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const required = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required && !required.nodeSelectorTerms.some((t) => matchTerm(t, node))) return false;
  const tolerations = [...(spec?.tolerations ?? []), ...daemonTolerations(spec?.hostNetwork === true)];
  const blocking = (node.spec?.taints ?? []).filter((t: Taint) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  return blocking.every((t) => findToleration(tolerations, t) !== undefined);
}

/** the node a daemon pod is for: bound, or pinned by the node-name affinity we set */
export function targetNode(p: PodObject): string | undefined {
  if (p.spec?.nodeName) return p.spec.nodeName;
  for (const term of p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) {
    const f = (term.matchFields ?? []).find((x) => x.key === 'metadata.name' && x.operator === 'In');
    if (f?.values?.length === 1) return f.values[0];
  }
  return undefined;
}

/**
 * The DaemonSet controller: one pod per eligible node, placed by the scheduler through a
 * node-name affinity (as upstream since 1.12); RollingUpdate replaces old-revision pods at most
 * maxUnavailable at a time; ControllerRevisions record each template for `kubectl rollout`.
 */
export class DaemonSetController {
  readonly queue = new WorkQueue();
  readonly #dss: SharedInformer<DaemonSetObject>;
  readonly #pods: SharedInformer<PodObject>;
  readonly #nodes: SharedInformer<NodeObject>;
  readonly #revs: SharedInformer<RevisionObject>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #byUid = new Map<string, string>();
  /** creates in flight per DaemonSet and node, until the informer shows the pod */
  readonly #pending = new Map<string, number>();

  constructor(private readonly cfg: DaemonSetControllerConfig) {
    this.#clock = cfg.clock ?? systemClock;
    this.#log = cfg.logger.child({ component: 'daemonset-controller' });
    this.#events = new EventRecorder({ client: cfg.client, component: 'daemonset-controller', clock: this.#clock, logger: this.#log });
    this.#dss = cfg.informers.for<DaemonSetObject>(Resources.daemonsets);
    this.#pods = cfg.informers.for<PodObject>(Resources.pods);
    this.#nodes = cfg.informers.for<NodeObject>(Resources.nodes);
    this.#revs = cfg.informers.for<RevisionObject>(Resources.controllerrevisions);
    const onDs = (d: DaemonSetObject): void => {
      this.#byUid.set(d.metadata.uid ?? '', objectKey(d));
      this.queue.add(objectKey(d));
    };
    this.#dss.addHandlers({ onAdd: onDs, onUpdate: (_, d) => onDs(d), onDelete: (d) => this.#byUid.delete(d.metadata.uid ?? '') });
    const onPod = (p: PodObject): void => {
      const ref = controllerOf(p);
      const k = ref?.kind === 'DaemonSet' ? this.#byUid.get(ref.uid) : undefined;
      if (!k) return;
      const node = targetNode(p);
      if (node) this.#pending.delete(`${k}|${node}`);
      this.queue.add(k);
    };
    this.#pods.addHandlers({ onAdd: onPod, onUpdate: (_, p) => onPod(p), onDelete: onPod });
    const all = (): void => {
      for (const d of this.#dss.list()) this.queue.add(objectKey(d));
    };
    this.#nodes.addHandlers({
      onAdd: all,
      onDelete: all,
      onUpdate: (o, n) => {
        if (JSON.stringify([o.metadata.labels, o.spec?.taints]) !== JSON.stringify([n.metadata.labels, n.spec?.taints])) all();
      },
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.cfg.informers.waitForSync(signal);
    await this.queue.run(signal, (key) => this.sync(key, signal), { workers: 2, logger: this.#log });
  }

  async #ensureRevision(ds: DaemonSetObject, hash: string, signal: AbortSignal): Promise<void> {
    const owned = this.#revs.list().filter((r) => r.metadata.namespace === ds.metadata.namespace && controllerOf(r)?.uid === ds.metadata.uid);
    const max = owned.reduce((m, r) => Math.max(m, r.revision), 0);
    const mine = owned.find((r) => r.metadata.labels?.[REVISION_HASH_LABEL] === hash);
    const { client } = this.cfg;
    if (mine) {
      if (mine.revision < max) {
        await client.patch(Resources.controllerrevisions, mine.metadata.name ?? '', 'merge', { revision: max + 1 }, { namespace: ds.metadata.namespace, signal });
      }
    } else {
      const rev: RevisionObject = {
        apiVersion: 'apps/v1',
        kind: 'ControllerRevision',
        metadata: {
          name: `${ds.metadata.name}-${hash}`,
          namespace: ds.metadata.namespace,
          labels: { ...ds.spec?.template?.metadata?.labels, [REVISION_HASH_LABEL]: hash },
          ownerReferences: [controllerRef(ds, Resources.daemonsets)],
        },
        data: { spec: { template: { ...structuredClone(ds.spec?.template), $patch: 'replace' } } },
        revision: max + 1,
      };
      try {
        await client.create(Resources.controllerrevisions, rev, { signal, fieldManager: 'daemonset-controller' });
      } catch (err) {
        if (!isHedgeError(err, 'AlreadyExists')) throw err;
      }
    }
    // history: the oldest revisions no pod uses beyond revisionHistoryLimit
    const limit = ds.spec?.revisionHistoryLimit ?? 10;
    const inUse = new Set(this.#pods.list().filter((p) => controllerOf(p)?.uid === ds.metadata.uid).map((p) => p.metadata.labels?.[REVISION_HASH_LABEL]));
    inUse.add(hash);
    const spare = owned.filter((r) => !inUse.has(r.metadata.labels?.[REVISION_HASH_LABEL])).sort((a, b) => a.revision - b.revision);
    for (const r of spare.slice(0, Math.max(0, spare.length - limit))) {
      await client.delete(Resources.controllerrevisions, r.metadata.name ?? '', { namespace: r.metadata.namespace, signal }).catch((err: unknown) => {
        if (!isHedgeError(err, 'NotFound')) throw err;
      });
    }
  }

  async sync(key: string, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    const ds = this.#dss.get(name, namespace);
    if (!ds || ds.metadata.deletionTimestamp) return;
    const { client } = this.cfg;
    const now = this.#clock.now();
    const hash = templateHash(ds.spec?.template);
    await this.#ensureRevision(ds, hash, signal);
    const pods = this.#pods.list().filter((p) => p.metadata.namespace === namespace && controllerOf(p)?.uid === ds.metadata.uid);
    const byNode = new Map<string, PodObject[]>();
    for (const p of pods) {
      const n = targetNode(p);
      if (!n) continue;
      const list = byNode.get(n) ?? [];
      list.push(p);
      byNode.set(n, list);
    }
    const minReady = ds.spec?.minReadySeconds ?? 0;
    const toCreate: string[] = [];
    const toDelete: PodObject[] = [];
    const status: Required<Pick<DaemonSetStatus, 'currentNumberScheduled' | 'desiredNumberScheduled' | 'numberMisscheduled' | 'numberReady'>> & DaemonSetStatus = {
      currentNumberScheduled: 0,
      desiredNumberScheduled: 0,
      numberMisscheduled: 0,
      numberReady: 0,
      updatedNumberScheduled: 0,
      numberAvailable: 0,
      numberUnavailable: 0,
      observedGeneration: ds.metadata.generation ?? 0,
    };
    const oldOnNodes: PodObject[] = [];
    let unavailable = 0;
    for (const node of this.#nodes.list()) {
      const nodeName = node.metadata.name ?? '';
      const here = (byNode.get(nodeName) ?? []).filter((p) => !p.metadata.deletionTimestamp);
      const live = here.filter(isActive);
      const failed = here.filter((p) => p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded');
      toDelete.push(...failed);
      if (!shouldRunOn(ds, node)) {
        if (here.length > 0) status.numberMisscheduled++;
        toDelete.push(...live);
        continue;
      }
      status.desiredNumberScheduled++;
      if (live.length === 0) {
        unavailable++;
        if (!this.#pending.has(`${key}|${nodeName}`) && (byNode.get(nodeName) ?? []).every((p) => !p.metadata.deletionTimestamp || p.status?.phase === 'Failed')) toCreate.push(nodeName);
        continue;
      }
      status.currentNumberScheduled++;
      // keep the newest-revision pod, prefer the oldest among equals
      const sorted = [...live].sort((a, b) => Number(b.metadata.labels?.[REVISION_HASH_LABEL] === hash) - Number(a.metadata.labels?.[REVISION_HASH_LABEL] === hash) || (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
      const keep = sorted[0];
      toDelete.push(...sorted.slice(1));
      if (isReady(keep)) status.numberReady++;
      const available = isAvailable(keep, minReady, now);
      if (available) status.numberAvailable = (status.numberAvailable ?? 0) + 1;
      else unavailable++;
      if (keep.metadata.labels?.[REVISION_HASH_LABEL] === hash) status.updatedNumberScheduled = (status.updatedNumberScheduled ?? 0) + 1;
      else oldOnNodes.push(keep);
    }
    status.numberUnavailable = unavailable;
    // rolling update: old pods go (unavailable ones first), at most maxUnavailable missing at once
    if ((ds.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate' && oldOnNodes.length > 0) {
      const maxUnavailable = Math.max(1, scaledValue(ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1, status.desiredNumberScheduled, false));
      const oldUnavailable = oldOnNodes.filter((p) => !isAvailable(p, minReady, now));
      const oldAvailable = oldOnNodes.filter((p) => isAvailable(p, minReady, now));
      toDelete.push(...oldUnavailable);
      const budget = maxUnavailable - unavailable;
      toDelete.push(...oldAvailable.slice(0, Math.max(0, budget)));
    }
    const owner = controllerRef(ds, Resources.daemonsets);
    const hostNetwork = ds.spec?.template?.spec?.hostNetwork === true;
    await Promise.all([
      ...toCreate.map(async (nodeName) => {
        const pod = podFromTemplate(ds.spec?.template, {
          namespace,
          owner,
          generateName: `${name}-`,
          extraLabels: { [REVISION_HASH_LABEL]: hash, 'pod-template-generation': String(ds.metadata.generation ?? 1) },
        });
        const spec = pod.spec ?? { containers: [] };
        spec.affinity = {
          ...spec.affinity,
          nodeAffinity: {
            ...spec.affinity?.nodeAffinity,
            requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }] },
          },
        };
        const tols = [...(spec.tolerations ?? [])];
        for (const t of daemonTolerations(hostNetwork)) if (!tols.some((x) => x.key === t.key && x.effect === t.effect)) tols.push(t);
        spec.tolerations = tols;
        pod.spec = spec;
        this.#pending.set(`${key}|${nodeName}`, now);
        try {
          await client.create(Resources.pods, pod, { signal, fieldManager: 'daemonset-controller' });
        } catch (err) {
          this.#pending.delete(`${key}|${nodeName}`);
          void this.#events.record({ involved: ds, type: 'Warning', reason: 'FailedCreate', message: `Error creating: ${(err as Error).message}` });
          throw err;
        }
        void this.#events.record({ involved: ds, type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod on node ${nodeName}` });
      }),
      ...[...new Set(toDelete)].map(async (p) => {
        await client.delete(Resources.pods, p.metadata.name ?? '', { namespace, signal }).catch((err: unknown) => {
          if (!isHedgeError(err, 'NotFound')) throw err;
        });
      }),
    ]);
    if (minReady > 0 && status.numberAvailable !== status.numberReady) this.queue.addAfter(key, minReady * 1000 + 100);
    const cur = ds.status;
    const same = cur && (Object.keys(status) as (keyof DaemonSetStatus)[]).every((k) => (cur[k] ?? 0) === (status[k] ?? 0));
    if (!same) {
      await client.patch(Resources.daemonsets, name, 'merge', { status }, { namespace, subresource: 'status', signal, fieldManager: 'daemonset-controller' }).catch((err: unknown) => {
        if (!isHedgeError(err, 'NotFound')) throw err;
      });
    }
  }
}
