/**
 * The kubelet's eviction manager (pkg/kubelet/eviction/eviction_manager.go), run by the node
 * itself: every 10 s it reads the node's signals, decides which thresholds are met (soft ones
 * after their grace period, met ones until their minimum reclaim is back), reports the pressure
 * conditions (held for the transition period), enforces pods' local-storage limits, and under
 * pressure first reclaims node-level resources, then evicts one pod. Everything it decides on is
 * local (the host, pod sync's pods, the runtime): an edge node cut off from the cloud still evicts;
 * its status writes and events go through the hub, which journals them offline.
 */
import type { Pod, PodCondition } from 'kubernetes-types/core/v1.js';
import type { Clock } from '../../client/clock.ts';
import type { EventSink } from '../../client/event-recorder.ts';
import { formatTime } from '../../client/micro-time.ts';
import type { Logger } from '../../lib/log.ts';
import { Counter, type Registry } from '../../lib/prom.ts';
import { timeoutSignal } from '../../lib/signals.ts';
import type { PodAdmitHandler, PodAdmitResult } from '../podsync/types.ts';
import {
  SIGNAL_CONDITION,
  EVICTED_REASON,
  admitUnderPressure,
  byEvictionPriority,
  evictionMessage,
  isCriticalPod,
  localStorageViolation,
  mergeThresholds,
  rankForEviction,
  thresholdsMet,
  type PressureCondition,
} from './helpers.ts';
import { DEFAULT_PRESSURE_TRANSITION_MS, SIGNAL_RESOURCE, formatThreshold, thresholdQuantity, type Signal, type Threshold } from './thresholds.ts';
import type { EvictionTarget, ImageGarbageCollector, Observations, PodUsage, PodUsageSource, SignalSource } from './types.ts';

/** upstream's monitoringInterval */
export const MONITORING_INTERVAL_MS = 10_000;
/** upstream's podCleanupTimeout / podCleanupPollFreq */
const POD_CLEANUP_TIMEOUT_MS = 30_000;

export interface EvictionManagerConfig {
  thresholds: Threshold[];
  /** evictionMaxPodGracePeriod (s): a soft eviction's grace period at most (default 0) */
  maxPodGracePeriodSeconds?: number;
  /** evictionPressureTransitionPeriod (default 5 min) */
  pressureTransitionPeriodMs?: number;
  /** LocalStorageCapacityIsolation (default on, as upstream) */
  localStorageCapacityIsolation?: boolean;
  monitoringIntervalMs?: number;
}

export interface EvictionManagerDeps {
  nodeName: string;
  signals: SignalSource;
  usage: PodUsageSource;
  pods: EvictionTarget;
  events: EventSink;
  clock: Clock;
  logger: Logger;
  /** image garbage collection, when the node has one: tried before a pod is evicted for disk */
  imageGC?: ImageGarbageCollector;
  /** kubelet_evictions is registered here */
  metrics?: Registry;
}

/** one synchronize's outcome (tests and logs) */
export interface SyncResult {
  evicted: { pod: Pod; signal: string; message: string }[];
  /** thresholds acted on this pass (grace periods met) */
  thresholds: Threshold[];
  /** disk reclaimed at node level relieved the pressure: no pod was evicted */
  reclaimedByNode?: boolean;
}

const PRESSURE_CONDITIONS: readonly PressureCondition[] = ['MemoryPressure', 'DiskPressure', 'PIDPressure'];

export class EvictionManager implements PodAdmitHandler {
  private readonly cfg: Required<EvictionManagerConfig>;
  private readonly log: Logger;
  /** thresholds met last pass (kept until their minimum reclaim is back) */
  private thresholdsMetPrev: Threshold[] = [];
  private firstObservedAt = new Map<Threshold, number>();
  private conditionLastObservedAt = new Map<PressureCondition, number>();
  private conditions = new Set<PressureCondition>();
  private lastObservations: Observations = {};
  private readonly evictions?: Counter<'eviction_signal'>;

  constructor(
    cfg: EvictionManagerConfig,
    private readonly deps: EvictionManagerDeps,
  ) {
    this.cfg = {
      maxPodGracePeriodSeconds: 0,
      pressureTransitionPeriodMs: DEFAULT_PRESSURE_TRANSITION_MS,
      localStorageCapacityIsolation: true,
      monitoringIntervalMs: MONITORING_INTERVAL_MS,
      ...cfg,
    };
    this.log = deps.logger.child({ component: 'eviction' });
    if (deps.metrics) {
      this.evictions = new Counter({
        name: 'kubelet_evictions',
        help: 'Cumulative number of pod evictions by eviction signal',
        labelNames: ['eviction_signal'],
        registers: [deps.metrics],
      });
    }
  }

  /** a pressure condition of the node, True while observed within the transition period */
  underPressure(c: PressureCondition): boolean {
    return this.conditions.has(c);
  }

  /** the kubelet's eviction admit handler: may a new pod start under the node's conditions now (helpers.ts admitUnderPressure) */
  admit(pod: Pod): PodAdmitResult {
    const r = admitUnderPressure(pod, this.conditions);
    if (!r.admit) this.log.info({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, conditions: [...this.conditions] }, 'failed to admit pod to node');
    return r;
  }

