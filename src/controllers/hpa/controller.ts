/**
 * The HorizontalPodAutoscaler controller (autoscaling/v2, resource metrics): every sync period
 * each HPA's target (Deployment, ReplicaSet, StatefulSet) is read, the pods its selector picks are
 * matched with their metrics.k8s.io usage, the upstream replica calculation proposes a count per
 * metric (the largest wins), the behavior's stabilization window and rate policies and
 * min/maxReplicas bound it, the scale subresource is written, and the HPA's status and conditions
 * (AbleToScale, ScalingActive, ScalingLimited) say why.
 */
import type { HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, MetricStatus } from 'kubernetes-types/autoscaling/v2.js';
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import { matches, selectorFromLabelSelector, selectorToString } from '../../api/labels/selector.ts';
import { parseQuantity } from '../../api/meta/quantity.ts';
import type { KubeObject } from '../../api/object.ts';
import { systemClock, type Clock } from '../../client/clock.ts';
import type { SharedInformer } from '../../client/shared-informers.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient, ResourceRef } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { EventRecorder } from '../common/events.ts';
import type { PodObject } from '../common/types.ts';
import type { SharedInformers } from '../workloads/informers.ts';
import { objectKey, splitKey } from '../workloads/owners.ts';
import { WorkQueue } from '../workloads/queue.ts';
import { limitRate, rulesOf, stabilize, type TimedValue } from './behavior.ts';
import type { ResourceMetricsSource, ResourceName } from './metrics-source.ts';
import { calcReplicas, DEFAULT_TOLERANCE, ReplicaCalcError, type PodInfo, type Target } from './replica-calculator.ts';

export type HpaObject = HorizontalPodAutoscaler & KubeObject;

export const hpaRef: ResourceRef = { group: 'autoscaling', version: 'v2', plural: 'horizontalpodautoscalers', namespaced: true, kind: 'HorizontalPodAutoscaler' };

export interface HpaControllerConfig {
  client: KubeClient;
  logger: Logger;
  informers: SharedInformers;
  metrics: ResourceMetricsSource;
  clock?: Clock;
  /** --horizontal-pod-autoscaler-sync-period, default 15 s */
  syncPeriodMs?: number;
  /** --horizontal-pod-autoscaler-tolerance, default 0.1 */
  tolerance?: number;
}

const SCALABLE: Record<string, ResourceRef> = {
  'apps/Deployment': Resources.deployments,
  'apps/ReplicaSet': Resources.replicasets,
  'apps/StatefulSet': Resources.statefulsets,
};

interface Scalable extends KubeObject {
  spec?: { replicas?: number; selector?: LabelSelector };
  status?: { replicas?: number };
}

type Condition = Pick<HorizontalPodAutoscalerCondition, 'type' | 'status' | 'reason' | 'message'>;

