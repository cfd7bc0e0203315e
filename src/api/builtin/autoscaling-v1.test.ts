import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { HorizontalPodAutoscaler as HpaV1 } from 'kubernetes-types/autoscaling/v1.js';
import type { HorizontalPodAutoscaler as HpaV2 } from 'kubernetes-types/autoscaling/v2.js';
import type { KubeObject } from '../object.ts';
import { HPA_BEHAVIOR_ANNOTATION, HPA_CONDITIONS_ANNOTATION, HPA_CURRENT_METRICS_ANNOTATION, HPA_METRICS_ANNOTATION, hpaFromV1, hpaToV1 } from './autoscaling-v1.ts';

const ref = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' };
const v2 = (spec: Partial<NonNullable<HpaV2['spec']>>, status?: HpaV2['status'], annotations?: Record<string, string>): KubeObject =>
  ({
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', namespace: 'default', resourceVersion: '7', ...(annotations ? { annotations } : {}) },
    spec: { scaleTargetRef: ref, maxReplicas: 5, ...spec },
    ...(status ? { status } : {}),
  }) as unknown as KubeObject;
const cpu = (n: number) => ({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: n } } });

it('a CPU-only v2 HPA reads as plain v1: the target as targetCPUUtilizationPercentage, no annotations, resourceVersion kept', () => {
  const out = hpaToV1(v2({ minReplicas: 2, metrics: [cpu(60)] }, { currentReplicas: 3, desiredReplicas: 4, observedGeneration: 2, currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 71, averageValue: '250m' } } }] })) as unknown as HpaV1;
  assert.equal(out.apiVersion, 'autoscaling/v1');
  assert.deepEqual(out.spec, { scaleTargetRef: ref, minReplicas: 2, maxReplicas: 5, targetCPUUtilizationPercentage: 60 });
  assert.deepEqual(out.status, { observedGeneration: 2, currentReplicas: 3, desiredReplicas: 4, currentCPUUtilizationPercentage: 71 });
  assert.equal(out.metadata?.resourceVersion, '7');
  // the status's metric is kept raw (upstream keeps it even when it maps to the percentage)
  assert.deepEqual(JSON.parse(out.metadata?.annotations?.[HPA_CURRENT_METRICS_ANNOTATION] ?? ''), [{ type: 'Resource', resource: { name: 'cpu', currentAverageUtilization: 71, currentAverageValue: '250m' } }]);
});

it("what v1 cannot say rides in upstream's annotations and comes back whole on a v1 write", () => {
  const behavior = { scaleDown: { stabilizationWindowSeconds: 120, selectPolicy: 'Min', policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }] } };
  const metrics = [
    { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '200Mi' } } },
    { type: 'Pods', pods: { metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '10' } } },
    { type: 'External', external: { metric: { name: 'queue', selector: { matchLabels: { q: 'jobs' } } }, target: { type: 'Value', value: '30' } } },
    { type: 'Object', object: { describedObject: { kind: 'Service', name: 's', apiVersion: 'v1' }, metric: { name: 'rps' }, target: { type: 'Value', value: '100' } } },
    { type: 'ContainerResource', containerResource: { name: 'cpu', container: 'app', target: { type: 'Utilization', averageUtilization: 40 } } },
    cpu(50),
  ];
  const conditions = [{ type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', lastTransitionTime: '2026-12-08T00:00:00Z' }];
  const stored = v2({ metrics, behavior }, { desiredReplicas: 1, conditions, currentMetrics: [{ type: 'Pods', pods: { metric: { name: 'qps' }, current: { averageValue: '12' } } }] }, { team: 'a' });
  const read = hpaToV1(stored) as unknown as HpaV1;
  const ann = read.metadata?.annotations ?? {};
  assert.equal(ann.team, 'a');
  assert.equal(read.spec?.targetCPUUtilizationPercentage, 50);
  // upstream's formats: v1 metric shapes, Go field names for the behavior
  assert.deepEqual(JSON.parse(ann[HPA_METRICS_ANNOTATION] ?? '')[0], { type: 'Resource', resource: { name: 'memory', targetAverageValue: '200Mi' } });
  assert.deepEqual(JSON.parse(ann[HPA_METRICS_ANNOTATION] ?? '')[1], { type: 'Pods', pods: { metricName: 'qps', targetAverageValue: '10' } });
  assert.deepEqual(JSON.parse(ann[HPA_BEHAVIOR_ANNOTATION] ?? ''), { ScaleDown: { StabilizationWindowSeconds: 120, SelectPolicy: 'Min', Policies: [{ Type: 'Pods', Value: 2, PeriodSeconds: 60 }] } });
  assert.deepEqual(JSON.parse(ann[HPA_CONDITIONS_ANNOTATION] ?? ''), conditions);

  // a v1 client changes what it sees and writes it back: the rest survives, the annotations go
  read.spec!.maxReplicas = 9;
  const written = hpaFromV1(read as unknown as KubeObject) as unknown as HpaV2;
  assert.equal(written.apiVersion, 'autoscaling/v2');
  assert.deepEqual(written.metadata?.annotations, { team: 'a' });
  assert.equal(written.spec?.maxReplicas, 9);
  assert.deepEqual(written.spec?.metrics, metrics);
  assert.deepEqual(written.spec?.behavior, behavior);
  assert.deepEqual(written.status?.conditions, conditions);
  assert.deepEqual(written.status?.currentMetrics, [{ type: 'Pods', pods: { metric: { name: 'qps' }, current: { averageValue: '12' } } }]);
});

it("a v1 HPA without a target gets v1's implicit 80 % CPU; a bad annotation is ignored, not fatal", () => {
  const v1 = { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'w', annotations: { [HPA_METRICS_ANNOTATION]: '{not json', [HPA_BEHAVIOR_ANNOTATION]: '[]' } }, spec: { scaleTargetRef: ref, maxReplicas: 3 } };
  const out = hpaFromV1(v1 as unknown as KubeObject) as unknown as HpaV2;
  assert.deepEqual(out.spec?.metrics, [cpu(80)]);
  assert.equal(out.spec?.behavior, undefined);
  assert.equal(out.metadata?.annotations, undefined);
});

it('behavior in the annotation is read with field names in any case, as Go decodes it', () => {
  const v1 = { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'w', annotations: { [HPA_BEHAVIOR_ANNOTATION]: '{"scaleUp":{"stabilizationWindowSeconds":30}}' } }, spec: { scaleTargetRef: ref, maxReplicas: 3, targetCPUUtilizationPercentage: 70 } };
  const out = hpaFromV1(v1 as unknown as KubeObject) as unknown as HpaV2;
  assert.deepEqual(out.spec?.behavior, { scaleUp: { stabilizationWindowSeconds: 30 } });
  assert.deepEqual(out.spec?.metrics, [cpu(70)]);
});
