import type { HorizontalPodAutoscaler as HpaV1 } from 'kubernetes-types/autoscaling/v1.js';
import type {
  HorizontalPodAutoscaler as HpaV2,
  HorizontalPodAutoscalerBehavior,
  HorizontalPodAutoscalerCondition,
  HPAScalingRules,
  MetricSpec,
  MetricStatus,
} from 'kubernetes-types/autoscaling/v2.js';
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import { jsonClone } from '../../lib/json-clone.ts';
import type { KubeObject } from '../object.ts';
import type { ResourceDef, VersionConversion } from '../resources/types.ts';
import { builtinDef } from './builtin-def.ts';

/**
 * autoscaling/v1 HorizontalPodAutoscaler served over the stored autoscaling/v2 objects, converted
 * as kube-apiserver converts them (pkg/apis/autoscaling/v1/conversion.go). v1's
 * `targetCPUUtilizationPercentage` is v2's CPU `Resource` metric with a `Utilization` target, and
 * `currentCPUUtilizationPercentage` is its status. What v1 cannot say travels in annotations, in
 * upstream's formats: the other metrics and the status's metrics (v1's metric shapes), the
 * behavior (Go field names, as upstream marshals its internal type) and the conditions. A v1
 * client's read-modify-write (`kubectl autoscale`, an old controller, `kubectl edit` of a v1
 * object) therefore keeps them. They are lifted back out, and dropped, when a v1 object is
 * written.
 */
export const HPA_METRICS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/metrics';
export const HPA_CURRENT_METRICS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/current-metrics';
export const HPA_BEHAVIOR_ANNOTATION = 'autoscaling.alpha.kubernetes.io/behavior';
export const HPA_CONDITIONS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/conditions';
const ROUND_TRIP = [HPA_METRICS_ANNOTATION, HPA_CURRENT_METRICS_ANNOTATION, HPA_BEHAVIOR_ANNOTATION, HPA_CONDITIONS_ANNOTATION];

const V1 = 'autoscaling/v1';
const V2 = 'autoscaling/v2';
/** v1's target when it names none */
const DEFAULT_CPU_UTILIZATION = 80;

type Json = Record<string, unknown>;
type Selector = LabelSelector;

const isCpuUtilization = (m: MetricSpec): boolean => m.type === 'Resource' && m.resource?.name === 'cpu' && m.resource.target.averageUtilization !== undefined;

/** v2 → v1 (a read through autoscaling/v1) */
export function hpaToV1(stored: KubeObject): KubeObject {
  const v2 = stored as unknown as HpaV2;
  const annotations = withoutRoundTrip(v2.metadata?.annotations);
  const metrics = v2.spec?.metrics ?? [];
  const others = metrics.filter((m) => !isCpuUtilization(m));
  if (others.length > 0) annotations[HPA_METRICS_ANNOTATION] = JSON.stringify(others.map(metricSpecToV1));
  const current = v2.status?.currentMetrics ?? [];
  if (current.length > 0) annotations[HPA_CURRENT_METRICS_ANNOTATION] = JSON.stringify(current.map(metricStatusToV1));
  if (v2.spec?.behavior) annotations[HPA_BEHAVIOR_ANNOTATION] = JSON.stringify(behaviorToInternal(v2.spec.behavior));
  const conditions = v2.status?.conditions ?? [];
  if (conditions.length > 0) annotations[HPA_CONDITIONS_ANNOTATION] = JSON.stringify(conditions);

  const metadata = { ...v2.metadata };
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  else delete metadata.annotations;
  const out: HpaV1 = { apiVersion: V1, kind: 'HorizontalPodAutoscaler', metadata };
  if (v2.spec) {
    const cpu = metrics.find(isCpuUtilization);
    out.spec = {
      scaleTargetRef: v2.spec.scaleTargetRef,
      ...(v2.spec.minReplicas !== undefined ? { minReplicas: v2.spec.minReplicas } : {}),
      maxReplicas: v2.spec.maxReplicas,
      ...(cpu ? { targetCPUUtilizationPercentage: cpu.resource!.target.averageUtilization } : {}),
    };
  }
  if (v2.status) {
    const s = v2.status;
    const cpuNow = current.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu' && m.resource.current.averageUtilization !== undefined);
    out.status = {
      ...(s.observedGeneration !== undefined ? { observedGeneration: s.observedGeneration } : {}),
      ...(s.lastScaleTime !== undefined ? { lastScaleTime: s.lastScaleTime } : {}),
      currentReplicas: s.currentReplicas ?? 0,
      desiredReplicas: s.desiredReplicas,
      ...(cpuNow ? { currentCPUUtilizationPercentage: cpuNow.resource!.current.averageUtilization } : {}),
    };
  }
  return out as unknown as KubeObject;
}