  isUnderMemoryPressure(): boolean {
    return this.conditions.has('MemoryPressure');
  }

  isUnderDiskPressure(): boolean {
    return this.conditions.has('DiskPressure');
  }

  isUnderPIDPressure(): boolean {
    return this.conditions.has('PIDPressure');
  }

  /** synchronize every interval; after an eviction, once the evicted pods are cleaned up (upstream's Start loop) */
  async run(signal: AbortSignal): Promise<void> {
    this.log.info({ thresholds: this.cfg.thresholds.map(formatThreshold) }, 'eviction manager started');
    while (!signal.aborted) {
      let evicted = false;
      try {
        evicted = (await this.synchronize(signal)).evicted.length > 0;
      } catch (err) {
        if (signal.aborted) return;
        this.log.error({ err }, 'eviction manager: failed to synchronize');
      }
      // an eviction resolves once the pod's containers are stopped and its sandbox freed (the
      // cleanup upstream polls for), so the next pass measures what the eviction gave back
      if (evicted) continue;
      await this.deps.clock.sleep(this.cfg.monitoringIntervalMs, signal).catch(() => undefined);
    }
  }

  /** one pass of upstream's synchronize; evicts at most one pod for node pressure */
  async synchronize(signal: AbortSignal): Promise<SyncResult> {
    const all = this.deps.pods.activePods();
    const obs = await this.deps.signals.observe(signal);
    let met = thresholdsMet(this.cfg.thresholds, obs, false);
    if (this.thresholdsMetPrev.length > 0) met = mergeThresholds(met, thresholdsMet(this.thresholdsMetPrev, obs, true));
    const now = this.deps.clock.now();
    const firstObserved = new Map<Threshold, number>();
    for (const t of met) firstObserved.set(t, this.firstObservedAt.get(t) ?? now);
    const lastObserved = new Map(this.conditionLastObservedAt);
    for (const t of met) lastObserved.set(SIGNAL_CONDITION[t.signal], now);
    const conditions = new Set<PressureCondition>();
    for (const [c, at] of lastObserved) {
      if (now - at < this.cfg.pressureTransitionPeriodMs) conditions.add(c);
      else lastObserved.delete(c);
    }
    for (const c of PRESSURE_CONDITIONS) {
      if (conditions.has(c) !== this.conditions.has(c)) this.log.info({ condition: c, status: conditions.has(c) }, 'eviction manager: node condition changed');
    }
    // thresholds whose grace period has passed
    let acting = met.filter((t) => now - (firstObserved.get(t) ?? now) >= t.gracePeriodMs);
    this.conditions = conditions;
    this.firstObservedAt = firstObserved;
    this.conditionLastObservedAt = lastObserved;
    this.thresholdsMetPrev = acting;
    // only thresholds whose signal was read anew since the last pass (upstream's thresholdsUpdatedStats)
    const prev = this.lastObservations;
    acting = acting.filter((t) => prev[t.signal]?.time === undefined || obs[t.signal]?.time !== prev[t.signal]?.time);
    this.lastObservations = obs;

    const active = all.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
    // usage walks each pod's writable layers, logs and emptyDirs (stats/pod-storage.ts, the cache
    // /stats/summary reads too): only the pods it is needed for — every pod, walked now, when one
    // must be chosen; else those with a local-storage limit to enforce, walked within the last half
    // interval (a summary scrape's walk is reused; a node with 100 pods and no pressure walks
    // nothing every 10 s)
    const need = acting.length > 0 ? active : this.cfg.localStorageCapacityIsolation ? active.filter(hasLocalStorageLimit) : [];
    const maxStorageAgeMs = acting.length > 0 ? 0 : this.cfg.monitoringIntervalMs / 2;
    const usage = need.length > 0 ? await this.deps.usage.usage(need, signal, { maxStorageAgeMs }) : new Map<string, PodUsage>();
    const usageOf = (p: Pod): PodUsage | undefined => usage.get(p.metadata?.uid ?? '');
    if (this.cfg.localStorageCapacityIsolation) {
      const evicted = await this.localStorageEviction(active, usageOf, signal);
      if (evicted.length > 0) return { evicted, thresholds: acting };
    }
    if (acting.length === 0) return { evicted: [], thresholds: acting };
    const [toReclaim] = byEvictionPriority(acting);
    const resource = SIGNAL_RESOURCE[toReclaim.signal];
    this.deps.events.emit({ involved: this.nodeRef(), type: 'Warning', reason: 'EvictionThresholdMet', message: `Attempting to reclaim ${resource}` });
    if (await this.reclaimNodeLevelResources(toReclaim, obs, signal)) return { evicted: [], thresholds: acting, reclaimedByNode: true };
    for (const pod of rankForEviction(active, toReclaim.signal, usageOf)) {
      let grace = 0;
      if (!toReclaim.hard) {
        grace = this.cfg.maxPodGracePeriodSeconds;
        const own = pod.spec?.terminationGracePeriodSeconds;
        if (own !== undefined) grace = Math.min(grace, own);
      }
      const message = evictionMessage(resource, pod, usageOf(pod), acting, obs);
      const condition: PodCondition = { type: 'DisruptionTarget', status: 'True', reason: 'TerminationByKubelet', message, lastTransitionTime: formatTime(now) };
      if (await this.evictPod(pod, grace, message, condition, signal)) {
        this.evictions?.inc({ eviction_signal: toReclaim.signal });
        return { evicted: [{ pod, signal: toReclaim.signal, message }], thresholds: acting };
      }
    }
    this.log.info('eviction manager: unable to evict any pods from the node');
    return { evicted: [], thresholds: acting };
  }

