import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PodObject } from '../common/types.ts';
import { makeNode, makePod, type PodSpecInput } from '../testing/objects.ts';
import { defaultFilters, type CycleState } from './filters/index.ts';
import { NodeInfo, podInfo, type PodInfo } from './node-info.ts';
import {
  disruptionBudget,
  findCandidates,
  pickOneNode,
  REASON_NO_VICTIMS,
  REASON_NOT_HELPFUL,
  resolvableByPreemption,
  selectVictimsOnNode,
  type Candidate,
  type DisruptionBudget,
} from './preemption.ts';

/** the scheduler's reasonsOnNode, over these NodeInfos: every filter's prepare again, then the node */
function reasons(pod: PodInfo, nodes: NodeInfo[], ni: NodeInfo): string[] {
  const cycle: CycleState = {};
  for (const f of defaultFilters) f.prepare?.({ pod, nodes, namespaceLabels: () => undefined }, cycle);
  for (const f of defaultFilters) {
    const failed = f.filter({ pod, nodeInfo: ni, node: ni.node as NonNullable<NodeInfo['node']>, runtimeHandler: undefined, cycle });
    if (failed.length) return failed;
  }
  return [];
}

function node(name: string, cpu: string, pods: PodObject[], labels: Record<string, string> = {}): NodeInfo {
  const ni = new NodeInfo(name);
  ni.setNode(makeNode(name, { cpu, labels }));
  for (const p of pods) ni.addPod(podInfo({ ...p, spec: { ...p.spec, containers: p.spec?.containers ?? [], nodeName: name } }));
  return ni;
}

const pod = (name: string, o: PodSpecInput & { started?: string } = {}): PodObject => {
  const p = makePod(name, o);
  return o.started ? { ...p, status: { ...p.status, startTime: o.started } } : p;
};

const pdb = (selector: Record<string, string>, allowed: number): DisruptionBudget =>
  disruptionBudget({ metadata: { name: 'pdb', namespace: 'default' }, spec: { selector: { matchLabels: selector } }, status: { disruptionsAllowed: allowed, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0, observedGeneration: 0 } }) as DisruptionBudget;

const names = (c: Candidate | undefined): string[] | undefined => c?.victims.map((v) => v.pod.metadata.name ?? '');

test('resolvable reasons: resources, ports, anti-affinity, spread skew; not affinity, taints, readiness', () => {
  assert.ok(resolvableByPreemption(['Insufficient cpu', 'Too many pods']));
  assert.ok(resolvableByPreemption(["node(s) didn't have free ports for the requested pod ports"]));
  assert.ok(resolvableByPreemption(["node(s) didn't satisfy existing pods anti-affinity rules"]));
  assert.ok(resolvableByPreemption(["node(s) didn't match pod topology spread constraints"]));
  for (const r of ["node(s) didn't match Pod's node affinity/selector", 'node(s) were not ready', "node(s) didn't match pod affinity rules", 'node(s) were unschedulable', "node(s) didn't match pod topology spread constraints (missing required label)"]) {
    assert.equal(resolvableByPreemption([r]), false, r);
  }
  assert.equal(resolvableByPreemption([]), false);
});

test('SelectVictimsOnNode: only lower priority, fewest needed, most important reprieved first; the node is restored', () => {
  const ni = node('n', '4', [
    pod('low-old', { cpu: '1', priority: 1, started: '2026-01-01T00:00:00Z' }),
    pod('low-new', { cpu: '1', priority: 1, started: '2026-01-02T00:00:00Z' }),
    pod('mid', { cpu: '1', priority: 5 }),
    pod('same', { cpu: '1', priority: 10 }),
  ]);
  const before = { ...ni.requested };
  const preemptor = podInfo(pod('p', { cpu: '2', priority: 10 }));
  const c = selectVictimsOnNode(preemptor, ni, () => reasons(preemptor, [ni], ni).length === 0, []);
  // mid is reprieved first (most important), then low-old (started earlier); low-new has to go... and one more
  assert.deepEqual(names(c), ['low-old', 'low-new']);
  assert.deepEqual(ni.requested, before);
  assert.equal(ni.pods.size, 4);
  // nothing of lower priority, or no fit even without them: no candidate
  const top = podInfo(pod('t', { cpu: '2', priority: 1 }));
  assert.equal(selectVictimsOnNode(top, ni, () => reasons(top, [ni], ni).length === 0, []), undefined);
  const huge = podInfo(pod('h', { cpu: '5', priority: 100 }));
  assert.equal(selectVictimsOnNode(huge, ni, () => reasons(huge, [ni], ni).length === 0, []), undefined);
});