/** v1 → v2 (a write through autoscaling/v1): the annotations' contents back in place, the annotations gone */
export function hpaFromV1(input: KubeObject): KubeObject {
  const v1 = input as unknown as HpaV1;
  const ann = v1.metadata?.annotations ?? {};
  const metadata = { ...v1.metadata };
  const kept = withoutRoundTrip(v1.metadata?.annotations);
  if (Object.keys(kept).length > 0) metadata.annotations = kept;
  else delete metadata.annotations;
  const out: HpaV2 = { apiVersion: V2, kind: 'HorizontalPodAutoscaler', metadata };
  if (v1.spec) {
    const spec: NonNullable<HpaV2['spec']> = {
      scaleTargetRef: v1.spec.scaleTargetRef,
      ...(v1.spec.minReplicas !== undefined ? { minReplicas: v1.spec.minReplicas } : {}),
      maxReplicas: v1.spec.maxReplicas,
    };
    // upstream's order: the annotation's metrics first, then the CPU target
    const metrics = (parseList(ann[HPA_METRICS_ANNOTATION]) ?? []).map(metricSpecFromV1);
    const cpu = v1.spec.targetCPUUtilizationPercentage;
    if (cpu !== undefined) metrics.push({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: cpu } } });
    // v1's implicit target, made explicit as upstream's conversion does: 80 % CPU
    if (metrics.length === 0) metrics.push({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: DEFAULT_CPU_UTILIZATION } } });
    spec.metrics = metrics;
    const behavior = behaviorFromInternal(parseObject(ann[HPA_BEHAVIOR_ANNOTATION]));
    if (behavior) spec.behavior = behavior;
    out.spec = spec;
  }
  if (v1.status) {
    const s = v1.status;
    const status: NonNullable<HpaV2['status']> = {
      ...(s.observedGeneration !== undefined ? { observedGeneration: s.observedGeneration } : {}),
      ...(s.lastScaleTime !== undefined ? { lastScaleTime: s.lastScaleTime } : {}),
      ...(s.currentReplicas !== undefined ? { currentReplicas: s.currentReplicas } : {}),
      desiredReplicas: s.desiredReplicas,
    };
    // the annotation's statuses say more than the CPU percentage: they win
    const fromAnnotation = parseList(ann[HPA_CURRENT_METRICS_ANNOTATION]);
    if (fromAnnotation) status.currentMetrics = fromAnnotation.map(metricStatusFromV1);
    else if (s.currentCPUUtilizationPercentage !== undefined) {
      status.currentMetrics = [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: s.currentCPUUtilizationPercentage } } }];
    }
    const conditions = parseList(ann[HPA_CONDITIONS_ANNOTATION]);
    if (conditions) status.conditions = conditions as unknown as HorizontalPodAutoscalerCondition[];
    out.status = status;
  }
  return out as unknown as KubeObject;
}

function withoutRoundTrip(annotations: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations ?? {})) if (!ROUND_TRIP.includes(k)) out[k] = v;
  return out;
}

/** an annotation that does not parse is ignored, as upstream ignores it */
function parseList(text: string | undefined): Json[] | undefined {
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter((x): x is Json => typeof x === 'object' && x !== null) : undefined;
  } catch {
    return undefined;
  }
}

function parseObject(text: string | undefined): Json | undefined {
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** `o` without its undefined fields, as the type it is built to be */
function defined<T extends object = Json>(o: Json): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null ? (v as Json) : {});

/** v2 MetricSpec → v1's (autoscaling/v1 MetricSpec: the v2beta1 shapes) */
function metricSpecToV1(m: MetricSpec): Json {
  switch (m.type) {
    case 'Resource': {
      const t = m.resource?.target;
      return { type: m.type, resource: defined({ name: m.resource?.name, targetAverageUtilization: t?.averageUtilization, targetAverageValue: t?.averageValue }) };
    }
    case 'ContainerResource': {
      const r = m.containerResource;
      return { type: m.type, containerResource: defined({ name: r?.name, container: r?.container, targetAverageUtilization: r?.target.averageUtilization, targetAverageValue: r?.target.averageValue }) };
    }
    case 'Pods':
      return { type: m.type, pods: defined({ metricName: m.pods?.metric.name, selector: m.pods?.metric.selector, targetAverageValue: m.pods?.target.averageValue ?? '0' }) };
    case 'Object': {
      const o = m.object;
      return {
        type: m.type,
        object: defined({ target: o?.describedObject, metricName: o?.metric.name, targetValue: o?.target.value ?? '0', selector: o?.metric.selector, averageValue: o?.target.averageValue }),
      };
    }
    case 'External': {
      const e = m.external;
      return { type: m.type, external: defined({ metricName: e?.metric.name, metricSelector: e?.metric.selector, targetValue: e?.target.value, targetAverageValue: e?.target.averageValue }) };
    }
    default:
      return { type: m.type };
  }
}