const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export class HpaController {
  readonly queue = new WorkQueue();
  readonly #hpas: SharedInformer<HpaObject>;
  readonly #pods: SharedInformer<PodObject>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #period: number;
  /** per HPA: recent recommendations (stabilization) and scale events (rate policies) */
  readonly #recommendations = new Map<string, TimedValue[]>();
  readonly #scaleEvents = new Map<string, TimedValue[]>();

  constructor(private readonly cfg: HpaControllerConfig) {
    this.#clock = cfg.clock ?? systemClock;
    this.#log = cfg.logger.child({ component: 'hpa-controller' });
    this.#events = new EventRecorder({ client: cfg.client, component: 'horizontal-pod-autoscaler', clock: this.#clock, logger: this.#log });
    this.#period = cfg.syncPeriodMs ?? 15_000;
    this.#hpas = cfg.informers.for<HpaObject>(hpaRef);
    this.#pods = cfg.informers.for<PodObject>(Resources.pods);
    this.#hpas.addHandlers({
      onAdd: (h) => this.queue.add(objectKey(h)),
      onUpdate: (o, h) => {
        if (o.metadata.generation !== h.metadata.generation) this.queue.add(objectKey(h));
      },
      onDelete: (h) => {
        this.#recommendations.delete(objectKey(h));
        this.#scaleEvents.delete(objectKey(h));
      },
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.cfg.informers.waitForSync(signal);
    await this.queue.run(
      signal,
      async (key) => {
        try {
          await this.sync(key, signal);
        } finally {
          // every HPA is looked at once per period, whatever happened
          if (this.#hpas.get(splitKey(key).name, splitKey(key).namespace)) this.queue.addAfter(key, this.#period);
        }
      },
      { workers: 1, logger: this.#log },
    );
  }

  async sync(key: string, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    const hpa = this.#hpas.get(name, namespace);
    const spec = hpa?.spec;
    if (!hpa || !spec || hpa.metadata.deletionTimestamp) return;
    const now = this.#clock.now();
    const refKey = `${(spec.scaleTargetRef.apiVersion ?? '').split('/')[0] ?? ''}/${spec.scaleTargetRef.kind}`;
    const ref = SCALABLE[refKey];
    const conditions: Condition[] = [];
    const status = structuredClone(hpa.status ?? { desiredReplicas: 0 });
    status.observedGeneration = hpa.metadata.generation;

    if (!ref) {
      conditions.push({ type: 'AbleToScale', status: 'False', reason: 'FailedGetScale', message: `the HPA controller was unable to get the target's current scale: no scale subresource for ${spec.scaleTargetRef.apiVersion ?? ''}/${spec.scaleTargetRef.kind}` });
      return this.#writeStatus(hpa, status, conditions, signal);
    }
    let target: Scalable;
    try {
      target = await this.cfg.client.get<Scalable>(ref, spec.scaleTargetRef.name, { namespace, signal });
    } catch (err) {
      if (signal.aborted) throw err;
      const msg = `the HPA controller was unable to get the target's current scale: ${(err as Error).message}`;
      this.#events.emit({ involved: hpa, type: 'Warning', reason: 'FailedGetScale', message: msg });
      conditions.push({ type: 'AbleToScale', status: 'False', reason: 'FailedGetScale', message: msg });
      return this.#writeStatus(hpa, status, conditions, signal);
    }
    const current = target.spec?.replicas ?? 1;
    const minReplicas = spec.minReplicas ?? 1;
    status.currentReplicas = target.status?.replicas ?? 0;
    conditions.push({ type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale', message: 'the HPA controller was able to get the target\'s current scale' });

    if (current === 0 && minReplicas !== 0) {
      status.desiredReplicas = 0;
      conditions.push({ type: 'ScalingActive', status: 'False', reason: 'ScalingDisabled', message: 'scaling is disabled since the replica count of the target is zero' });
      return this.#writeStatus(hpa, status, conditions, signal);
    }

    // one proposal per metric; the largest wins (a failed metric does not block the others unless all fail)
    const selector = selectorFromLabelSelector(target.spec?.selector);
    const pods = this.#pods.list().filter((p) => p.metadata.namespace === namespace && matches(selector, p.metadata.labels));
    const metricStatuses: MetricStatus[] = [];
    let proposal: number | undefined;
    let failure: { reason: string; message: string } | undefined;
    for (const m of spec.metrics ?? []) {
      if (m.type !== 'Resource' || !m.resource) {
        failure ??= { reason: 'InvalidMetricSourceType', message: `metric type ${m.type} is not supported by hedge (resource metrics only)` };
        continue;
      }
      const resource = m.resource.name as ResourceName;
      const t = m.resource.target;
      const tgt: Target | undefined =
        t.type === 'Utilization' && t.averageUtilization !== undefined
          ? { kind: 'utilization', percent: t.averageUtilization }
          : t.type === 'AverageValue' && t.averageValue !== undefined
            ? { kind: 'averageValue', value: resource === 'cpu' ? parseQuantity(String(t.averageValue)).milliValue() : parseQuantity(String(t.averageValue)).value() }
            : undefined;
      if ((resource !== 'cpu' && resource !== 'memory') || !tgt) {
        failure ??= { reason: 'InvalidMetricSourceType', message: `unsupported resource metric ${m.resource.name} / target ${t.type}` };
        continue;
      }
      try {
        const usage = await this.cfg.metrics.podUsage({ namespace, selector: selectorToString(selector), resource, signal });
        const infos: PodInfo[] = pods.map((p) => ({
          name: p.metadata.name ?? '',
          request: podRequest(p, resource),
          ready: p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
          ignored: p.metadata.deletionTimestamp !== undefined || p.status?.phase === 'Failed',
        }));
        const values = new Map([...usage].map(([k, v]) => [k, v.value]));
        const rec = calcReplicas({ currentReplicas: current, pods: infos, metrics: values, target: tgt, resource, tolerance: this.cfg.tolerance ?? DEFAULT_TOLERANCE });
        metricStatuses.push({
          type: 'Resource',
          resource: {
            name: resource,
            current: {
              ...(rec.utilization !== undefined ? { averageUtilization: rec.utilization } : {}),
              averageValue: resource === 'cpu' ? `${Math.round(rec.averageValue)}m` : String(Math.round(rec.averageValue)),
            },
          },
        });
        proposal = Math.max(proposal ?? 0, rec.replicas);
      } catch (err) {
        if (signal.aborted) throw err;
        const reason = err instanceof ReplicaCalcError ? 'FailedGetResourceMetric' : 'FailedGetResourceMetric';
        failure ??= { reason, message: `the HPA was unable to compute the replica count: ${(err as Error).message}` };
      }
    }
    status.currentMetrics = metricStatuses;
    if (proposal === undefined) {
      const f = failure ?? { reason: 'FailedGetResourceMetric', message: 'no metrics' };
      this.#events.emit({ involved: hpa, type: 'Warning', reason: f.reason, message: f.message });
      conditions.push({ type: 'ScalingActive', status: 'False', reason: f.reason, message: f.message });
      status.desiredReplicas = current;
      return this.#writeStatus(hpa, status, conditions, signal);
    }
    conditions.push({ type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: 'the HPA was able to successfully calculate a replica count from resource metrics' });

    // behavior: stabilization, then rate, then min/max
    const rules = rulesOf(spec.behavior);
    const history = (this.#recommendations.get(key) ?? []).filter((r) => r.at > now - Math.max(rules.up.stabilizationWindowSeconds, rules.down.stabilizationWindowSeconds) * 1000);
    const stabilized = stabilize({ now, current, recommended: proposal, history, upWindowS: rules.up.stabilizationWindowSeconds, downWindowS: rules.down.stabilizationWindowSeconds });
    history.push({ at: now, replicas: proposal });
    this.#recommendations.set(key, history);
    const maxPeriod = Math.max(...rules.up.policies.map((p) => p.periodSeconds), ...rules.down.policies.map((p) => p.periodSeconds));
    const events = (this.#scaleEvents.get(key) ?? []).filter((e) => e.at > now - maxPeriod * 1000);
    let desired = limitRate({ now, current, desired: stabilized, rules, events });
    let limited: Condition = { type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinRange', message: 'the desired count is within the acceptable range' };
    if (desired > spec.maxReplicas) {
      desired = spec.maxReplicas;
      limited = { type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' };
    } else if (desired < minReplicas) {
      desired = minReplicas;
      limited = { type: 'ScalingLimited', status: 'True', reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' };
    } else if (desired !== stabilized) {
      limited = { type: 'ScalingLimited', status: 'True', reason: desired > current ? 'ScaleUpLimit' : 'ScaleDownLimit', message: 'the desired replica count is limited by the scaling policy' };
    }
    conditions.push(limited);
    if (stabilized !== proposal && desired === stabilized) {
      conditions[0] = { type: 'AbleToScale', status: 'True', reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' };
    }
    status.desiredReplicas = desired;

    if (desired !== current) {
      try {
        await this.cfg.client.patch(ref, spec.scaleTargetRef.name, 'merge', { spec: { replicas: desired } }, { namespace, subresource: 'scale', signal });
      } catch (err) {
        if (signal.aborted) throw err;
        const msg = `the HPA controller was unable to update the target scale: ${(err as Error).message}`;
        this.#events.emit({ involved: hpa, type: 'Warning', reason: 'FailedRescale', message: msg });
        conditions[0] = { type: 'AbleToScale', status: 'False', reason: 'FailedUpdateScale', message: msg };
        return this.#writeStatus(hpa, status, conditions, signal);
      }
      events.push({ at: now, replicas: desired - current });
      this.#scaleEvents.set(key, events);
      status.lastScaleTime = rfc3339(now);
      conditions[0] = { type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: `the HPA controller was able to update the target scale to ${desired}` };
      const why = metricStatuses.map((s) => `${s.resource?.name ?? ''} resource${s.resource?.current.averageUtilization !== undefined ? ' utilization (percentage of request)' : ''}`).join(', ');
      this.#events.emit({ involved: hpa, type: 'Normal', reason: 'SuccessfulRescale', message: `New size: ${desired}; reason: ${why} ${desired > current ? 'above' : 'below'} target` });
    } else {
      this.#scaleEvents.set(key, events);
    }
    return this.#writeStatus(hpa, status, conditions, signal);
  }

  async #writeStatus(hpa: HpaObject, status: NonNullable<HpaObject['status']>, conditions: Condition[], signal: AbortSignal): Promise<void> {
    const now = rfc3339(this.#clock.now());
    const old = hpa.status?.conditions ?? [];
    status.conditions = conditions.map((c) => {
      const prev = old.find((o) => o.type === c.type);
      return { ...c, lastTransitionTime: prev && prev.status === c.status ? prev.lastTransitionTime : now };
    });
    try {
      await this.cfg.client.updateStatus<HpaObject>(hpaRef, { ...hpa, status }, { signal });
    } catch (err) {
      if (!isHedgeError(err, 'Conflict')) throw err;
      // the cache is behind our own last write (or a spec edit): the status is ours, put it on the latest object
      const fresh = await this.cfg.client.get<HpaObject>(hpaRef, hpa.metadata.name ?? '', { namespace: hpa.metadata.namespace, signal });
      await this.cfg.client.updateStatus<HpaObject>(hpaRef, { ...fresh, status }, { signal });
    }
  }
}

/** the pod's request for `resource`: the sum over its containers, undefined if any container has none */
function podRequest(p: PodObject, resource: ResourceName): number | undefined {
  let sum = 0;
  for (const c of p.spec?.containers ?? []) {
    const q = c.resources?.requests?.[resource];
    if (q === undefined) return undefined;
    const v = parseQuantity(String(q));
    sum += resource === 'cpu' ? v.milliValue() : v.value();
  }
  return sum;
}