test('SelectVictimsOnNode: PDB-protected pods are reprieved before the others, violations counted', () => {
  const ni = node('n', '3', [
    pod('guarded', { cpu: '1', priority: 5, labels: { app: 'db' } }),
    pod('plain', { cpu: '1', priority: 1 }),
    pod('guarded-2', { cpu: '1', priority: 1, labels: { app: 'db' } }),
  ]);
  const preemptor = podInfo(pod('p', { cpu: '2', priority: 10 }));
  const fits = () => reasons(preemptor, [ni], ni).length === 0;
  // no budget: the most important (guarded, priority 5) stays, the two priority-1 pods go
  assert.deepEqual(names(selectVictimsOnNode(preemptor, ni, fits, [])), ['plain', 'guarded-2']);
  // a budget allowing one disruption of app=db: guarded (first in importance) spends it, guarded-2 violates;
  // the violating one is reprieved first, so plain and guarded go and no budget is violated
  const c = selectVictimsOnNode(preemptor, ni, fits, [pdb({ app: 'db' }, 1)]);
  assert.deepEqual(names(c), ['guarded', 'plain']);
  assert.equal(c?.pdbViolations, 0);
  // a budget allowing none: both db pods violate; one must still go
  const strict = selectVictimsOnNode(preemptor, ni, fits, [pdb({ app: 'db' }, 0)]);
  assert.equal(strict?.victims.length, 2);
  assert.equal(strict?.pdbViolations, 1);
});

test('pickOneNodeForPreemption: fewest PDB violations, lowest top victim, smallest sum, fewest victims, latest start', () => {
  const v = (priority: number, started = '2026-01-01T00:00:00Z'): PodInfo => podInfo(pod(`v${priority}`, { priority, started }));
  const c = (node: string, victims: PodInfo[], pdbViolations = 0): Candidate => ({ node, victims, pdbViolations });
  assert.equal(pickOneNode([c('a', [v(1)], 1), c('b', [v(5), v(5)])])?.node, 'b');
  assert.equal(pickOneNode([c('a', [v(5)]), c('b', [v(3), v(3), v(3)])])?.node, 'b');
  assert.equal(pickOneNode([c('a', [v(3), v(2)]), c('b', [v(3), v(1)])])?.node, 'b');
  assert.equal(pickOneNode([c('a', [v(3), v(-5), v(-5)]), c('b', [v(3), v(1)])])?.node, 'b');
  assert.equal(pickOneNode([c('a', [v(3, '2026-01-01T00:00:00Z')]), c('b', [v(3, '2026-01-03T00:00:00Z')])])?.node, 'b');
  assert.equal(pickOneNode([c('a', [v(3)]), c('b', [])])?.node, 'b');
  assert.equal(pickOneNode([]), undefined);
});

test('affinity-aware: an existing pod whose anti-affinity rejects the preemptor is a victim only where it matters', () => {
  const anti = {
    podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' }] },
  };
  // a: plenty of cpu, a low-priority pod that refuses app=web next to it; b: full of low-priority pods
  const a = node('a', '8', [pod('loner', { cpu: '100m', priority: 1, affinity: anti, labels: { app: 'cache' } })]);
  const b = node('b', '1200m', [pod('b1', { cpu: '500m', priority: 1 }), pod('b2', { cpu: '500m', priority: 1 })]);
  const nodes = [a, b];
  const preemptor = podInfo(pod('web', { cpu: '600m', priority: 10, labels: { app: 'web' } }));
  const why = new Map(nodes.map((ni) => [ni.name, reasons(preemptor, nodes, ni)]));
  assert.deepEqual(why.get('a'), ["node(s) didn't satisfy existing pods anti-affinity rules"]);
  assert.deepEqual(why.get('b'), ['Insufficient cpu']);
  const { candidates } = findCandidates({ pod: preemptor, nodes, reasons: why, fits: (n) => reasons(preemptor, nodes, nodes.find((x) => x.name === n) as NodeInfo).length === 0, budgets: [], offset: 0 });
  assert.deepEqual(
    candidates.map((c) => [c.node, names(c)]),
    [
      ['a', ['loner']],
      ['b', ['b2']],
    ],
  );
  // one victim of priority 1 on each: a tie, the first wins
  assert.equal(pickOneNode(candidates)?.node, 'a');
  // the cluster totals the filters read came back with the pods
  assert.equal(a.cluster.podsWithRequiredAntiAffinity, 1);
});

test('findCandidates: unhelpful nodes skipped, reasons for the message', () => {
  const a = node('a', '1', [pod('x', { cpu: '1', priority: 1 })], { zone: 'other' });
  const b = node('b', '1', [pod('y', { cpu: '1', priority: 20 })]);
  const nodes = [a, b];
  const preemptor = podInfo(pod('p', { cpu: '1', priority: 10, nodeSelector: { zone: 'edge' } }));
  const why = new Map(nodes.map((ni) => [ni.name, reasons(preemptor, nodes, ni)]));
  let calls = 0;
  const out = findCandidates({ pod: preemptor, nodes, reasons: why, fits: () => (calls++, true), budgets: [], offset: 1 });
  assert.equal(out.candidates.length, 0);
  assert.equal(calls, 0);
  assert.deepEqual(out.reasons.get('a'), [REASON_NOT_HELPFUL]);
  assert.deepEqual(out.reasons.get('b'), [REASON_NOT_HELPFUL]);
  const plain = podInfo(pod('q', { cpu: '1', priority: 10 }));
  const why2 = new Map(nodes.map((ni) => [ni.name, reasons(plain, nodes, ni)]));
  const out2 = findCandidates({ pod: plain, nodes, reasons: why2, fits: (n) => reasons(plain, nodes, nodes.find((x) => x.name === n) as NodeInfo).length === 0, budgets: [], offset: 0 });
  assert.deepEqual(out2.candidates.map((c) => c.node), ['a']);
  assert.deepEqual(out2.reasons.get('b'), [REASON_NO_VICTIMS]);
});
