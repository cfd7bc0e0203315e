import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { KubeObject } from '../../api/object.ts';
import { systemClock, type Clock } from '../../client/clock.ts';
import { SharedInformerFactory, type SharedInformer } from '../../client/shared-informers.ts';
import { formatTime } from '../../client/micro-time.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { EventRecorder } from '../common/events.ts';
import type { NodeObject, PodObject } from '../common/types.ts';
import { AUTONOMY_ANNOTATION, parseAutonomy } from './autonomy.ts';
import { desiredConditions, desiredTaints, sameTaints } from './desired-node.ts';
import { evictionTime } from './eviction.ts';
import { newTracker, step, type HealthInput, type NodeTracker, type ReadyStatus } from './health.ts';
import { OFFLINE_HEARTBEATS_ANNOTATION } from '../../api/annotations/offline-heartbeats.ts';
import { linkedSignal } from '../../lib/signals.ts';

type LeaseObject = Lease & KubeObject;

export interface NodeLifecycleConfig {
  client: KubeClient;
  logger: Logger;
  clock?: Clock;
  /** the process's shared informers (default: a factory of its own) */
  informerFactory?: SharedInformerFactory;
  /** no lease/heartbeat renewal for this long → Unreachable (default 40 s, as upstream) */
  nodeMonitorGracePeriodMs?: number;
  /** how often health is re-evaluated without events (default: an eighth of the grace period, at most 5 s, as upstream's 5 s / 40 s) */
  nodeMonitorPeriodMs?: number;
  /** eviction delay for pods without a toleration of the NoExecute taint (default 300 s) */
  defaultTolerationSeconds?: number;
  /** pods bound to a node that does not exist are force-deleted after this long (default 40 s, podgc's quarantine) */
  orphanPodGracePeriodMs?: number;
  leaseNamespace?: string;
}

const COMPONENT = 'hedge-node-lifecycle';
const podKey = (p: PodObject): string => `${p.metadata.namespace}/${p.metadata.name}`;

/**
 * Watches node Leases, Nodes and Pods; drives one health state machine per node (health.ts)
 * and makes the cluster match it: Ready=Unknown, NoExecute taints, evictions on ordinary
 * nodes, none on autonomous ones, the EdgeAutonomy verdict condition, orphan pod GC.
 */
export class NodeLifecycleController {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly grace: number;
  private readonly period: number;
  private readonly defaultTolerationSeconds: number;
  private readonly orphanGrace: number;
  private readonly trackers = new Map<string, NodeTracker>();
  private readonly dirty = new Set<string>();
  /** nodes whose health is not Healthy: the only ones eviction looks at */
  private readonly unhealthy = new Set<string>();
  /** pods or nodes changed, or a tick passed, since orphans were last looked for */
  private orphanCheck = true;
  /** node name → keys of pods bound to it */
  private readonly podsByNode = new Map<string, Set<string>>();
  private readonly orphanSince = new Map<string, number>();
  private readonly markedNotReady = new Set<string>();
  private readonly events: EventRecorder;
  private wake: (() => void) | undefined;
  private synced = false;
  readonly nodes: SharedInformer<NodeObject>;
  readonly leases: SharedInformer<LeaseObject>;
  readonly pods: SharedInformer<PodObject>;
  readonly stats = { evicted: 0, orphansDeleted: 0, nodePatches: 0 };