function metricSpecFromV1(m: Json): MetricSpec {
  const type = str(m.type) ?? '';
  switch (type) {
    case 'Resource': {
      const r = obj(m.resource);
      return { type, resource: { name: str(r.name) ?? '', target: resourceTarget(r) } };
    }
    case 'ContainerResource': {
      const r = obj(m.containerResource);
      return { type, containerResource: { name: str(r.name) ?? '', container: str(r.container) ?? '', target: resourceTarget(r) } };
    }
    case 'Pods': {
      const p = obj(m.pods);
      return { type, pods: { metric: identifier(p.metricName, p.selector), target: { type: 'AverageValue', averageValue: str(p.targetAverageValue) ?? '0' } } };
    }
    case 'Object': {
      const o = obj(m.object);
      const average = str(o.averageValue);
      return {
        type,
        object: {
          describedObject: o.target as NonNullable<MetricSpec['object']>['describedObject'],
          metric: identifier(o.metricName, o.selector),
          target: defined<MetricTarget>({ type: average === undefined ? 'Value' : 'AverageValue', value: str(o.targetValue) ?? '0', averageValue: average }),
        },
      };
    }
    case 'External': {
      const e = obj(m.external);
      const value = str(e.targetValue);
      return {
        type,
        external: {
          metric: identifier(e.metricName, e.metricSelector),
          target: defined<MetricTarget>({ type: value === undefined ? 'AverageValue' : 'Value', value, averageValue: str(e.targetAverageValue) }),
        },
      };
    }
    default:
      return { type };
  }
}

type MetricTarget = NonNullable<MetricSpec['resource']>['target'];

const identifier = (name: unknown, selector: unknown): MetricIdentifier => defined<MetricIdentifier>({ name: str(name) ?? '', selector: selector as Selector });

/** a v1 resource metric's target: a utilization when it has one, else an average value */
function resourceTarget(r: Json): MetricTarget {
  const u = num(r.targetAverageUtilization);
  return defined<MetricTarget>({ type: u === undefined ? 'AverageValue' : 'Utilization', averageUtilization: u, averageValue: str(r.targetAverageValue) });
}
type MetricIdentifier = NonNullable<MetricSpec['pods']>['metric'];
type MetricValueStatus = NonNullable<MetricStatus['resource']>['current'];

/** v2 MetricStatus → v1's (a quantity v1 requires reads "0" when v2 has none, as upstream's zero value) */
function metricStatusToV1(m: MetricStatus): Json {
  switch (m.type) {
    case 'Resource':
      return { type: m.type, resource: defined({ name: m.resource?.name, currentAverageUtilization: m.resource?.current.averageUtilization, currentAverageValue: m.resource?.current.averageValue ?? '0' }) };
    case 'ContainerResource': {
      const r = m.containerResource;
      return { type: m.type, containerResource: defined({ name: r?.name, container: r?.container, currentAverageUtilization: r?.current.averageUtilization, currentAverageValue: r?.current.averageValue ?? '0' }) };
    }
    case 'Pods':
      return { type: m.type, pods: defined({ metricName: m.pods?.metric.name, selector: m.pods?.metric.selector, currentAverageValue: m.pods?.current.averageValue ?? '0' }) };
    case 'Object': {
      const o = m.object;
      return { type: m.type, object: defined({ target: o?.describedObject, metricName: o?.metric.name, currentValue: o?.current.value ?? '0', selector: o?.metric.selector, averageValue: o?.current.averageValue }) };
    }
    case 'External': {
      const e = m.external;
      return { type: m.type, external: defined({ metricName: e?.metric.name, metricSelector: e?.metric.selector, currentValue: e?.current.value ?? '0', currentAverageValue: e?.current.averageValue }) };
    }
    default:
      return { type: m.type };
  }
}

