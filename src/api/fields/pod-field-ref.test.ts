import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { isHedgeError } from '../../lib/errors.ts';
import { formatMap, podFieldRefValue } from './pod-field-ref.ts';

const pod: Pod = {
  metadata: { name: 'p', namespace: 'ns', uid: 'u', labels: { b: '2', a: 'x"y' }, annotations: { 'k/v': 'w' } },
  spec: { nodeName: 'edge-1', serviceAccountName: 'sa', containers: [] },
};

test('pod fieldRef: metadata paths resolve alike for env and volumes', () => {
  for (const scope of [{ kind: 'env' as const }, { kind: 'volume' as const }]) {
    assert.equal(podFieldRefValue(pod, 'metadata.name', scope), 'p');
    assert.equal(podFieldRefValue(pod, "metadata.labels['b']", scope), '2');
    assert.equal(podFieldRefValue(pod, "metadata.annotations['k/v']", scope), 'w');
    assert.equal(podFieldRefValue(pod, 'metadata.labels', scope), 'a="x\\"y"\nb="2"');
  }
  assert.equal(formatMap(undefined), '');
});

test('pod fieldRef: spec and status paths are for env only', () => {
  assert.equal(podFieldRefValue(pod, 'spec.nodeName', { kind: 'env' }), 'edge-1');
  assert.equal(podFieldRefValue(pod, 'status.podIP', { kind: 'env', podIP: '10.0.0.2' }), '10.0.0.2');
  assert.throws(() => podFieldRefValue(pod, 'spec.nodeName', { kind: 'volume' }), (e: unknown) => isHedgeError(e, 'Invalid'));
  assert.throws(() => podFieldRefValue(pod, 'spec.nope', { kind: 'env' }), (e: unknown) => isHedgeError(e, 'Invalid'));
});
