import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitErrorMessage } from './fit-error.ts';

test('histogram of reasons, sorted, like upstream FitError', () => {
  const m = new Map([
    ['a', ['Insufficient cpu']],
    ['b', ['node(s) had untolerated taint {node.kubernetes.io/unreachable: }']],
    ['c', ['node(s) had untolerated taint {node.kubernetes.io/unreachable: }']],
  ]);
  assert.equal(fitErrorMessage(3, m), '0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.');
  assert.equal(
    fitErrorMessage(1, new Map([['a', ['Insufficient cpu', 'Insufficient memory']]])),
    '0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.',
  );
  assert.equal(fitErrorMessage(0, new Map()), 'no nodes available to schedule pods');
  assert.equal(fitErrorMessage(2, new Map(), 'runtimeclass.node.k8s.io "x" not found'), '0/2 nodes are available: runtimeclass.node.k8s.io "x" not found.');
});