  private nodeRef(): { apiVersion: string; kind: string; metadata: { name: string; uid: string } } {
    // the kubelet's node reference carries the node name as its uid
    return { apiVersion: 'v1', kind: 'Node', metadata: { name: this.deps.nodeName, uid: this.deps.nodeName } };
  }

  /** every pod over a local-storage limit is evicted (grace 0, no DisruptionTarget, as upstream) */
  private async localStorageEviction(pods: Pod[], usageOf: (p: Pod) => PodUsage | undefined, signal: AbortSignal): Promise<SyncResult['evicted']> {
    const out: SyncResult['evicted'] = [];
    for (const pod of pods) {
      const u = usageOf(pod);
      if (!u) continue;
      const v = localStorageViolation(pod, u);
      if (!v) continue;
      if (await this.evictPod(pod, 0, v.message, undefined, signal)) {
        this.evictions?.inc({ eviction_signal: v.signal });
        out.push({ pod, signal: v.signal, message: v.message });
      }
    }
    return out;
  }

  /**
   * Disk pressure: image garbage collection first (where the node has it), asked for what brings
   * the signal back above its threshold plus minimum reclaim; then, as upstream, every threshold
   * is checked again against fresh readings, and none met means no pod need go.
   */
  private async reclaimNodeLevelResources(t: Threshold, obs: Observations, signal: AbortSignal): Promise<boolean> {
    const gc = this.deps.imageGC;
    if (!gc || (t.signal !== 'nodefs.available' && t.signal !== 'imagefs.available' && t.signal !== 'nodefs.inodesFree' && t.signal !== 'imagefs.inodesFree')) return false;
    const o = obs[t.signal];
    if (!o) return false;
    let want = thresholdQuantity(t.value, o.capacity).value() - o.available;
    if (t.minReclaim) want += thresholdQuantity(t.minReclaim, o.capacity).value();
    // inodes: image layers free inodes as they free bytes; ask for something rather than nothing
    const bytes = t.signal.endsWith('.available') ? Math.max(1, want) : 1;
    try {
      const freed = await gc.freeSpace(bytes, signal);
      this.log.info({ signal: t.signal, wanted: bytes, freed }, 'eviction manager: image garbage collection');
    } catch (err) {
      this.log.warn({ err }, 'eviction manager: image garbage collection failed');
    }
    const after = await this.deps.signals.observe(signal);
    if (thresholdsMet(this.cfg.thresholds, after, true).length === 0) {
      this.log.info({ resource: SIGNAL_RESOURCE[t.signal] }, 'eviction manager: able to reduce resource pressure without evicting pods');
      return true;
    }
    return false;
  }

  private async evictPod(pod: Pod, graceSeconds: number, message: string, condition: PodCondition | undefined, signal: AbortSignal): Promise<boolean> {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    // static and critical pods are never evicted: they would not be admitted again
    if (isCriticalPod(pod)) {
      this.log.warn({ pod: key }, 'eviction manager: cannot evict a critical pod');
      return false;
    }
    this.deps.events.emit({ involved: { ...pod, apiVersion: 'v1', kind: 'Pod' }, type: 'Warning', reason: EVICTED_REASON, message });
    this.log.info({ pod: key, uid: pod.metadata?.uid, message }, 'evicting pod');
    const ac = timeoutSignal(signal, POD_CLEANUP_TIMEOUT_MS + graceSeconds * 1000);
    try {
      const ok = await this.deps.pods.evict(pod.metadata?.uid ?? '', { gracePeriodSeconds: graceSeconds, message, ...(condition ? { condition } : {}) }, ac);
      if (ok) this.log.info({ pod: key }, 'eviction manager: pod is evicted successfully');
      return ok;
    } catch (err) {
      if (signal.aborted) throw err;
      this.log.error({ err, pod: key }, 'eviction manager: pod failed to evict');
      return false;
    } finally {
      ac.clear();
    }
  }
}

export type { Signal };

/** an emptyDir sizeLimit or a container's ephemeral-storage limit: what local-storage eviction enforces */
function hasLocalStorageLimit(pod: Pod): boolean {
  if ((pod.spec?.volumes ?? []).some((v) => v.emptyDir?.sizeLimit !== undefined)) return true;
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].some((c) => c.resources?.limits?.['ephemeral-storage'] !== undefined);
}
