import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MetricSpec, MetricStatus } from 'kubernetes-types/autoscaling/v2.js';
import type { KubeObject } from '../object.ts';
import { formatHpaMetrics, horizontalPodAutoscalerTable } from './autoscaling.ts';

const now = new Date('2024-01-03T00:00:00Z');
const cpu = (target: number): MetricSpec => ({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: target } } });

test('kubectl get hpa: reference, targets with current utilization, min/max/current replicas', () => {
  const hpa: KubeObject = {
    metadata: { name: 'web', creationTimestamp: '2024-01-02T23:58:00Z' },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 5, metrics: [cpu(50)] },
    status: { currentReplicas: 3, desiredReplicas: 3, currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 73, averageValue: '146m' } } }] },
  };
  assert.deepEqual(horizontalPodAutoscalerTable.row(hpa, now), ['web', 'Deployment/web', 'cpu: 73%/50%', '1', 5, 3, '2m']);
  assert.deepEqual(horizontalPodAutoscalerTable.columns.map((c) => c.name), ['Name', 'Reference', 'Targets', 'MinPods', 'MaxPods', 'Replicas', 'Age']);
  // before the first reconcile: no status yet
  const fresh = horizontalPodAutoscalerTable.row({ metadata: { name: 'web' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, maxReplicas: 2, metrics: [cpu(80)] } }, now);
  assert.deepEqual(fresh.slice(2, 6), ['cpu: <unknown>/80%', '<unset>', 2, 0]);
});

test('formatHPAMetrics: every metric source the way upstream prints it, two shown then "+ N more..."', () => {
  assert.equal(formatHpaMetrics(undefined, undefined), '<none>');
  const specs: MetricSpec[] = [
    { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '200Mi' } } },
    { type: 'Pods', pods: { metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '1000m' } } },
    { type: 'Object', object: { describedObject: { kind: 'Service', name: 's' }, metric: { name: 'rps' }, target: { type: 'Value', value: '10k' } } },
    { type: 'External', external: { metric: { name: 'queue' }, target: { type: 'AverageValue', averageValue: '30' } } },
    { type: 'ContainerResource', containerResource: { name: 'cpu', container: 'app', target: { type: 'Utilization' } } },
  ];
  const statuses: MetricStatus[] = [
    { type: 'Resource', resource: { name: 'memory', current: { averageValue: '104857600' } } },
    { type: 'Pods', pods: { metric: { name: 'qps' }, current: { averageValue: '1500m' } } },
  ];
  const cells = specs.map((s, i) => formatHpaMetrics([s], i < statuses.length ? [statuses[i]!] : []));
  assert.deepEqual(cells, ['memory: 104857600/200Mi', '1500m/1', '<unknown>/10k', '<unknown>/30 (avg)', 'cpu: <unknown>/<auto>']);
  assert.equal(formatHpaMetrics(specs, statuses), 'memory: 104857600/200Mi, 1500m/1 + 3 more...');
});