function metricStatusFromV1(m: Json): MetricStatus {
  const type = str(m.type) ?? '';
  const current = (o: Json): MetricValueStatus => defined<MetricValueStatus>(o);
  switch (type) {
    case 'Resource': {
      const r = obj(m.resource);
      return { type, resource: { name: str(r.name) ?? '', current: current({ averageUtilization: num(r.currentAverageUtilization), averageValue: str(r.currentAverageValue) ?? '0' }) } };
    }
    case 'ContainerResource': {
      const r = obj(m.containerResource);
      return { type, containerResource: { name: str(r.name) ?? '', container: str(r.container) ?? '', current: current({ averageUtilization: num(r.currentAverageUtilization), averageValue: str(r.currentAverageValue) ?? '0' }) } };
    }
    case 'Pods': {
      const p = obj(m.pods);
      return { type, pods: { metric: identifier(p.metricName, p.selector), current: current({ averageValue: str(p.currentAverageValue) ?? '0' }) } };
    }
    case 'Object': {
      const o = obj(m.object);
      return {
        type,
        object: {
          describedObject: o.target as NonNullable<MetricStatus['object']>['describedObject'],
          metric: identifier(o.metricName, o.selector),
          current: current({ value: str(o.currentValue) ?? '0', averageValue: str(o.averageValue) }),
        },
      };
    }
    case 'External': {
      const e = obj(m.external);
      return {
        type,
        external: { metric: identifier(e.metricName, e.metricSelector), current: current({ value: str(e.currentValue) ?? '0', averageValue: str(e.currentAverageValue) }) },
      };
    }
    default:
      return { type };
  }
}

/** spec.behavior as upstream's annotation holds it: its internal type marshalled, so Go's field names */
function behaviorToInternal(b: HorizontalPodAutoscalerBehavior): Json {
  const rules = (r: HPAScalingRules | undefined): Json | undefined =>
    r && defined({ StabilizationWindowSeconds: r.stabilizationWindowSeconds, SelectPolicy: r.selectPolicy, Policies: r.policies?.map((p) => ({ Type: p.type, Value: p.value, PeriodSeconds: p.periodSeconds })) });
  return defined({ ScaleUp: rules(b.scaleUp), ScaleDown: rules(b.scaleDown) });
}

/** the annotation's behavior back (field names matched without regard to case, as Go's decoder does); none when it says nothing */
function behaviorFromInternal(b: Json | undefined): HorizontalPodAutoscalerBehavior | undefined {
  if (!b) return undefined;
  const get = (o: Json, name: string): unknown => Object.entries(o).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  const rules = (v: unknown): HPAScalingRules | undefined => {
    if (typeof v !== 'object' || v === null) return undefined;
    const r = v as Json;
    const policies = get(r, 'Policies');
    const out = defined({
      stabilizationWindowSeconds: num(get(r, 'StabilizationWindowSeconds')),
      selectPolicy: str(get(r, 'SelectPolicy')),
      policies: Array.isArray(policies)
        ? policies.map((p) => {
            const q = obj(p);
            return { type: str(get(q, 'Type')) ?? '', value: num(get(q, 'Value')) ?? 0, periodSeconds: num(get(q, 'PeriodSeconds')) ?? 0 };
          })
        : undefined,
    });
    return out as HPAScalingRules;
  };
  const out = defined({ scaleUp: rules(get(b, 'ScaleUp')), scaleDown: rules(get(b, 'ScaleDown')) });
  return Object.keys(out).length > 0 ? (out as HorizontalPodAutoscalerBehavior) : undefined;
}

export const hpaV1Conversion: VersionConversion = {
  storageApiVersion: V2,
  fromStorage: hpaToV1,
  toStorage: hpaFromV1,
};

/**
 * The autoscaling/v1 ResourceDef beside the stored v2 one: the same storage, defaults, validation
 * and table, each applied to the v2 object the v1 one converts to (validation errors then name v2's
 * fields, as upstream's, which validates its internal type).
 */
export function horizontalPodAutoscalerV1Def(v2: ResourceDef): ResourceDef {
  const asV2 = (o: KubeObject): KubeObject => hpaFromV1(jsonClone(o));
  const def = builtinDef({
    group: 'autoscaling',
    version: 'v1',
    namespaced: true,
    kind: v2.kind,
    plural: v2.plural,
    singular: v2.singular,
    shortNames: v2.shortNames,
    categories: v2.categories,
    subresources: v2.subresources,
    hasStatus: v2.hasStatus,
    conversion: hpaV1Conversion,
    // v1's SetDefaults: minReplicas 1 (v2's metrics default is what the conversion of "no target" gets on the way to storage)
    defaults(obj) {
      const spec = (obj as unknown as HpaV1).spec;
      if (spec) spec.minReplicas ??= 1;
    },
    ...(v2.table ? { table: { columns: v2.table.columns, row: (obj, now) => v2.table!.row(asV2(obj), now) } } : {}),
  });
  const validate = v2.validate;
  return { ...def, validate: validate ? (obj, old) => validate(asV2(obj), old && asV2(old)) : def.validate };
}
