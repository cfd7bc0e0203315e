import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../object.ts';
import { evaluatorFor, quotaMatches, quotaScopes } from './evaluators.ts';
import { podConstraintError, podMatchesScope } from './pod-usage.ts';
import { formatAmounts } from './resource-list.ts';
import { resourceQuotaTable } from '../table/quota.ts';

const now = new Date('2025-01-01T00:00:00Z');
const podEv = evaluatorFor('', 'pods')!;
const usage = (obj: unknown): Record<string, string> => formatAmounts(podEv.usage(obj as KubeObject, now));

describe('quota evaluators', () => {
  it('pod usage: containers and sidecars add up, an init container counts with the sidecars before it, the larger wins, overhead on top', () => {
    const pod = {
      metadata: { name: 'p' },
      spec: {
        overhead: { cpu: '50m', memory: '20Mi' },
        initContainers: [
          { name: 'sidecar', restartPolicy: 'Always', resources: { requests: { cpu: '100m' } } },
          { name: 'setup', resources: { requests: { cpu: '2', memory: '1Gi' }, limits: { cpu: '2' } } },
        ],
        containers: [
          { name: 'a', resources: { requests: { cpu: '250m', memory: '128Mi', 'example.com/gpu': '1', 'hugepages-2Mi': '4Mi' }, limits: { cpu: '500m', memory: '256Mi' } } },
          { name: 'b', resources: { requests: { cpu: '250m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } } },
        ],
      },
    };
    assert.deepEqual(usage(pod), {
      'count/pods': '1',
      cpu: '2150m', // max(600m, 2 + 100m) + 50m
      'hugepages-2Mi': '4Mi',
      'limits.cpu': '2050m', // max(1, 2) + overhead, the pod has a cpu limit
      'limits.memory': '532Mi', // 512Mi + overhead
      memory: '1044Mi', // max(256Mi, 1Gi) + 20Mi
      pods: '1',
      'requests.cpu': '2150m',
      'requests.example.com/gpu': '1',
      'requests.hugepages-2Mi': '4Mi',
      'requests.memory': '1044Mi',
    });
  });

  it('a terminal pod, or one past its deletion grace, only counts as an object', () => {
    const base = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', resources: { requests: { cpu: '1' } } }] } };
    assert.deepEqual(usage({ ...base, status: { phase: 'Succeeded' } }), { 'count/pods': '1' });
    assert.deepEqual(usage({ ...base, status: { phase: 'Failed' } }), { 'count/pods': '1' });
    const leaving = { ...base, metadata: { name: 'p', deletionTimestamp: '2024-12-31T23:59:00Z', deletionGracePeriodSeconds: 30 } };
    assert.deepEqual(usage(leaving), { 'count/pods': '1' });
    assert.equal(usage({ ...base, status: { phase: 'Running' } }).pods, '1');
  });

  it('constraints name each missing resource with its containers, as upstream', () => {
    const pod = { spec: { containers: [{ name: 'b', resources: { requests: { cpu: '1' } } }, { name: 'a' }], initContainers: [{ name: 'init' }] } } as Pod;
    assert.equal(podConstraintError(pod, ['requests.cpu', 'limits.cpu', 'pods', 'requests.storage']), 'must specify limits.cpu for: a,b,init; requests.cpu for: a,init');
    assert.equal(podConstraintError(pod, ['pods', 'requests.ephemeral-storage']), undefined, 'only cpu and memory are required');
  });

  it('scopes: Terminating, BestEffort and PriorityClass selectors; other kinds are in no scope', () => {
    const be = { spec: { containers: [{ name: 'c' }] } } as Pod;
    const job = { spec: { activeDeadlineSeconds: 10, priorityClassName: 'high', containers: [{ name: 'c', resources: { limits: { memory: '1Gi' } } }] } } as Pod;
    assert.deepEqual(['Terminating', 'NotTerminating', 'BestEffort', 'NotBestEffort'].map((s) => podMatchesScope({ scopeName: s, operator: 'Exists' }, be)), [false, true, true, false]);
    assert.deepEqual(['Terminating', 'NotTerminating', 'BestEffort', 'NotBestEffort'].map((s) => podMatchesScope({ scopeName: s, operator: 'Exists' }, job)), [true, false, false, true]);
    assert.equal(podMatchesScope({ scopeName: 'PriorityClass', operator: 'In', values: ['high'] }, job), true);
    assert.equal(podMatchesScope({ scopeName: 'PriorityClass', operator: 'NotIn', values: ['high'] }, job), false);
    assert.equal(podMatchesScope({ scopeName: 'PriorityClass', operator: 'NotIn', values: ['high'] }, be), true);
    const q = { metadata: { name: 'q' }, spec: { scopes: ['BestEffort'], scopeSelector: { matchExpressions: [{ scopeName: 'PriorityClass', operator: 'DoesNotExist' }] } } } as KubeObject;
    assert.deepEqual(quotaScopes(q).map((s) => `${s.scopeName}/${s.operator}`), ['BestEffort/Exists', 'PriorityClass/DoesNotExist']);
    assert.equal(quotaMatches(podEv, ['pods'], quotaScopes(q), be as KubeObject), true);
    assert.equal(quotaMatches(podEv, ['pods'], quotaScopes(q), job as KubeObject), false);
    const svcEv = evaluatorFor('', 'services')!;
    assert.equal(quotaMatches(svcEv, ['services'], quotaScopes(q), { metadata: {} }), false);
  });

  it('services count node ports and load balancers by intent; other kinds by count/ and their classic names; events not at all', () => {
    const svcEv = evaluatorFor('', 'services')!;
    const svc = (spec: Record<string, unknown>) => formatAmounts(svcEv.usage({ metadata: {}, spec } as KubeObject, now));
    assert.deepEqual(svc({ type: 'LoadBalancer', ports: [{ port: 80 }, { port: 443 }] }), { 'count/services': '1', services: '1', 'services.loadbalancers': '1', 'services.nodeports': '2' });
    assert.deepEqual(svc({ type: 'ClusterIP', ports: [{ port: 80 }] }), { 'count/services': '1', services: '1', 'services.loadbalancers': '0', 'services.nodeports': '0' });
    assert.equal(svcEv.chargesUpdates, true);
    assert.deepEqual(formatAmounts(evaluatorFor('', 'configmaps')!.usage({ metadata: {} }, now)), { configmaps: '1', 'count/configmaps': '1' });
    assert.deepEqual(formatAmounts(evaluatorFor('apps', 'deployments')!.usage({ metadata: {} }, now)), { 'count/deployments.apps': '1' });
    assert.equal(evaluatorFor('', 'events'), undefined);
  });

  it('kubectl get quota: Request and Limit columns of used/hard in name order', () => {
    const row = resourceQuotaTable.row(
      { metadata: { name: 'q', creationTimestamp: '2024-12-31T23:00:00Z' }, spec: { hard: { pods: '10', 'limits.cpu': '2', 'requests.memory': '1Gi' } }, status: { hard: { pods: '10', 'limits.cpu': '2', 'requests.memory': '1Gi' }, used: { pods: '1', 'limits.cpu': '500m' } } } as KubeObject,
      now,
    );
    assert.deepEqual(row, ['q', '60m', 'pods: 1/10, requests.memory: 0/1Gi', 'limits.cpu: 500m/2']);
  });

  it('claim usage: the count and storage request, overall and under its class', () => {
    const ev = evaluatorFor('', 'persistentvolumeclaims')!;
    const pvc = { metadata: { name: 'data' }, spec: { storageClassName: 'local-path', resources: { requests: { storage: '2Gi' } } } } as unknown as KubeObject;
    assert.deepEqual(formatAmounts(ev.usage(pvc, now)), {
      'count/persistentvolumeclaims': '1',
      'local-path.storageclass.storage.k8s.io/persistentvolumeclaims': '1',
      'local-path.storageclass.storage.k8s.io/requests.storage': '2Gi',
      persistentvolumeclaims: '1',
      'requests.storage': '2Gi',
    });
    assert.deepEqual(ev.matchingResources(['requests.storage', 'fast.storageclass.storage.k8s.io/requests.storage', 'pods', 'requests.cpu']), ['requests.storage', 'fast.storageclass.storage.k8s.io/requests.storage']);
    assert.equal(ev.chargesUpdates, true);
  });
});
