import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeNode, makePod } from '../testing/objects.ts';
import { NodeInfo, podInfo, type ClusterTotals } from './node-info.ts';
import { leastAllocatedScore, scoreNodes, spreadScore } from './scores.ts';

/** one scheduler's totals, as its nodes share them */
const totals: ClusterTotals = { podsWithAffinity: 0, podsWithRequiredAntiAffinity: 0 };
const ni = (name: string, o: Parameters<typeof makeNode>[1], pods: ReturnType<typeof makePod>[] = []): NodeInfo => {
  const n = new NodeInfo(name, totals);
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

test('preferred node affinity: the heavier matching terms win', () => {
  const pod = podInfo(
    makePod('p', {
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 10, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } },
            { weight: 80, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z2'] }] } },
          ],
        },
      },
    }),
  );
  const nodes = [ni('a', { labels: { disk: 'ssd' } }), ni('b', { labels: { zone: 'z2' } }), ni('c', {})];
  assert.deepEqual(scoreNodes(pod, nodes).map((s) => s.name), ['b', 'a', 'c']);
});

test('preferred pod affinity and anti-affinity, and placed pods\' terms that select the incoming pod', () => {
  const cache = makePod('cache', { labels: { app: 'cache' }, nodeName: 'b' });
  const near = podInfo(
    makePod('web', { affinity: { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { labelSelector: { matchLabels: { app: 'cache' } }, topologyKey: 'kubernetes.io/hostname' } }] } } }),
  );
  const a = ni('a', {});
  const b = ni('b', {}, [cache]);
  assert.equal(scoreNodes(near, [a, b], { allNodes: [a, b], namespaceLabels: () => undefined })[0].name, 'b');
  const away = podInfo(
    makePod('web', { affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { labelSelector: { matchLabels: { app: 'cache' } }, topologyKey: 'kubernetes.io/hostname' } }] } } }),
  );
  // b is emptier, but the anti-affinity outweighs it
  const c = ni('c', { cpu: '1' });
  const d = ni('d', { cpu: '64', memory: '256Gi' }, [cache]);
  assert.equal(scoreNodes(away, [c, d], { allNodes: [c, d], namespaceLabels: () => undefined })[0].name, 'c');
  // symmetry: a placed pod that prefers company draws matching pods to it
  const host = makePod('h', { nodeName: 'f', affinity: { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { role: 'sidekick' } }, topologyKey: 'kubernetes.io/hostname' } }] } } });
  const e = ni('e', {});
  const f = ni('f', {}, [host]);
  const sidekick = podInfo(makePod('s', { labels: { role: 'sidekick' } }));
  assert.equal(scoreNodes(sidekick, [e, f], { allNodes: [e, f], namespaceLabels: () => undefined })[0].name, 'f');
});

test('ScheduleAnyway topology spread prefers the emptier domain', () => {
  const web = (n: string, node: string) => makePod(n, { labels: { app: 'web' }, nodeName: node });
  const a = ni('a', { labels: { zone: 'z1' }, cpu: '64', memory: '256Gi' }, [web('1', 'a')]);
  const b = ni('b', { labels: { zone: 'z1' }, cpu: '64', memory: '256Gi' });
  const c = ni('c', { labels: { zone: 'z2' } }, []);
  const pod = makePod('p', { labels: { app: 'web' } });
  pod.spec!.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'web' } } }];
  assert.equal(scoreNodes(podInfo(pod), [a, b, c], { allNodes: [a, b, c], namespaceLabels: () => undefined })[0].name, 'c');
});
