import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeNode, makePod } from '../testing/objects.ts';
import { NodeInfo, podInfo } from './node-info.ts';
import { leastAllocatedScore, scoreNodes, spreadScore } from './scores.ts';

const ni = (name: string, o: Parameters<typeof makeNode>[1], pods: ReturnType<typeof makePod>[] = []): NodeInfo => {
  const n = new NodeInfo(name);
  n.setNode(makeNode(name, o));
  for (const p of pods) n.addPod(podInfo(p));
  return n;
};

test('least-allocated prefers the emptier node', () => {
  const pod = podInfo(makePod('p', { cpu: '1', memory: '1Gi' }));
  const empty = ni('a', { cpu: '4', memory: '4Gi' });
  const busy = ni('b', { cpu: '4', memory: '4Gi' }, [makePod('x', { cpu: '2', memory: '2Gi', nodeName: 'b' })]);
  assert.equal(leastAllocatedScore(pod, empty), 75);
  assert.equal(leastAllocatedScore(pod, busy), 25);
  assert.deepEqual(scoreNodes(pod, [busy, empty]).map((s) => s.name), ['a', 'b']);
});

test('spreading: fewer pods of the same owner wins even when resources say otherwise', () => {
  const pod = podInfo(makePod('p', { ownerUid: 'rs1' }));
  const a = ni('a', { cpu: '8', memory: '16Gi' }, [makePod('x', { ownerUid: 'rs1', nodeName: 'a' }), makePod('y', { ownerUid: 'rs1', nodeName: 'a' })]);
  const b = ni('b', { cpu: '2', memory: '4Gi' });
  assert.equal(spreadScore(pod, a, 2), 0);
  assert.equal(spreadScore(pod, b, 2), 100);
  assert.equal(scoreNodes(pod, [a, b])[0].name, 'b');
  // no owner, same labels: counted the same way
  const lp = podInfo(makePod('q', { labels: { app: 'web' } }));
  const c = ni('c', {}, [makePod('w', { labels: { app: 'web' }, nodeName: 'c' })]);
  const d = ni('d', {});
  assert.equal(scoreNodes(lp, [c, d])[0].name, 'd');
});

test('PreferNoSchedule taints lower the score unless tolerated', () => {
  const tainted = ni('a', { taints: [{ key: 'k', effect: 'PreferNoSchedule' }] });
  const clean = ni('b', {});
  assert.equal(scoreNodes(podInfo(makePod('p')), [tainted, clean])[0].name, 'b');
  const tol = podInfo(makePod('p', { tolerations: [{ key: 'k', operator: 'Exists' }] }));
  assert.equal(scoreNodes(tol, [tainted, clean])[0].name, 'a', 'equal scores: name breaks the tie');
});