  constructor(private readonly cfg: NodeLifecycleConfig) {
    this.clock = cfg.clock ?? systemClock;
    this.log = cfg.logger.child({ component: COMPONENT });
    this.grace = cfg.nodeMonitorGracePeriodMs ?? 40_000;
    // a short grace period (tests, aggressive edge setups) needs a finer tick, or detection lags by up to a period
    this.period = cfg.nodeMonitorPeriodMs ?? Math.min(5_000, Math.max(100, Math.floor(this.grace / 8)));
    this.defaultTolerationSeconds = cfg.defaultTolerationSeconds ?? 300;
    this.orphanGrace = cfg.orphanPodGracePeriodMs ?? 40_000;
    this.events = new EventRecorder({ client: cfg.client, component: COMPONENT, clock: this.clock, logger: this.log });
    const factory = cfg.informerFactory ?? new SharedInformerFactory({ client: cfg.client, logger: this.log, clock: this.clock });
    this.nodes = factory.informer<NodeObject>({
      resource: Resources.nodes,
      onAdd: (n) => this.observeNode(n),
      onUpdate: (_, n) => this.observeNode(n),
      onDelete: (n) => this.nodeDeleted(n),
    });
    this.leases = factory.informer<LeaseObject>({
      resource: Resources.leases,
      namespace: cfg.leaseNamespace ?? 'kube-node-lease',
      onAdd: (l) => this.observeLease(l),
      onUpdate: (_, l) => this.observeLease(l),
    });
    this.pods = factory.informer<PodObject>({
      resource: Resources.pods,
      onAdd: (p) => this.indexPod(p, undefined),
      onUpdate: (o, p) => this.indexPod(p, o),
      onDelete: (p) => this.unindexPod(p),
    });
  }

  /** the health state of a node (for tests and diagnostics) */
  tracker(name: string): NodeTracker | undefined {
    return this.trackers.get(name);
  }

