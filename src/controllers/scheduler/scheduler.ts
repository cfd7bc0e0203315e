import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { PodCondition } from 'kubernetes-types/core/v1.js';
import type { PodDisruptionBudget } from 'kubernetes-types/policy/v1.js';
import { HedgeError, isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { KubeObject } from '../../api/object.ts';
import { systemClock, type Clock } from '../../client/clock.ts';
import { SharedInformerFactory, type SharedInformer } from '../../client/shared-informers.ts';
import { formatTime } from '../../client/micro-time.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { EventRecorder } from '../common/events.ts';
import { BOUND_BY_CONTROLLER_ANNOTATION } from '../../api/storage/names.ts';
import { claimRefMatches } from '../volume/binder.ts';
import type { NodeObject, PodObject } from '../common/types.ts';
import {
  ANNOTATION_SELECTED_NODE,
  defaultFilters,
  podTopologySpread,
  runtimeHandler,
  volumeBinding,
  type CycleState,
  type Filter,
  type FilterContext,
  type PvcObject,
  type PvObject,
  type StorageClassObject,
} from './filters/index.ts';
import { ActionType, assignedPodUpdateActions, nodeUpdateActions, type ClusterEvent, type EventRegistration, type RuntimeClassObject } from './events.ts';
import { fitErrorMessage } from './fit-error.ts';
import { NodeInfo, podInfo, podKey, spreadKeyOf, type ClusterTotals, type PodInfo } from './node-info.ts';
import { SchedulingQueue, type QueueEntry } from './queue.ts';
import { bestNode, type ScoreContext } from './scores.ts';
import {
  disruptionBudget,
  findCandidates,
  NOT_ELIGIBLE_NEVER,
  NOT_ELIGIBLE_TERMINATING,
  pickOneNode,
  REASON_PREEMPTION_BY_SCHEDULER,
  resolvableByPreemption,
  terminatingByPreemption,
  type Candidate,
  type DisruptionBudget,
} from './preemption.ts';
import { linkedSignal } from '../../lib/signals.ts';

type PdbObject = PodDisruptionBudget & KubeObject;

/** a pod's nominated node, and whether we set it (kept until we clear it) or read it from the pod */
interface Nomination {
  node: string;
  pod: PodInfo;
  local: boolean;
}

export interface SchedulerConfig {
  client: KubeClient;
  logger: Logger;
  clock?: Clock;
  /** the process's shared informers (default: a factory of its own) */
  informerFactory?: SharedInformerFactory;
  /** pods whose spec.schedulerName is one of these (or empty) are ours */
  schedulerNames?: string[];
  /** reportingInstance of events */
  identity?: string;
  /** first retry delay of an unschedulable pod; doubles per attempt (default 1 s) */
  initialBackoffMs?: number;
  /** cap of the retry delay (default 10 s, as upstream's podMaxBackoffDuration) */
  maxBackoffMs?: number;
  /**
   * how long an unschedulable pod waits with no event that may help it before it is tried anyway
   * (default 5 min, upstream's podMaxInUnschedulablePodsDuration)
   */
  maxUnschedulableMs?: number;
  /**
   * binds in flight at once (default 16; with a client that batches binds, e.g. HttpKubeClient's
   * `bindBatchSize`, hundreds: each turn's binds then travel together)
   */
  bindConcurrency?: number;
  filters?: readonly Filter[];
}

export type ScheduleResult =
  | { kind: 'fit'; node: string; cycle: CycleState }
  /** plugins: the filters that rejected the pod on some node (upstream's UnschedulablePlugins) */
  | { kind: 'unschedulable'; message: string; reasons: Map<string, string[]>; plugins: ReadonlySet<string> };

const COMPONENT = 'hedge-scheduler';
/** pods placed between two turns of the event loop */
const YIELD_EVERY = 64;
/** FailedScheduling reports (event + PodScheduled=False) in flight before the loop waits for one */
const MAX_FAILURE_REPORTS = 64;

/** upstream's filter order: VolumeBinding right before PodTopologySpread */
function withVolumeBinding(filters: readonly Filter[], vb: Filter): Filter[] {
  const at = filters.indexOf(podTopologySpread);
  return at < 0 ? [...filters, vb] : [...filters.slice(0, at), vb, ...filters.slice(at)];
}

function isTerminal(pod: PodObject): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** the filters' registered events by filter name; a filter that registers none is moved by every event */
function registrationsOf(filters: readonly Filter[]): Map<string, readonly EventRegistration[]> {
  const out = new Map<string, readonly EventRegistration[]>();
  for (const f of filters) if (f.events) out.set(f.name, f.events);
  return out;
}

/** the object's labels are unchanged (namespace updates: only labels matter, to namespaceSelector terms) */
const sameLabels = (a: KubeObject, b: KubeObject): boolean => JSON.stringify(a.metadata.labels ?? null) === JSON.stringify(b.metadata.labels ?? null);

/**
 * The hedge scheduler: informers keep a per-node view (NodeInfo) up to date incrementally;
 * one loop pops pending pods, filters and scores nodes, assumes the pod onto the winner and
 * binds through pods/binding without waiting (bounded concurrency). See README.md.
 */
export class Scheduler {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly names: Set<string>;
  private readonly filters: readonly Filter[];
  private readonly queue: SchedulingQueue;
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly totals: ClusterTotals = { podsWithAffinity: 0, podsWithRequiredAntiAffinity: 0 };
  /** pod key → node it is accounted on (bound or assumed) */
  private readonly podNode = new Map<string, string>();
  /** pods we bound whose binding the informer has not shown yet */
  private readonly assumed = new Set<string>();
  /** PVs given to a claim (`ns/name`) by a PreBind whose claimRef the PV informer has not shown yet */
  private readonly assumedVolumes = new Map<string, string>();
  private readonly inflight = new Set<Promise<void>>();
  /** pod key → its FailedScheduling report in flight (the loop does not wait for it) */
  private readonly reports = new Map<string, Promise<void>>();
  /** resolves the loop's wait for a free bind slot */
  private bindSlot: (() => void) | undefined;
  private readonly events: EventRecorder;
  private wake: (() => void) | undefined;
  readonly pods: SharedInformer<PodObject>;
  readonly nodeInformer: SharedInformer<NodeObject>;
  readonly runtimeClasses: SharedInformer<RuntimeClassObject>;
  /** namespace labels, for the namespaceSelector of pod affinity terms */
  readonly namespaces: SharedInformer<KubeObject>;
  /** PodDisruptionBudgets: preemption prefers victims whose eviction violates none */
  readonly disruptionBudgets: SharedInformer<PdbObject>;
  /** the storage objects VolumeBinding reads */
  readonly claims: SharedInformer<PvcObject>;
  readonly volumes: SharedInformer<PvObject>;
  readonly storageClasses: SharedInformer<StorageClassObject>;
  /** pending pods nominated to a node by preemption: pod key → nomination (upstream's nominator) */
  private readonly nominations = new Map<string, Nomination>();
  /** node → pod key → the pods nominated there */
  private readonly nominatedOn = new Map<string, Map<string, PodInfo>>();
  /** counters for tests and the bench */
  readonly stats = { bound: 0, failedAttempts: 0, bindErrors: 0, preemptions: 0, victims: 0 };

  constructor(private readonly cfg: SchedulerConfig) {
    this.clock = cfg.clock ?? systemClock;
    this.log = cfg.logger.child({ component: COMPONENT });
    this.names = new Set(cfg.schedulerNames ?? ['default-scheduler', 'hedge-scheduler']);
    this.events = new EventRecorder({ client: cfg.client, component: COMPONENT, instance: cfg.identity, clock: this.clock, logger: this.log });
    const factory = cfg.informerFactory ?? new SharedInformerFactory({ client: cfg.client, logger: this.log, clock: this.clock });
    this.pods = factory.informer<PodObject>({
      resource: Resources.pods,
      onAdd: (p) => this.onPod(p),
      onUpdate: (_, p) => this.onPod(p),
      onDelete: (p) => this.onPodDelete(p),
    });
    this.nodeInformer = factory.informer<NodeObject>({
      resource: Resources.nodes,
      onAdd: (n) => this.onNode(n, undefined),
      onUpdate: (o, n) => this.onNode(n, o),
      onDelete: (n) => this.onNodeDelete(n),
    });
    this.runtimeClasses = factory.informer<RuntimeClassObject>({
      resource: Resources.runtimeclasses,
      onAdd: (rc) => this.event({ resource: 'RuntimeClass', action: ActionType.Add, new: rc }),
      onUpdate: (o, rc) => this.event({ resource: 'RuntimeClass', action: ActionType.UpdateOther, old: o, new: rc }),
    });
    this.namespaces = factory.informer<KubeObject>({
      resource: Resources.namespaces,
      onUpdate: (o, n) => {
        if (!sameLabels(o, n)) this.event({ resource: 'Namespace', action: ActionType.UpdateOther, old: o, new: n });
      },
    });
    this.disruptionBudgets = factory.informer<PdbObject>({ resource: Resources.poddisruptionbudgets });
    // a claim, volume or class appearing or changing may make a pod waiting on its volumes fit:
    // VolumeBinding's hints tell which (a status-only update does not)
    this.claims = factory.informer<PvcObject>({
      resource: Resources.persistentvolumeclaims,
      onAdd: (pvc) => this.event({ resource: 'PersistentVolumeClaim', action: ActionType.Add, new: pvc }),
      onUpdate: (o, pvc) => this.event({ resource: 'PersistentVolumeClaim', action: ActionType.UpdateOther, old: o, new: pvc }),
    });
    // a PV seen with its claimRef (or gone) needs no assumption any more
    const volumeSeen = (old: PvObject | undefined, pv: PvObject): void => {
      if (pv.spec?.claimRef) this.assumedVolumes.delete(pv.metadata.name ?? '');
      this.event({ resource: 'PersistentVolume', action: old ? ActionType.UpdateOther : ActionType.Add, old, new: pv });
    };
    this.volumes = factory.informer<PvObject>({
      resource: Resources.persistentvolumes,
      onAdd: (pv) => volumeSeen(undefined, pv),
      onUpdate: volumeSeen,
      onDelete: (pv) => this.assumedVolumes.delete(pv.metadata.name ?? ''),
    });
    this.storageClasses = factory.informer<StorageClassObject>({
      resource: Resources.storageclasses,
      onAdd: (sc) => this.event({ resource: 'StorageClass', action: ActionType.Add, new: sc }),
      onUpdate: (o, sc) => this.event({ resource: 'StorageClass', action: ActionType.UpdateOther, old: o, new: sc }),
    });
    this.filters = cfg.filters ?? withVolumeBinding(
      defaultFilters,
      volumeBinding({
        claim: (ns, name) => this.claims.get(name, ns),
        volume: (name) => this.volumes.get(name),
        volumes: () => this.volumes.list(),
        assumedClaim: (name) => this.assumedVolumes.get(name),
        storageClass: (name) => this.storageClasses.get(name),
      }),
    );
    this.queue = new SchedulingQueue({
      initialBackoffMs: cfg.initialBackoffMs ?? 1000,
      maxBackoffMs: cfg.maxBackoffMs ?? 10_000,
      maxUnschedulableMs: cfg.maxUnschedulableMs,
      registrations: registrationsOf(this.filters),
      hintContext: { namespaceLabels: this.namespaceLabels },
    });
  }

  /** the queue's counters: events seen, hints called, pods moved by an event or by the periodic flush */
  get queueStats(): Readonly<SchedulingQueue['stats']> {
    return this.queue.stats;
  }

  /** pending pods waiting for a cluster event (upstream's unschedulablePods) */
  get unschedulablePods(): number {
    return this.queue.unschedulableSize;
  }

  get pending(): number {
    return this.queue.size;
  }

  /** pods placed in the cache whose binding the informer has not shown yet */
  get assumedPods(): number {
    return this.assumed.size;
  }

  /** pod key (namespace/name) → node the cache accounts it on, bound or assumed (tests, the bench) */
  placements(): Map<string, string> {
    return new Map(this.podNode);
  }

  async run(signal: AbortSignal): Promise<void> {
    const all = [this.nodeInformer, this.runtimeClasses, this.namespaces, this.disruptionBudgets, this.claims, this.volumes, this.storageClasses, this.pods];
    const informers = all.map((i) => i.run(signal));
    try {
      await Promise.all(all.map((i) => i.waitForSync(signal)));
      this.log.info({ nodes: this.nodes.size, pending: this.queue.size }, 'scheduler synced');
      await this.loop(signal);
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      await Promise.allSettled([...this.inflight, ...this.reports.values()]);
      await Promise.all(informers);
    }
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const limit = Math.max(1, this.cfg.bindConcurrency ?? 16);
    let sinceYield = 0;
    while (!signal.aborted) {
      const entry = this.queue.pop(this.clock.now());
      if (!entry) {
        // nothing else to place: a lone bind leaves now rather than at the end of the turn (the
        // client's batch window pays only when binds come in numbers; with others in flight, the
        // next pods of a burst may still join this one)
        if (this.inflight.size === 1) this.cfg.client.flushBinds?.();
        await this.idle(signal);
        sinceYield = 0;
        continue;
      }
      await this.scheduleOne(entry, signal);
      while (this.inflight.size >= limit && !signal.aborted) {
        await new Promise<void>((resolve) => (this.bindSlot = resolve));
        sinceYield = 0;
      }
      // Let I/O in now and then: the binds made so far leave (and the server starts on them) while
      // this loop places the next pods, and informer events (bound pods, new nodes) are not held back.
      if (++sinceYield >= YIELD_EVERY) {
        sinceYield = 0;
        await yieldToLoop();
      }
    }
  }

  /** park until a pod becomes ready: woken by informer events or the earliest back-off expiry */
  private async idle(signal: AbortSignal): Promise<void> {
    const next = this.queue.nextReadyAt();
    const ac = new AbortController();
    // ac.abort() below also unhooks `both` from the long-lived signal
    const both = linkedSignal([signal, ac.signal]);
    const woken = new Promise<void>((resolve) => (this.wake = resolve));
    const sleeps: Promise<unknown>[] = [woken];
    if (next !== undefined) sleeps.push(this.clock.sleep(Math.max(0, next - this.clock.now()), both).catch(() => undefined));
    sleeps.push(new Promise<void>((resolve) => both.addEventListener('abort', () => resolve(), { once: true })));
    await Promise.race(sleeps);
    ac.abort();
    this.wake = undefined;
  }

  private kick(): void {
    this.wake?.();
  }

  private responsible(pod: PodObject): boolean {
    return this.names.has(pod.spec?.schedulerName || 'default-scheduler');
  }

  private nodeInfo(name: string): NodeInfo {
    let ni = this.nodes.get(name);
    if (!ni) {
      ni = new NodeInfo(name, this.totals);
      this.nodes.set(name, ni);
    }
    return ni;
  }

  /**
   * A cluster change: the unschedulable pods it may help (per the hints of the plugins that
   * rejected them) move towards the active queue. The cache itself is kept by the informer
   * handlers whatever the hints say.
   */
  private event(ev: ClusterEvent): void {
    if (this.queue.onEvent(ev, this.clock.now()) > 0) this.kick();
  }

  /** a placed pod (bound or assumed) came, changed or left: `action` one of Add, Delete or the pod update kinds */
  private assignedPodEvent(action: number, old: PodObject | undefined, cur: PodObject | undefined): void {
    this.event({ resource: 'AssignedPod', action, old, new: cur });
  }

  private onPod(pod: PodObject): void {
    const key = podKey(pod);
    const nodeName = pod.spec?.nodeName;
    if (nodeName) {
      this.queue.delete(key);
      this.nominate(key, undefined, nodeName);
      const wasAssumed = this.assumed.delete(key);
      const prev = this.podNode.get(key);
      const existing = prev === undefined ? undefined : this.nodes.get(prev)?.pods.get(key);
      // the informer confirms an assumed pod where we put it: requests and ports cannot have changed
      // (immutable), so unless its labels moved it to another spread group only the object changes
      const confirmed = wasAssumed && prev === nodeName && !isTerminal(pod) ? existing : undefined;
      if (confirmed && confirmed.spreadKey === spreadKeyOf(pod)) {
        confirmed.pod = pod;
        this.assignedPodEvent(ActionType.Add, undefined, pod);
        return;
      }
      if (isTerminal(pod)) {
        if (prev) {
          this.nodes.get(prev)?.removePod(key);
          this.podNode.delete(key);
          this.assignedPodEvent(ActionType.Delete, existing?.pod ?? pod, undefined);
        }
        return;
      }
      if (prev && prev !== nodeName) {
        this.nodes.get(prev)?.removePod(key);
        this.assignedPodEvent(ActionType.Delete, existing?.pod, undefined);
      }
      this.nodeInfo(nodeName).addPod(podInfo(pod));
      this.podNode.set(key, nodeName);
      if (prev !== nodeName || wasAssumed) this.assignedPodEvent(ActionType.Add, undefined, pod);
      else if (existing) {
        const action = assignedPodUpdateActions(existing.pod, pod);
        if (action) this.assignedPodEvent(action, existing.pod, pod);
      }
      return;
    }
    // A status update racing our bind shows the pod still unbound: it is already placed.
    if (this.assumed.has(key)) return;
    if (!this.responsible(pod) || pod.metadata.deletionTimestamp || isTerminal(pod)) {
      this.queue.delete(key);
      this.nominate(key, undefined);
      return;
    }
    this.followNomination(key, pod);
    this.queue.addOrUpdate(pod, this.clock.now());
    this.kick();
  }

  private onPodDelete(pod: PodObject): void {
    const key = podKey(pod);
    this.queue.delete(key);
    this.assumed.delete(key);
    this.nominate(key, undefined);
    this.events.forget(pod.metadata.uid);
    const prev = this.podNode.get(key);
    if (prev) {
      this.nodes.get(prev)?.removePod(key);
      this.podNode.delete(key);
      this.assignedPodEvent(ActionType.Delete, pod.spec?.nodeName ? pod : { ...pod, spec: { ...pod.spec, containers: pod.spec?.containers ?? [], nodeName: prev } }, undefined);
    }
  }

  /**
   * Set (or with no node, drop) the pod's nomination in the cache. The room a dropped nomination
   * held on its node is free again for pods of lower priority, which the filters kept off it: that
   * counts as a pod leaving the node (upstream's NodePorts hint counts nominated pods too), unless
   * the pod is being placed on that very node (`placedOn`).
   */
  private nominate(key: string, n: Nomination | undefined, placedOn?: string): void {
    const prev = this.nominations.get(key);
    if (prev) {
      this.nominations.delete(key);
      const on = this.nominatedOn.get(prev.node);
      on?.delete(key);
      if (on?.size === 0) this.nominatedOn.delete(prev.node);
      if (prev.node !== placedOn && prev.node !== n?.node) {
        const pod = prev.pod.pod;
        this.assignedPodEvent(ActionType.Delete, { ...pod, spec: { ...pod.spec, containers: pod.spec?.containers ?? [], nodeName: prev.node } }, undefined);
      }
    }
    if (!n) return;
    this.nominations.set(key, n);
    let on = this.nominatedOn.get(n.node);
    if (!on) {
      on = new Map();
      this.nominatedOn.set(n.node, on);
    }
    on.set(key, n.pod);
  }

  /**
   * A pending pod's status.nominatedNodeName as the informer shows it (e.g. set by a scheduler
   * before a restart). A nomination this scheduler made is only dropped by itself: an older
   * version of the pod in flight must not undo it.
   */
  private followNomination(key: string, pod: PodObject): void {
    const shown = pod.status?.nominatedNodeName || undefined;
    const cur = this.nominations.get(key);
    if (cur?.node === shown || (cur?.local && shown === undefined)) return;
    this.nominate(key, shown ? { node: shown, pod: podInfo(pod), local: false } : undefined);
  }

  private onNode(node: NodeObject, old: NodeObject | undefined): void {
    const name = node.metadata.name ?? '';
    this.nodeInfo(name).setNode(node);
    // an update that changes nothing the filters read (a heartbeat) is no event at all
    const action = old ? nodeUpdateActions(old, node) : ActionType.Add;
    if (action) this.event({ resource: 'Node', action, old, new: node });
  }

  private onNodeDelete(node: NodeObject): void {
    const ni = this.nodes.get(node.metadata.name ?? '');
    if (!ni) return;
    ni.node = undefined;
    if (ni.pods.size === 0) this.nodes.delete(ni.name);
    this.event({ resource: 'Node', action: ActionType.Delete, old: node });
  }

  /** handler the pod needs, undefined for the default, or an error message for an unknown RuntimeClass */
  private handlerFor(pod: PodObject): { handler: string | undefined } | { error: string } {
    const rcName = pod.spec?.runtimeClassName;
    if (!rcName) return { handler: undefined };
    const rc = this.runtimeClasses.get(rcName);
    if (!rc) return { error: `runtimeclass.node.k8s.io "${rcName}" not found` };
    return { handler: rc.handler };
  }

  /** Filter and score every known node for `pod`. Pure over the current cache (exposed for tests). */
  findNode(pod: PodObject): ScheduleResult {
    return this.findNodeFor(podInfo(pod));
  }

  private readonly namespaceLabels = (name: string): Record<string, string> | undefined => this.namespaces.get(name)?.metadata.labels;

  /** nodes with a Node object: the candidates */
  private candidates(): NodeInfo[] {
    const out: NodeInfo[] = [];
    for (const ni of this.nodes.values()) if (ni.node !== undefined) out.push(ni);
    return out;
  }

  /**
   * What the filters' `prepare` compute over `nodes` for one attempt of `pi`, and the filters
   * this attempt runs: those without a prepare, and those whose prepare found something to check.
   */
  private prepareCycle(pi: PodInfo, nodes: readonly NodeInfo[]): { cycle: CycleState; filters: Filter[]; rejected?: string; rejectedBy?: string } {
    const cycle: CycleState = {};
    const filters: Filter[] = [];
    for (const f of this.filters) {
      const r = f.prepare?.({ pod: pi, nodes, namespaceLabels: this.namespaceLabels }, cycle) ?? true;
      if (typeof r === 'string') return { cycle, filters, rejected: r, rejectedBy: f.name };
      if (r) filters.push(f);
    }
    return { cycle, filters };
  }

  /**
   * The reasons `ni` cannot take the pod (empty: it fits): the first of `filters` that rejects it.
   * Pods nominated to the node with at least the pod's priority count as if they were there
   * (upstream's addNominatedPods): the room preemption made for them is not taken by pods of
   * lower priority.
   */
  private filterNode(ctx: FilterContext, filters: readonly Filter[], ni: NodeInfo, rejectedBy?: Set<string>): string[] {
    ctx.nodeInfo = ni;
    ctx.node = ni.node as NodeObject;
    const nominated = this.nominatedOn.size === 0 ? undefined : this.nominatedOn.get(ni.name);
    const added: PodInfo[] = [];
    if (nominated) {
      for (const other of nominated.values()) {
        if (other.key === ctx.pod.key || other.priority < ctx.pod.priority || ni.pods.has(other.key)) continue;
        ni.addPod(other);
        added.push(other);
      }
    }
    try {
      for (const f of filters) {
        const failed = f.filter(ctx);
        if (failed.length) {
          rejectedBy?.add(f.name);
          return failed;
        }
      }
      return [];
    } finally {
      for (const other of added) ni.removePod(other.key);
    }
  }

  /**
   * Would `pod` fit on node `name` as the cache stands now (e.g. with victims taken off it)?
   * Recomputes the per-attempt state, so filters that look across nodes see the change.
   * Returns the reasons it does not; undefined when the node is unknown.
   */
  reasonsOnNode(pod: PodObject, name: string): string[] | undefined {
    return this.reasonsFor(podInfo(pod), name);
  }

  /** `nodes`: the candidates, when the caller holds them already (preemption asks node after node) */
  private reasonsFor(pi: PodInfo, name: string, nodes?: readonly NodeInfo[]): string[] | undefined {
    const ni = this.nodes.get(name);
    if (ni?.node === undefined) return undefined;
    const h = this.handlerFor(pi.pod);
    if ('error' in h) return [h.error];
    const { cycle, filters, rejected } = this.prepareCycle(pi, nodes ?? this.candidates());
    if (rejected !== undefined) return [rejected];
    return this.filterNode({ pod: pi, nodeInfo: ni, node: ni.node, runtimeHandler: h.handler, cycle }, filters, ni);
  }

  private findNodeFor(pi: PodInfo): ScheduleResult {
    const pod = pi.pod;
    const candidates = this.candidates();
    const h = this.handlerFor(pod);
    if ('error' in h) {
      // a missing RuntimeClass: RuntimeHandler's rejection (its hint waits for the class)
      return { kind: 'unschedulable', message: fitErrorMessage(candidates.length, new Map(), h.error), reasons: new Map(), plugins: new Set([runtimeHandler.name]) };
    }
    const reasons = new Map<string, string[]>();
    const plugins = new Set<string>();
    const feasible: NodeInfo[] = [];
    // one context for every node: filters read it during their call only
    const { cycle, filters, rejected, rejectedBy } = this.prepareCycle(pi, candidates);
    if (rejected !== undefined) {
      return { kind: 'unschedulable', message: fitErrorMessage(candidates.length, new Map(), rejected), reasons: new Map(), plugins: new Set(rejectedBy ? [rejectedBy] : []) };
    }
    const ctx: FilterContext = { pod: pi, nodeInfo: candidates[0], node: candidates[0]?.node as NodeObject, runtimeHandler: h.handler, cycle };
    for (const ni of candidates) {
      const failed = this.filterNode(ctx, filters, ni, plugins);
      if (failed.length) reasons.set(ni.name, failed);
      else feasible.push(ni);
    }
    if (feasible.length === 0) {
      // no nodes at all: no plugin rejected it, so any event moves it (as upstream)
      return { kind: 'unschedulable', message: fitErrorMessage(candidates.length, reasons), reasons, plugins };
    }
    // the node preemption made room on, while it still fits (upstream evaluates it first)
    const nominated = this.nominations.get(pi.key)?.node;
    if (nominated !== undefined && feasible.some((ni) => ni.name === nominated)) return { kind: 'fit', node: nominated, cycle };
    const scoring: ScoreContext = { allNodes: candidates, namespaceLabels: this.namespaceLabels };
    return { kind: 'fit', node: (bestNode(pi, feasible, scoring) as { name: string }).name, cycle };
  }

  private async scheduleOne(entry: QueueEntry, signal: AbortSignal): Promise<void> {
    // Always decide on the latest version the informer holds.
    const pod = this.pods.get(entry.pod.metadata.name ?? '', entry.pod.metadata.namespace) ?? entry.pod;
    if (pod.spec?.nodeName || pod.metadata.deletionTimestamp || !this.responsible(pod)) return;
    const pi = podInfo(pod);
    const result = this.findNodeFor(pi);
    switch (result.kind) {
      case 'fit':
        this.assume(pi, result.node, result.cycle, entry, signal);
        return;
      case 'unschedulable': {
        this.stats.failedAttempts++;
        this.queue.markUnschedulable(entry, result.plugins, pi, this.clock.now());
        const preemption = await this.preempt(pi, result.reasons, signal);
        // upstream's FitError with its PostFilter message
        const message = preemption ? `${result.message} preemption: ${preemption}` : result.message;
        this.log.debug({ pod: entry.key, message }, 'unschedulable');
        await this.reportFailure(entry.key, pod, message, signal);
        return;
      }
    }
  }

  /**
   * Upstream's VolumeBinding PreBind for the claims the pod's volumes wait on: a claim the filter
   * found an existing PV for on the chosen node gets that PV (its claimRef, written with the PV's
   * resourceVersion, so a PV taken meanwhile is a Conflict and the pod is tried again; the PV
   * controller completes the binding); the others get the chosen node as
   * `volume.kubernetes.io/selected-node`, for their class's provisioner to make the volume there.
   * The pod is bound right after (the node waits for the claim to be bound before it mounts).
   */
  private async selectNodeForClaims(cycle: CycleState, nodeName: string, signal: AbortSignal): Promise<void> {
    const statics = cycle.volumeBinding?.staticByNode.get(nodeName);
    for (const { claim } of cycle.volumeBinding?.delayed ?? []) {
      const pv = statics?.get(claim.metadata.name ?? '');
      if (pv) {
        await this.preBindVolume(pv, claim, signal);
        continue;
      }
      if (claim.metadata.annotations?.[ANNOTATION_SELECTED_NODE] === nodeName) continue;
      await this.cfg.client.patch(
        Resources.persistentvolumeclaims,
        claim.metadata.name ?? '',
        'merge',
        { metadata: { annotations: { [ANNOTATION_SELECTED_NODE]: nodeName } } },
        { namespace: claim.metadata.namespace, signal },
      );
    }
  }

  /** a static PV given to a claim: its claimRef (upstream's BindPodVolumes for a matched PV) */
  private async preBindVolume(pv: PvObject, claim: PvcObject, signal: AbortSignal): Promise<void> {
    const name = pv.metadata.name ?? '';
    const key = `${claim.metadata.namespace ?? ''}/${claim.metadata.name ?? ''}`;
    if (claimRefMatches(pv, claim)) return; // pre-bound by its author: the PV controller binds it
    this.assumedVolumes.set(name, key);
    try {
      const claimRef = { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: claim.metadata.namespace, name: claim.metadata.name, uid: claim.metadata.uid };
      // upstream's BindVolumeToClaim: the controller's binding, undone should the claim bind elsewhere
      const annotations = { ...pv.metadata.annotations, [BOUND_BY_CONTROLLER_ANNOTATION]: 'yes' };
      await this.cfg.client.update(Resources.persistentvolumes, { ...pv, metadata: { ...pv.metadata, annotations }, spec: { ...pv.spec, claimRef } }, { signal });
    } catch (err) {
      if (this.assumedVolumes.get(name) === key) this.assumedVolumes.delete(name);
      // the PV changed or went since the filter saw it: not the pod's Conflict, so the pod is tried again
      if (isHedgeError(err, 'Conflict') || isHedgeError(err, 'NotFound')) {
        throw new HedgeError('Unavailable', `persistentvolume "${name}" changed before it could be given to claim ${key}: ${(err as Error).message}`, { cause: err });
      }
      throw err;
    }
  }

  private assume(pi: PodInfo, nodeName: string, cycle: CycleState, entry: QueueEntry, signal: AbortSignal): void {
    const key = entry.key;
    this.nominate(key, undefined, nodeName);
    const pod = pi.pod;
    // the same requests, ports and spread key: only the pod object gains its nodeName
    const placed: PodInfo = { ...pi, pod: { ...pod, spec: { ...pod.spec, containers: pod.spec?.containers ?? [], nodeName } } };
    this.nodeInfo(nodeName).addPod(placed);
    this.podNode.set(key, nodeName);
    this.assumed.add(key);
    const bind = () => this.cfg.client.bind({ namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name ?? '', nodeName, uid: pod.metadata.uid, signal });
    const p = (cycle.volumeBinding?.delayed.length ? this.selectNodeForClaims(cycle, nodeName, signal).then(bind) : bind())
      .then(() => {
        this.stats.bound++;
      })
      .catch((err: unknown) => {
        this.stats.bindErrors++;
        if (!this.assumed.has(key)) return;
        this.assumed.delete(key);
        this.nodes.get(nodeName)?.removePod(key);
        this.podNode.delete(key);
        // the room it held is free again (upstream moves pods on AssignedPodDelete when a bind fails)
        this.assignedPodEvent(ActionType.Delete, placed.pod, undefined);
        // Conflict/NotFound: the pod was bound or deleted elsewhere; the informer will tell us.
        if (isHedgeError(err, 'Conflict') || isHedgeError(err, 'NotFound') || signal.aborted) return;
        this.log.warn({ err, pod: key, node: nodeName }, 'bind failed; will retry');
        this.queue.requeue(entry, this.clock.now());
        this.kick();
      })
      .finally(() => {
        this.inflight.delete(p);
        const wake = this.bindSlot;
        this.bindSlot = undefined;
        wake?.();
      });
    this.inflight.add(p);
  }

  /**
   * upstream's DefaultPreemption PostFilter for a pod that fits nowhere: find nodes where evicting
   * pods of lower priority makes it fit, pick one, nominate the pod there and evict the victims.
   * Returns what FailedScheduling says after "preemption: " ('' when a node was nominated). The
   * work is bounded (see findCandidates); pods that fit never come here.
   */
  private async preempt(pi: PodInfo, reasons: ReadonlyMap<string, string[]>, signal: AbortSignal): Promise<string> {
    const pod = pi.pod;
    if (pod.spec?.preemptionPolicy === 'Never') return NOT_ELIGIBLE_NEVER;
    const nominated = this.nominations.get(pi.key)?.node;
    if (nominated !== undefined) {
      // upstream PodEligibleToPreemptOthers: while pods it preempted there terminate, it waits
      // (unless its nominated node can no longer take it whatever is evicted)
      const failed = reasons.get(nominated);
      const ni = this.nodes.get(nominated);
      if (ni && (!failed || resolvableByPreemption(failed))) {
        for (const other of ni.pods.values()) if (other.priority < pi.priority && terminatingByPreemption(other.pod)) return NOT_ELIGIBLE_TERMINATING;
      }
    }
    const nodes = this.candidates();
    const { candidates, reasons: why } = findCandidates({
      pod: pi,
      nodes,
      reasons,
      fits: (name) => this.reasonsFor(pi, name, nodes)?.length === 0,
      budgets: this.budgets(),
      offset: Math.floor(Math.random() * Math.max(1, nodes.length)),
    });
    const best = pickOneNode(candidates);
    if (!best) {
      // upstream clears a nomination that no longer holds
      if (nominated !== undefined) await this.setNominatedNode(pi, undefined, signal);
      return fitErrorMessage(nodes.length, why);
    }
    await this.prepareCandidate(pi, best, signal);
    return '';
  }

  private budgets(): DisruptionBudget[] {
    const out: DisruptionBudget[] = [];
    for (const pdb of this.disruptionBudgets.list()) {
      const b = disruptionBudget(pdb);
      if (b) out.push(b);
    }
    return out;
  }

  /** upstream prepareCandidate: nominate, evict the victims, and take the nomination from pods of lower priority nominated there */
  private async prepareCandidate(pi: PodInfo, c: Candidate, signal: AbortSignal): Promise<void> {
    this.stats.preemptions++;
    this.log.info({ pod: pi.key, node: c.node, victims: c.victims.map((v) => v.key), pdbViolations: c.pdbViolations }, 'preempting');
    await this.setNominatedNode(pi, c.node, signal);
    await Promise.all(c.victims.map((v) => this.evict(v, pi.pod, c.node, signal)));
    for (const other of [...(this.nominatedOn.get(c.node)?.values() ?? [])]) {
      if (other.priority < pi.priority) await this.setNominatedNode(other, undefined, signal);
    }
  }

  /** status.nominatedNodeName through pods/status, and the cache's nomination with it */
  private async setNominatedNode(pi: PodInfo, node: string | undefined, signal: AbortSignal): Promise<void> {
    this.nominate(pi.key, node === undefined ? undefined : { node, pod: pi, local: true });
    if ((pi.pod.status?.nominatedNodeName || undefined) === node && node !== undefined) return;
    try {
      await this.cfg.client.patch(
        Resources.pods,
        pi.pod.metadata.name ?? '',
        'merge',
        { status: { nominatedNodeName: node ?? null } },
        { namespace: pi.pod.metadata.namespace, subresource: 'status', signal },
      );
    } catch (err) {
      if (!signal.aborted && !isHedgeError(err, 'NotFound')) this.log.warn({ err, pod: pi.key }, 'could not set nominatedNodeName');
    }
  }

  /** a victim gets DisruptionTarget (reason PreemptionByScheduler), is deleted with its grace period, and a Preempted event */
  private async evict(v: PodInfo, preemptor: PodObject, node: string, signal: AbortSignal): Promise<void> {
    const { name = '', namespace, uid } = v.pod.metadata;
    const condition: PodCondition = {
      type: 'DisruptionTarget',
      status: 'True',
      reason: REASON_PREEMPTION_BY_SCHEDULER,
      message: `${preemptor.spec?.schedulerName || 'default-scheduler'}: preempting to accommodate a higher priority pod`,
      lastTransitionTime: formatTime(this.clock.now()),
    };
    try {
      await this.cfg.client.patch(Resources.pods, name, 'strategic', { status: { conditions: [condition] } }, { namespace, subresource: 'status', signal });
      await this.cfg.client.delete(Resources.pods, name, { namespace, preconditions: uid ? { uid } : undefined, signal });
    } catch (err) {
      if (!signal.aborted && !isHedgeError(err, 'NotFound') && !isHedgeError(err, 'Conflict')) this.log.warn({ err, pod: v.key }, 'could not preempt');
      return;
    }
    this.stats.victims++;
    this.events.emit({
      involved: { ...v.pod, apiVersion: 'v1', kind: 'Pod' },
      related: { ...preemptor, apiVersion: 'v1', kind: 'Pod' },
      type: 'Normal',
      reason: 'Preempted',
      action: 'Preempting',
      message: `Preempted by pod ${preemptor.metadata.uid ?? ''} on node ${node}`,
    });
  }

  /**
   * Writes the FailedScheduling event and condition beside the loop: awaiting two round trips per
   * failed attempt let thousands of unschedulable pods (each retried every ≤10 s) hold the loop on
   * the apiserver, and every schedulable pod behind them. One report per pod at a time (a retry
   * while its last report is still in flight adds nothing new), at most MAX_FAILURE_REPORTS at once.
   */
  private async reportFailure(key: string, pod: PodObject, message: string, signal: AbortSignal): Promise<void> {
    if (this.reports.has(key)) return;
    const p = this.recordFailure(pod, message, signal).finally(() => this.reports.delete(key));
    this.reports.set(key, p);
    while (this.reports.size >= MAX_FAILURE_REPORTS && !signal.aborted) await Promise.race(this.reports.values());
  }

  private async recordFailure(pod: PodObject, message: string, signal: AbortSignal): Promise<void> {
    await this.events.record({ involved: { ...pod, apiVersion: 'v1', kind: 'Pod' }, type: 'Warning', reason: 'FailedScheduling', message }, signal);
    const cur = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (cur?.status === 'False' && cur.reason === 'Unschedulable' && cur.message === message) return;
    const cond: PodCondition = {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message,
      lastTransitionTime: cur?.status === 'False' && cur.lastTransitionTime ? cur.lastTransitionTime : formatTime(this.clock.now()),
    };
    try {
      await this.cfg.client.patch(
        Resources.pods,
        pod.metadata.name ?? '',
        'strategic',
        { status: { conditions: [{ ...cond, lastProbeTime: null }] } },
        { namespace: pod.metadata.namespace, subresource: 'status', signal },
      );
    } catch (err) {
      if (!signal.aborted && !isHedgeError(err, 'NotFound')) this.log.warn({ err, pod: podKey(pod) }, 'could not set PodScheduled=False');
    }
  }
}
