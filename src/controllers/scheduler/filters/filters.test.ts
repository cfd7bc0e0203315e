import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeObject, PodObject } from '../../common/types.ts';
import { makeNode, makePod } from '../../testing/objects.ts';
import { NodeInfo, podInfo } from '../node-info.ts';
import {
  nodeAffinity,
  nodePorts,
  nodeReady,
  nodeResourcesFit,
  nodeUnschedulable,
  runtimeHandler,
  taintToleration,
  type CycleState,
  type Filter,
} from './index.ts';

function run(f: Filter, pod: PodObject, node: NodeObject, opts: { existing?: PodObject[]; handler?: string } = {}): string[] {
  const ni = new NodeInfo(node.metadata.name ?? '');
  ni.setNode(node);
  for (const p of opts.existing ?? []) ni.addPod(podInfo(p));
  const pi = podInfo(pod);
  const cycle: CycleState = {};
  f.prepare?.({ pod: pi, nodes: [ni], namespaceLabels: () => undefined }, cycle);
  return f.filter({ pod: pi, nodeInfo: ni, node, runtimeHandler: opts.handler, cycle });
}

test('NodeReady: only Ready=True passes', () => {
  assert.deepEqual(run(nodeReady, makePod('p'), makeNode('n')), []);
  for (const ready of ['False', 'Unknown', 'absent'] as const) {
    assert.deepEqual(run(nodeReady, makePod('p'), makeNode('n', { ready })), ['node(s) were not ready']);
  }
});

test('NodeUnschedulable: cordoned nodes only for pods tolerating the unschedulable taint', () => {
  const n = makeNode('n', { unschedulable: true });
  assert.deepEqual(run(nodeUnschedulable, makePod('p'), n), ['node(s) were unschedulable']);
  const tol = makePod('p', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] });
  assert.deepEqual(run(nodeUnschedulable, tol, n), []);
  assert.deepEqual(run(nodeUnschedulable, makePod('p'), makeNode('m')), []);
});

test('NodeAffinity: nodeSelector', () => {
  const n = makeNode('n', { labels: { zone: 'a' } });
  assert.deepEqual(run(nodeAffinity, makePod('p', { nodeSelector: { zone: 'a' } }), n), []);
  assert.deepEqual(run(nodeAffinity, makePod('p', { nodeSelector: { zone: 'b' } }), n), ["node(s) didn't match Pod's node affinity/selector"]);
  assert.deepEqual(run(nodeAffinity, makePod('p', { nodeSelector: { other: 'a' } }), n).length, 1);
});

test('NodeAffinity: required terms with every operator, ORed terms, matchFields', () => {
  const n = makeNode('edge-1', { labels: { zone: 'a', cores: '8' } });
  const fits = (terms: NonNullable<NonNullable<NonNullable<PodObject['spec']>['affinity']>['nodeAffinity']>['requiredDuringSchedulingIgnoredDuringExecution']): boolean =>
    run(nodeAffinity, makePod('p', { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: terms } } }), n).length === 0;
  const one = (key: string, operator: string, values?: string[]) => ({ nodeSelectorTerms: [{ matchExpressions: [{ key, operator, values }] }] });
  assert.equal(fits(one('zone', 'In', ['a', 'b'])), true);
  assert.equal(fits(one('zone', 'In', ['b'])), false);
  assert.equal(fits(one('zone', 'NotIn', ['b'])), true);
  assert.equal(fits(one('zone', 'NotIn', ['a'])), false);
  assert.equal(fits(one('missing', 'NotIn', ['a'])), true);
  assert.equal(fits(one('zone', 'Exists')), true);
  assert.equal(fits(one('missing', 'Exists')), false);
  assert.equal(fits(one('missing', 'DoesNotExist')), true);
  assert.equal(fits(one('zone', 'DoesNotExist')), false);
  assert.equal(fits(one('cores', 'Gt', ['4'])), true);
  assert.equal(fits(one('cores', 'Gt', ['8'])), false);
  assert.equal(fits(one('cores', 'Lt', ['16'])), true);
  assert.equal(fits(one('zone', 'Lt', ['16'])), false, 'non-integer label never matches Gt/Lt');
  assert.equal(fits({ nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['x'] }] }, { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] }), true);
  assert.equal(fits({ nodeSelectorTerms: [{}] }), false, 'an empty term selects nothing');
  assert.equal(fits({ nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['edge-1'] }] }] }), true);
  assert.equal(fits({ nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['edge-1'] }] }] }), false);
  assert.equal(fits({ nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }], matchFields: [{ key: 'metadata.name', operator: 'In', values: ['other'] }] }] }), false, 'expressions and fields are ANDed');
});

