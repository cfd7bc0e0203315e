import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PodAffinityTerm, TopologySpreadConstraint } from 'kubernetes-types/core/v1.js';
import type { NodeObject, PodObject } from '../../common/types.ts';
import { makeNode, makePod, type NodeSpecInput, type PodSpecInput } from '../../testing/objects.ts';
import { NodeInfo, podInfo, type ClusterTotals } from '../node-info.ts';
import { interPodAffinity, podTopologySpread, type CycleState, type Filter } from './index.ts';

/** Nodes with their pods, sharing one scheduler's totals; `fits` runs prepare over all and the filter on each. */
function cluster(nodes: [string, NodeSpecInput, PodObject[]?][], namespaces: Record<string, Record<string, string>> = {}) {
  const totals: ClusterTotals = { podsWithAffinity: 0, podsWithRequiredAntiAffinity: 0 };
  const infos = nodes.map(([name, o, pods]) => {
    const ni = new NodeInfo(name, totals);
    ni.setNode(makeNode(name, o));
    for (const p of pods ?? []) ni.addPod(podInfo({ ...p, spec: { ...p.spec!, nodeName: name } }));
    return ni;
  });
  return (f: Filter, pod: PodObject): Record<string, string[]> => {
    const pi = podInfo(pod);
    const cycle: CycleState = {};
    f.prepare?.({ pod: pi, nodes: infos, namespaceLabels: (n) => namespaces[n] }, cycle);
    return Object.fromEntries(infos.map((ni) => [ni.name, f.filter({ pod: pi, nodeInfo: ni, node: ni.node as NodeObject, runtimeHandler: undefined, cycle })]));
  };
}

const term = (labels: Record<string, string>, topologyKey: string, extra: Partial<PodAffinityTerm> = {}): PodAffinityTerm => ({ labelSelector: { matchLabels: labels }, topologyKey, ...extra });
const withAffinity = (name: string, a: NonNullable<PodSpecInput['affinity']>, o: PodSpecInput = {}): PodObject => makePod(name, { ...o, affinity: a });
const zone = (z: string): NodeSpecInput => ({ labels: { zone: z } });
const ANTI = "node(s) didn't match pod anti-affinity rules";
const AFF = "node(s) didn't match pod affinity rules";
const EXISTING = "node(s) didn't satisfy existing pods anti-affinity rules";

test('InterPodAffinity: required anti-affinity keeps replicas off nodes (hostname) and zones holding one', () => {
  const web = (n: string) => makePod(n, { labels: { app: 'web' } });
  const fits = cluster([['a', zone('z1'), [web('w1')]], ['b', zone('z1')], ['c', zone('z2')]]);
  const byHost = withAffinity('w2', { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'web' }, 'kubernetes.io/hostname')] } }, { labels: { app: 'web' } });
  assert.deepEqual(fits(interPodAffinity, byHost), { a: [ANTI], b: [], c: [] });
  const byZone = withAffinity('w2', { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'web' }, 'zone')] } });
  assert.deepEqual(fits(interPodAffinity, byZone), { a: [ANTI], b: [ANTI], c: [] });
  const otherNs = withAffinity('w2', { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'web' }, 'zone')] } }, { namespace: 'team-b' });
  assert.deepEqual(fits(interPodAffinity, otherNs), { a: [], b: [], c: [] }, 'a term selects its own namespace by default');
});

test('InterPodAffinity: a placed pod\'s required anti-affinity keeps matching pods out of its domain (symmetry)', () => {
  const loner = withAffinity('db', { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ noisy: 'yes' }, 'zone')] } });
  const fits = cluster([['a', zone('z1'), [loner]], ['b', zone('z1')], ['c', zone('z2')]]);
  assert.deepEqual(fits(interPodAffinity, makePod('n', { labels: { noisy: 'yes' } })), { a: [EXISTING], b: [EXISTING], c: [] });
  assert.deepEqual(fits(interPodAffinity, makePod('q', { labels: { noisy: 'no' } })), { a: [], b: [], c: [] });
});

test('InterPodAffinity: required affinity needs a matching pod in the domain; the first of a self-affine group goes anywhere', () => {
  const cache = makePod('cache', { labels: { app: 'cache' } });
  const fits = cluster([['a', zone('z1'), [cache]], ['b', zone('z1')], ['c', zone('z2')], ['d', {}]]);
  const nearCache = withAffinity('web', { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'cache' }, 'zone')] } });
  assert.deepEqual(fits(interPodAffinity, nearCache), { a: [], b: [], c: [AFF], d: [AFF] }, 'd lacks the topology key');
  const selfAffine = withAffinity('g1', { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ group: 'g' }, 'zone')] } }, { labels: { group: 'g' } });
  assert.deepEqual(fits(interPodAffinity, selfAffine), { a: [], b: [], c: [], d: [AFF] });
  const notSelf = withAffinity('h', { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ group: 'g' }, 'zone')] } });
  assert.deepEqual(fits(interPodAffinity, notSelf), { a: [AFF], b: [AFF], c: [AFF], d: [AFF] });
});

