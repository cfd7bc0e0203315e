import type { HorizontalPodAutoscaler, MetricSpec, MetricStatus, MetricTarget, MetricValueStatus } from 'kubernetes-types/autoscaling/v2.js';
import type { TableDef } from '../resources/types.ts';
import { formatQuantity, tryParseQuantity } from '../meta/quantity.ts';
import { ageColumn, column, nameColumn } from './columns.ts';
import { since } from './duration.ts';

/** Quantity.String(): the canonical form of a stored quantity (as written when it does not parse). */
function quantity(v: string | number | undefined): string {
  if (v === undefined) return '<unknown>';
  const q = tryParseQuantity(String(v));
  return typeof q === 'string' ? String(v) : formatQuantity(q);
}

const UNKNOWN = '<unknown>';

/** "current/target" for a Value/AverageValue target ("(avg)" for External and Object averages). */
function valuePair(target: MetricTarget, current: MetricValueStatus | undefined, avgSuffix: boolean): string {
  if (target.averageValue !== undefined) {
    const cur = current?.averageValue === undefined ? UNKNOWN : quantity(current.averageValue);
    return `${cur}/${quantity(target.averageValue)}${avgSuffix ? ' (avg)' : ''}`;
  }
  const cur = current === undefined ? UNKNOWN : quantity(current.value);
  return `${cur}/${quantity(target.value)}`;
}

/** "cpu: 45%/50%" for a (container) resource metric, or "memory: 100Mi/200Mi" for an AverageValue one. */
function resourcePair(name: string, target: MetricTarget, current: MetricValueStatus | undefined): string {
  if (target.averageValue !== undefined) return `${name}: ${current === undefined ? UNKNOWN : quantity(current.averageValue)}/${quantity(target.averageValue)}`;
  const cur = current?.averageUtilization === undefined ? UNKNOWN : `${current.averageUtilization}%`;
  const tgt = target.averageUtilization === undefined ? '<auto>' : `${target.averageUtilization}%`;
  return `${name}: ${cur}/${tgt}`;
}

function metricCell(spec: MetricSpec, status: MetricStatus | undefined): string {
  switch (spec.type) {
    case 'External':
      return spec.external ? valuePair(spec.external.target, status?.external?.current, spec.external.target.averageValue !== undefined) : '<unknown type>';
    case 'Pods':
      return spec.pods ? `${status?.pods?.current.averageValue === undefined ? UNKNOWN : quantity(status.pods.current.averageValue)}/${quantity(spec.pods.target.averageValue)}` : '<unknown type>';
    case 'Object':
      return spec.object ? valuePair(spec.object.target, status?.object?.current, spec.object.target.averageValue !== undefined) : '<unknown type>';
    case 'Resource':
      return spec.resource ? resourcePair(spec.resource.name, spec.resource.target, status?.resource?.current) : '<unknown type>';
    case 'ContainerResource':
      return spec.containerResource ? resourcePair(spec.containerResource.name, spec.containerResource.target, status?.containerResource?.current) : '<unknown type>';
    default:
      return '<unknown type>';
  }
}

/**
 * formatHPAMetrics of pkg/printers/internalversion: each spec metric beside the status metric at the
 * same index, the first two shown, then "+ N more...".
 */
export function formatHpaMetrics(specs: MetricSpec[] | undefined, statuses: MetricStatus[] | undefined): string {
  if (!specs || specs.length === 0) return '<none>';
  const list = specs.map((s, i) => metricCell(s, statuses?.[i]));
  const shown = list.slice(0, 2).join(', ');
  return list.length > 2 ? `${shown} + ${list.length - 2} more...` : shown;
}

/** printHorizontalPodAutoscaler: what `kubectl get hpa` shows. */
export const horizontalPodAutoscalerTable: TableDef = {
  columns: [
    nameColumn(),
    column('Reference', 'scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.'),
    column('Targets', 'metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).'),
    column('MinPods', 'minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.'),
    column('MaxPods', 'maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. It cannot be less that minReplicas.', { type: 'integer' }),
    column('Replicas', 'currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.', { type: 'integer' }),
    ageColumn(),
  ],
  row(obj, now) {
    const h = obj as unknown as HorizontalPodAutoscaler;
    const ref = h.spec?.scaleTargetRef;
    return [
      obj.metadata?.name ?? '',
      `${ref?.kind ?? ''}/${ref?.name ?? ''}`,
      formatHpaMetrics(h.spec?.metrics, h.status?.currentMetrics),
      h.spec?.minReplicas === undefined ? '<unset>' : String(h.spec.minReplicas),
      h.spec?.maxReplicas ?? 0,
      h.status?.currentReplicas ?? 0,
      since(obj.metadata?.creationTimestamp, now),
    ];
  },
};
