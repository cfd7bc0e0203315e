import type { HorizontalPodAutoscalerSpec, MetricSpec } from 'kubernetes-types/autoscaling/v2.js';
import type { FieldCause } from '../../lib/errors.ts';
import { tryParseQuantity } from '../meta/quantity.ts';
import { index, invalid, notSupported, required } from '../meta/field-errors.ts';
import { present, type KubeObject } from '../object.ts';

/** ValidateHorizontalPodAutoscaler (pkg/apis/autoscaling/validation) for what hedge acts on: resource metrics. */
export function validateHorizontalPodAutoscaler(obj: KubeObject): FieldCause[] {
  const spec = (obj as { spec?: HorizontalPodAutoscalerSpec }).spec;
  const causes: FieldCause[] = [];
  if (!present(spec)) return [required('spec')];
  const ref = spec.scaleTargetRef as HorizontalPodAutoscalerSpec['scaleTargetRef'] | undefined;
  if (!present(ref)) causes.push(required('spec.scaleTargetRef'));
  else {
    if (!ref.kind) causes.push(required('spec.scaleTargetRef.kind'));
    if (!ref.name) causes.push(required('spec.scaleTargetRef.name'));
  }
  const min = spec.minReplicas;
  if (min !== undefined && (!Number.isInteger(min) || min < 1)) causes.push(invalid('spec.minReplicas', min, 'must be greater than or equal to 1'));
  if (!Number.isInteger(spec.maxReplicas) || spec.maxReplicas < 1) causes.push(invalid('spec.maxReplicas', spec.maxReplicas, 'must be greater than 0'));
  else if (min !== undefined && spec.maxReplicas < min) causes.push(invalid('spec.maxReplicas', spec.maxReplicas, 'must be greater than or equal to `minReplicas`'));
  (spec.metrics ?? []).forEach((m, i) => causes.push(...metricCauses(m, index('spec.metrics', i))));
  const windowOk = (v: unknown, path: string): void => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 3600)) causes.push(invalid(path, v, 'must be an integer between 0 and 3600'));
  };
  windowOk(spec.behavior?.scaleUp?.stabilizationWindowSeconds, 'spec.behavior.scaleUp.stabilizationWindowSeconds');
  windowOk(spec.behavior?.scaleDown?.stabilizationWindowSeconds, 'spec.behavior.scaleDown.stabilizationWindowSeconds');
  return causes;
}

const TYPES = ['ContainerResource', 'External', 'Object', 'Pods', 'Resource'];

function metricCauses(m: MetricSpec, path: string): FieldCause[] {
  if (!TYPES.includes(m.type)) return [notSupported(`${path}.type`, m.type, TYPES)];
  if (m.type !== 'Resource' && m.type !== 'ContainerResource') return [];
  const src = m.type === 'Resource' ? m.resource : m.containerResource;
  const p = `${path}.${m.type === 'Resource' ? 'resource' : 'containerResource'}`;
  if (!present(src)) return [required(p)];
  const causes: FieldCause[] = [];
  if (!src.name) causes.push(required(`${p}.name`));
  if (m.type === 'ContainerResource' && !(src as { container?: string }).container) causes.push(required(`${p}.container`));
  const t = src.target as (typeof src)['target'] | undefined;
  if (!present(t)) return [...causes, required(`${p}.target`)];
  switch (t.type) {
    case 'Utilization':
      if (t.averageUtilization === undefined) causes.push(required(`${p}.target.averageUtilization`));
      else if (!Number.isInteger(t.averageUtilization) || t.averageUtilization < 1) causes.push(invalid(`${p}.target.averageUtilization`, t.averageUtilization, 'must be greater than 0'));
      break;
    case 'AverageValue':
      if (t.averageValue === undefined) causes.push(required(`${p}.target.averageValue`));
      else if (typeof tryParseQuantity(String(t.averageValue)) === 'string') causes.push(invalid(`${p}.target.averageValue`, t.averageValue, 'must be a quantity'));
      break;
    default:
      causes.push(notSupported(`${p}.target.type`, t.type, ['AverageValue', 'Utilization']));
  }
  return causes;
}