  async run(signal: AbortSignal): Promise<void> {
    const informers = [this.nodes, this.leases, this.pods].map((i) => i.run(signal));
    try {
      await Promise.all([this.nodes, this.leases, this.pods].map((i) => i.waitForSync(signal)));
      this.synced = true;
      this.log.info({ nodes: this.trackers.size }, 'node lifecycle controller synced');
      let nextTick = this.clock.now() + this.period;
      while (!signal.aborted) {
        if (this.clock.now() >= nextTick) {
          this.tickAll();
          nextTick = this.clock.now() + this.period;
        }
        await this.reconcileDirty(signal);
        await this.evict(signal);
        if (this.orphanCheck) await this.collectOrphans(signal);
        await this.idle(nextTick, signal);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      await Promise.all(informers);
    }
  }

  private async idle(until: number, signal: AbortSignal): Promise<void> {
    if (this.dirty.size > 0) return;
    const ac = new AbortController();
    // ac.abort() below also unhooks `both` from the long-lived signal
    const both = linkedSignal([signal, ac.signal]);
    await Promise.race([
      new Promise<void>((resolve) => (this.wake = resolve)),
      this.clock.sleep(Math.max(0, until - this.clock.now()), both).catch(() => undefined),
    ]);
    ac.abort();
    this.wake = undefined;
  }

  private apply(name: string, input: HealthInput): void {
    const prev = this.trackers.get(name) ?? newTracker(input.at);
    const next = step(prev, input, { gracePeriodMs: this.grace });
    this.trackers.set(name, next);
    if (next.health.kind === 'Healthy') this.unhealthy.delete(name);
    else this.unhealthy.add(name);
    // A lease renewal that leaves the verdict as it was has nothing to write (10,000 nodes renew
    // 1,000 leases/s); the periodic tick reconciles every node anyway.
    if (input.type === 'Lease' && sameVerdict(prev, next)) return;
    if (prev.health.kind !== next.health.kind) {
      this.log.info({ node: name, from: prev.health.kind, to: next.health.kind, verdict: next.lastPartition?.verdict }, 'node health changed');
      if (next.health.kind !== 'Unreachable') this.clearNotReadyMarks(name);
    }
    this.dirty.add(name);
    this.wake?.();
  }

  private observeNode(n: NodeObject): void {
    const name = n.metadata.name ?? '';
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
    const annotations = n.metadata.annotations ?? {};
    const autonomy = parseAutonomy(annotations[AUTONOMY_ANNOTATION]);
    if (autonomy.invalid) this.log.warn({ node: name, value: annotations[AUTONOMY_ANNOTATION] }, 'unparseable autonomy annotation; treating the node as autonomous');
    this.apply(name, {
      type: 'Node',
      at: this.clock.now(),
      ready: ready?.status as ReadyStatus,
      heartbeat: ready?.lastHeartbeatTime,
      autonomy,
      offlineHeartbeats: annotations[OFFLINE_HEARTBEATS_ANNOTATION],
    });
  }

  private observeLease(l: LeaseObject): void {
    const name = l.metadata.name ?? '';
    // A lease for a node we have not seen yet still counts: the Node may arrive later.
    this.apply(name, { type: 'Lease', at: this.clock.now(), renewTime: l.spec?.renewTime });
  }

  private nodeDeleted(n: NodeObject): void {
    const name = n.metadata.name ?? '';
    this.trackers.delete(name);
    this.dirty.delete(name);
    this.unhealthy.delete(name);
    this.orphanCheck = true;
    this.clearNotReadyMarks(name);
    // The node is gone for good: its pods are garbage now, no quarantine.
    for (const key of this.podsByNode.get(name) ?? []) this.orphanSince.set(key, -Infinity);
    this.wake?.();
  }

  private tickAll(): void {
    const now = this.clock.now();
    this.orphanCheck = true;
    for (const name of this.trackers.keys()) this.apply(name, { type: 'Tick', at: now });
  }

  private indexPod(p: PodObject, old: PodObject | undefined): void {
    const key = podKey(p);
    const prevNode = old?.spec?.nodeName;
    const node = p.spec?.nodeName;
    if (node !== prevNode) this.orphanCheck = true;
    if (prevNode && prevNode !== node) this.podsByNode.get(prevNode)?.delete(key);
    if (!node) return;
    let set = this.podsByNode.get(node);
    if (!set) {
      set = new Set();
      this.podsByNode.set(node, set);
    }
    set.add(key);
  }

  private unindexPod(p: PodObject): void {
    const key = podKey(p);
    if (p.spec?.nodeName) this.podsByNode.get(p.spec.nodeName)?.delete(key);
    this.orphanSince.delete(key);
    this.markedNotReady.delete(key);
    this.events.forget(p.metadata.uid);
  }

  private clearNotReadyMarks(node: string): void {
    for (const key of this.podsByNode.get(node) ?? []) this.markedNotReady.delete(key);
  }

  private podsOn(node: string): PodObject[] {
    const out: PodObject[] = [];
    for (const key of this.podsByNode.get(node) ?? []) {
      const [ns, name] = key.split('/');
      const p = this.pods.get(name, ns);
      if (p) out.push(p);
    }
    return out;
  }

  private async reconcileDirty(signal: AbortSignal): Promise<void> {
    if (!this.synced) return;
    const names = [...this.dirty];
    this.dirty.clear();
    for (const name of names) {
      if (signal.aborted) return;
      const t = this.trackers.get(name);
      const node = this.nodes.get(name);
      if (!t || !node) continue;
      try {
        await this.reconcileNode(node, t, signal);
      } catch (err) {
        if (signal.aborted) return;
        // Conflict: the node changed under us; its update event marks it dirty again.
        if (!isHedgeError(err, 'Conflict') && !isHedgeError(err, 'NotFound')) {
          this.log.warn({ err, node: name }, 'node reconcile failed');
        }
      }
    }
  }

  private async reconcileNode(node: NodeObject, t: NodeTracker, signal: AbortSignal): Promise<void> {
    const now = this.clock.now();
    const name = node.metadata.name ?? '';
    const conds = desiredConditions(node, t, now);
    if (conds.length) {
      this.stats.nodePatches++;
      await this.cfg.client.patch(Resources.nodes, name, 'strategic', { status: { conditions: conds } }, { subresource: 'status', signal });
    }
    const taints = desiredTaints(node, t, now);
    if (!sameTaints(taints, node.spec?.taints)) {
      this.stats.nodePatches++;
      // resourceVersion makes this a compare-and-swap: taints others add meanwhile are not lost.
      await this.cfg.client.patch(
        Resources.nodes,
        name,
        'merge',
        { metadata: { resourceVersion: node.metadata.resourceVersion }, spec: { taints: taints.length ? taints : null } },
        { signal },
      );
    }
    if (t.health.kind === 'Unreachable' && t.health.ordinarySince !== undefined) await this.markPodsNotReady(name, signal);
  }

  /** As upstream: pods on an unreachable ordinary node stop being Ready (endpoints drop them). Autonomous nodes keep theirs. */
  private async markPodsNotReady(node: string, signal: AbortSignal): Promise<void> {
    for (const p of this.podsOn(node)) {
      const key = podKey(p);
      if (this.markedNotReady.has(key)) continue;
      const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
      this.markedNotReady.add(key);
      if (!ready || ready.status === 'False') continue;
      try {
        await this.cfg.client.patch(
          Resources.pods,
          p.metadata.name ?? '',
          'strategic',
          { status: { conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: formatTime(this.clock.now()) }] } },
          { namespace: p.metadata.namespace, subresource: 'status', signal },
        );
      } catch (err) {
        if (!signal.aborted && !isHedgeError(err, 'NotFound')) this.log.warn({ err, pod: key }, 'could not mark pod not ready');
      }
    }
  }

  private async evict(signal: AbortSignal): Promise<void> {
    if (!this.synced) return;
    const now = this.clock.now();
    const cfg = { defaultTolerationSeconds: this.defaultTolerationSeconds };
    for (const name of [...this.unhealthy]) {
      const t = this.trackers.get(name);
      if (!t || t.health.kind === 'Healthy') continue;
      for (const p of this.podsOn(name)) {
        const at = evictionTime(p, t.health, cfg);
        if (at === undefined || at > now || signal.aborted) continue;
        try {
          await this.cfg.client.delete(Resources.pods, p.metadata.name ?? '', {
            namespace: p.metadata.namespace,
            preconditions: { uid: p.metadata.uid },
            signal,
          });
          this.stats.evicted++;
          this.log.info({ pod: podKey(p), node: name, health: t.health.kind }, 'evicted pod');
          await this.events.record({ involved: { ...p, apiVersion: 'v1', kind: 'Pod' }, type: 'Normal', reason: 'TaintManagerEviction', message: `Marking for deletion Pod ${podKey(p)}` }, signal);
        } catch (err) {
          if (!signal.aborted && !isHedgeError(err, 'NotFound') && !isHedgeError(err, 'Conflict')) {
            this.log.warn({ err, pod: podKey(p) }, 'eviction failed');
          }
        }
      }
    }
  }

  private async collectOrphans(signal: AbortSignal): Promise<void> {
    if (!this.synced) return;
    this.orphanCheck = false;
    const now = this.clock.now();
    for (const [node, keys] of this.podsByNode) {
      if (this.nodes.get(node)) {
        for (const k of keys) this.orphanSince.delete(k);
        continue;
      }
      for (const key of [...keys]) {
        const since = this.orphanSince.get(key) ?? now;
        this.orphanSince.set(key, since);
        if (now - since < this.orphanGrace || signal.aborted) continue;
        const [ns, name] = key.split('/');
        const p = this.pods.get(name, ns);
        try {
          await this.cfg.client.delete(Resources.pods, name, { namespace: ns, gracePeriodSeconds: 0, preconditions: p ? { uid: p.metadata.uid } : undefined, signal });
          this.stats.orphansDeleted++;
          this.log.info({ pod: key, node }, 'deleted pod bound to a node that no longer exists');
        } catch (err) {
          if (!signal.aborted && !isHedgeError(err, 'NotFound')) this.log.warn({ err, pod: key }, 'orphan pod delete failed');
        }
        this.orphanSince.delete(key);
      }
    }
  }
}

/** the same health verdict and partition record (what reconciling a node writes from) */
function sameVerdict(a: NodeTracker, b: NodeTracker): boolean {
  return (a.health === b.health || JSON.stringify(a.health) === JSON.stringify(b.health)) &&
    (a.lastPartition === b.lastPartition || JSON.stringify(a.lastPartition) === JSON.stringify(b.lastPartition));
}