test('InterPodAffinity: namespaces, namespaceSelector and matchLabelKeys', () => {
  const fits = cluster([['a', zone('z1'), [makePod('x', { namespace: 'prod', labels: { app: 'api', rev: '1' } })]], ['b', zone('z2')]], { prod: { env: 'prod' }, dev: { env: 'dev' } });
  const anti = (t: PodAffinityTerm, labels?: Record<string, string>) => withAffinity('p', { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [t] } }, { labels });
  assert.deepEqual(fits(interPodAffinity, anti(term({ app: 'api' }, 'zone', { namespaces: ['prod'] }))).a, [ANTI]);
  assert.deepEqual(fits(interPodAffinity, anti(term({ app: 'api' }, 'zone', { namespaceSelector: { matchLabels: { env: 'prod' } } }))).a, [ANTI]);
  assert.deepEqual(fits(interPodAffinity, anti(term({ app: 'api' }, 'zone', { namespaceSelector: { matchLabels: { env: 'dev' } } }))).a, []);
  assert.deepEqual(fits(interPodAffinity, anti(term({ app: 'api' }, 'zone', { namespaceSelector: {} }))).a, [ANTI], '{} selects every namespace');
  const keyed = (rev: string) => anti(term({ app: 'api' }, 'zone', { namespaces: ['prod'], matchLabelKeys: ['rev'] }), { rev });
  assert.deepEqual(fits(interPodAffinity, keyed('1')).a, [ANTI]);
  assert.deepEqual(fits(interPodAffinity, keyed('2')).a, [], 'matchLabelKeys: only pods of the same revision count');
});

const spread = (c: Partial<TopologySpreadConstraint>): TopologySpreadConstraint => ({
  maxSkew: 1,
  topologyKey: 'zone',
  whenUnsatisfiable: 'DoNotSchedule',
  labelSelector: { matchLabels: { app: 'web' } },
  ...c,
});
const spreadPod = (cs: TopologySpreadConstraint[], o: PodSpecInput = {}): PodObject => {
  const p = makePod('new', { labels: { app: 'web' }, ...o });
  p.spec!.topologySpreadConstraints = cs;
  return p;
};
const SKEW = "node(s) didn't match pod topology spread constraints";
const MISSING = "node(s) didn't match pod topology spread constraints (missing required label)";

test('PodTopologySpread: DoNotSchedule keeps the skew within maxSkew; nodes without the key are rejected', () => {
  const web = (n: string) => makePod(n, { labels: { app: 'web' } });
  const fits = cluster([['a', zone('z1'), [web('1'), web('2')]], ['b', zone('z1')], ['c', zone('z2'), [web('3')]], ['d', {}]]);
  assert.deepEqual(fits(podTopologySpread, spreadPod([spread({})])), { a: [SKEW], b: [SKEW], c: [], d: [MISSING] });
  assert.deepEqual(fits(podTopologySpread, spreadPod([spread({ maxSkew: 2 })])), { a: [], b: [], c: [], d: [MISSING] });
  assert.deepEqual(fits(podTopologySpread, spreadPod([spread({ whenUnsatisfiable: 'ScheduleAnyway' })])), { a: [], b: [], c: [], d: [] }, 'ScheduleAnyway only scores');
  const otherNs = spreadPod([spread({})], { namespace: 'other' });
  assert.deepEqual(fits(podTopologySpread, otherNs), { a: [], b: [], c: [], d: [MISSING] }, 'only the pod\'s namespace counts');
  assert.deepEqual(fits(podTopologySpread, spreadPod([spread({ topologyKey: 'kubernetes.io/hostname' })])), { a: [SKEW], b: [], c: [SKEW], d: [] });
});

test('PodTopologySpread: minDomains, nodeAffinityPolicy, nodeTaintsPolicy', () => {
  const web = (n: string) => makePod(n, { labels: { app: 'web' } });
  const fits = cluster([
    ['a', zone('z1'), [web('1')]],
    ['b', zone('z2'), [web('2')]],
    ['c', { labels: { zone: 'z3', pool: 'gpu' }, taints: [{ key: 'gpu', effect: 'NoSchedule' }] }],
  ]);
  assert.deepEqual(fits(podTopologySpread, spreadPod([spread({})])), { a: [SKEW], b: [SKEW], c: [] }, 'z3 (0 pods) is the minimum');
  assert.deepEqual(fits(podTopologySpread, spreadPod([spread({ nodeTaintsPolicy: 'Honor' })])), { a: [], b: [], c: [] }, 'the tainted z3 is not a domain when taints are honoured');
  const onlyAB = spreadPod([spread({})], { nodeSelector: { zone: 'z1' } });
  assert.deepEqual(fits(podTopologySpread, onlyAB), { a: [], b: [], c: [] }, 'Honor (default): only z1 counts, its minimum is its own count');
  assert.deepEqual(fits(podTopologySpread, spreadPod([spread({ nodeAffinityPolicy: 'Ignore' })], { nodeSelector: { zone: 'z1' } })).a, [SKEW]);
  assert.deepEqual(fits(podTopologySpread, spreadPod([spread({ nodeTaintsPolicy: 'Honor', minDomains: 3 })])), { a: [SKEW], b: [SKEW], c: [] }, 'fewer domains than minDomains: the minimum is 0');
});