test('TaintToleration: NoSchedule/NoExecute need a toleration; PreferNoSchedule does not filter', () => {
  const n = makeNode('n', { taints: [{ key: 'dedicated', value: 'edge', effect: 'NoSchedule' }] });
  assert.deepEqual(run(taintToleration, makePod('p'), n), ['node(s) had untolerated taint {dedicated: edge}']);
  assert.deepEqual(run(taintToleration, makePod('p', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'edge', effect: 'NoSchedule' }] }), n), []);
  assert.deepEqual(run(taintToleration, makePod('p', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'cloud' }] }), n).length, 1);
  assert.deepEqual(run(taintToleration, makePod('p', { tolerations: [{ operator: 'Exists' }] }), n), [], 'empty key + Exists tolerates all');
  assert.deepEqual(run(taintToleration, makePod('p', { tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }] }), n).length, 1, 'effect must match');
  const ne = makeNode('n', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] });
  assert.deepEqual(run(taintToleration, makePod('p'), ne), ['node(s) had untolerated taint {node.kubernetes.io/unreachable: }']);
  assert.deepEqual(run(taintToleration, makePod('p'), makeNode('n', { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] })), []);
});

test('NodeResourcesFit: cpu, memory, pods count, ephemeral-storage, overhead, existing pods', () => {
  const n = makeNode('n', { cpu: '2', memory: '1Gi', pods: '2', ephemeralStorage: '1Gi' });
  assert.deepEqual(run(nodeResourcesFit, makePod('p', { cpu: '2', memory: '1Gi' }), n), []);
  assert.deepEqual(run(nodeResourcesFit, makePod('p', { cpu: '2001m' }), n), ['Insufficient cpu']);
  assert.deepEqual(run(nodeResourcesFit, makePod('p', { cpu: '1', memory: '513Mi' }), n, { existing: [makePod('e', { cpu: '1', memory: '512Mi', nodeName: 'n' })] }), ['Insufficient memory']);
  assert.deepEqual(run(nodeResourcesFit, makePod('p'), n, { existing: [makePod('a', { nodeName: 'n' }), makePod('b', { nodeName: 'n' })] }), ['Too many pods']);
  assert.deepEqual(run(nodeResourcesFit, makePod('p', { cpu: '1', overhead: { cpu: '1001m' } }), n), ['Insufficient cpu'], 'overhead counts');
  const eph = makePod('p', { containers: [{ name: 'c', resources: { requests: { 'ephemeral-storage': '2Gi' } } }] });
  assert.deepEqual(run(nodeResourcesFit, eph, n), ['Insufficient ephemeral-storage']);
  assert.deepEqual(run(nodeResourcesFit, makePod('p', { cpu: '3', memory: '2Gi' }), n), ['Insufficient cpu', 'Insufficient memory']);
});

test('NodePorts: same protocol+port conflicts, 0.0.0.0 conflicts with any address', () => {
  const n = makeNode('n');
  const existing = [makePod('e', { hostPort: 8080, nodeName: 'n' })];
  assert.deepEqual(run(nodePorts, makePod('p', { hostPort: 8080 }), n, { existing }), ["node(s) didn't have free ports for the requested pod ports"]);
  assert.deepEqual(run(nodePorts, makePod('p', { hostPort: 8081 }), n, { existing }), []);
  const udp = makePod('p', { containers: [{ name: 'c', ports: [{ containerPort: 1, hostPort: 8080, protocol: 'UDP' }] }] });
  assert.deepEqual(run(nodePorts, udp, n, { existing }), []);
  const specific = makePod('p', { containers: [{ name: 'c', ports: [{ containerPort: 1, hostPort: 8080, hostIP: '10.0.0.1' }] }] });
  assert.equal(run(nodePorts, specific, n, { existing }).length, 1);
  const other = makePod('o', { nodeName: 'n', containers: [{ name: 'c', ports: [{ containerPort: 1, hostPort: 9000, hostIP: '10.0.0.2' }] }] });
  const sameIp = makePod('p', { containers: [{ name: 'c', ports: [{ containerPort: 1, hostPort: 9000, hostIP: '10.0.0.3' }] }] });
  assert.deepEqual(run(nodePorts, sameIp, n, { existing: [other] }), [], 'different specific addresses do not conflict');
  assert.equal(run(nodePorts, makePod('p', { hostPort: 9000 }), n, { existing: [other] }).length, 1);
});

test('RuntimeHandler: listed handlers; no list means runc only; no RuntimeClass fits anywhere', () => {
  const gv = makeNode('n', { handlers: ['', 'runc', 'gvisor'] });
  const plain = makeNode('m');
  assert.deepEqual(run(runtimeHandler, makePod('p'), plain), []);
  assert.deepEqual(run(runtimeHandler, makePod('p'), gv, { handler: 'gvisor' }), []);
  assert.deepEqual(run(runtimeHandler, makePod('p'), plain, { handler: 'gvisor' }), ['node(s) didn\'t offer runtime handler "gvisor"']);
  assert.deepEqual(run(runtimeHandler, makePod('p'), plain, { handler: 'runc' }), []);
  assert.equal(run(runtimeHandler, makePod('p'), gv, { handler: 'microvm' }).length, 1);
});
