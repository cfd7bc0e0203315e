import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { PodObject } from '../common/types.ts';
import { buildDisruptedPodMap, countHealthyPods, expectedPodCount, ExpectedCountError, nextStatus, type PdbObject, type ScaleFinder } from './budget.ts';

const owner = (kind: string, name: string, uid: string): OwnerReference => ({ apiVersion: 'apps/v1', kind, name, uid, controller: true });

function pod(name: string, o: { ready?: boolean; owner?: OwnerReference; deleting?: boolean } = {}): PodObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: 'web' }, ownerReferences: o.owner ? [o.owner] : undefined, deletionTimestamp: o.deleting ? '2026-01-01T00:00:00Z' : undefined },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
  };
}

function pdb(spec: { minAvailable?: number | string; maxUnavailable?: number | string }, status?: PdbObject['status'], generation = 1): PdbObject {
  return { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', namespace: 'default', generation }, spec: { selector: { matchLabels: { app: 'web' } }, ...spec }, status };
}

// a Deployment "web" (uid d1) of `replicas` behind ReplicaSet rs1, a StatefulSet "db" (uid s1) of 5
const finders = (replicas: number): ScaleFinder[] => [
  (ref) => (ref.kind === 'ReplicaSet' && ref.uid === 'rs1' ? { uid: 'd1', scale: replicas } : undefined),
  (ref) => (ref.kind === 'StatefulSet' && ref.uid === 's1' ? { uid: 's1', scale: 5 } : undefined),
];
const rsPods = (n: number, ready = n): PodObject[] => Array.from({ length: n }, (_, i) => pod(`web-${i}`, { owner: owner('ReplicaSet', 'web-abc', 'rs1'), ready: i < ready }));

describe('expected pods and desired healthy', () => {
  it('integer minAvailable counts the matching pods, no scale needed (unmanaged pods too)', () => {
    const pods = [...rsPods(2), pod('bare')];
    assert.deepEqual(expectedPodCount(pdb({ minAvailable: 2 }), pods, []), { expectedCount: 3, desiredHealthy: 2, unmanaged: [] });
  });

  it('percentage minAvailable rounds up over the controllers’ scale, not the pods seen', () => {
    // 4 replicas desired, only 3 pods exist yet: 50 % of 4 = 2; 30 % of 4 = 1.2 → 2
    assert.deepEqual(expectedPodCount(pdb({ minAvailable: '50%' }), rsPods(3), finders(4)), { expectedCount: 4, desiredHealthy: 2, unmanaged: [] });
    assert.equal(expectedPodCount(pdb({ minAvailable: '30%' }), rsPods(3), finders(4)).desiredHealthy, 2);
  });

  it('maxUnavailable (int and percent) subtracts from the scale, never below 0', () => {
    assert.deepEqual(expectedPodCount(pdb({ maxUnavailable: 1 }), rsPods(3), finders(3)), { expectedCount: 3, desiredHealthy: 2, unmanaged: [] });
    // 25 % of 3 rounds up to 1
    assert.equal(expectedPodCount(pdb({ maxUnavailable: '25%' }), rsPods(3), finders(3)).desiredHealthy, 2);
    assert.equal(expectedPodCount(pdb({ maxUnavailable: 10 }), rsPods(3), finders(3)).desiredHealthy, 0);
  });

  it('sums each controller once across several', () => {
    const pods = [...rsPods(2), pod('db-0', { owner: owner('StatefulSet', 'db', 's1') }), pod('db-1', { owner: owner('StatefulSet', 'db', 's1') })];
    assert.equal(expectedPodCount(pdb({ maxUnavailable: 0 }), pods, finders(2)).expectedCount, 7);
  });

  it('pods without a controller are reported as unmanaged and count as nothing', () => {
    const r = expectedPodCount(pdb({ minAvailable: '100%' }), [...rsPods(2), pod('bare')], finders(2));
    assert.deepEqual(r, { expectedCount: 2, desiredHealthy: 2, unmanaged: ['bare'] });
  });

  it('a controller no finder knows (a DaemonSet, a vanished ReplicaSet) is an error', () => {
    const ds = pod('agent', { owner: owner('DaemonSet', 'agent', 'ds1') });
    assert.throws(() => expectedPodCount(pdb({ maxUnavailable: '10%' }), [ds], finders(1)), (e: Error) => e instanceof ExpectedCountError && e.message === 'found no controllers for pod "agent"');
    // integer minAvailable needs no scale: fine
    assert.equal(expectedPodCount(pdb({ minAvailable: 1 }), [ds], finders(1)).expectedCount, 1);
  });

  it('a string that is not a percentage is refused', () => {
    assert.throws(() => expectedPodCount(pdb({ minAvailable: 'half' }), rsPods(1), finders(1)), /invalid value for IntOrString: invalid value "half"/);
  });
});

describe('healthy pods and disruptedPods', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  const at = (msAgo: number): string => new Date(now - msAgo).toISOString().replace(/\.\d{3}Z$/, 'Z');

  it('counts Ready pods not being deleted and not awaiting an eviction', () => {
    const pods = [...rsPods(4, 3), pod('gone', { deleting: true })];
    assert.equal(countHealthyPods(pods, {}, now), 3);
    assert.equal(countHealthyPods(pods, { 'web-0': at(1000) }, now), 2);
    // an entry older than 2 minutes no longer holds the pod back
    assert.equal(countHealthyPods(pods, { 'web-0': at(121_000) }, now), 3);
  });

  it('keeps live entries, drops deleted/vanished pods and expired entries, and says when to look again', () => {
    const pods = [...rsPods(3), pod('web-9', { deleting: true })];
    const prior = pdb({ minAvailable: 1 }, { currentHealthy: 3, desiredHealthy: 1, expectedPods: 3, disruptionsAllowed: 2, disruptedPods: { 'web-0': at(30_000), 'web-1': at(200_000), 'web-9': at(1000), vanished: at(1000) } });
    const r = buildDisruptedPodMap(pods, prior, now);
    assert.deepEqual(r.disrupted, { 'web-0': at(30_000) });
    assert.equal(r.recheckAt, now + 90_000);
    assert.deepEqual(r.expired.map((p) => p.metadata.name), ['web-1']);
  });
});

describe('status', () => {
  const now = new Date('2026-03-01T12:00:00Z');
  it('disruptionsAllowed = healthy − desired, the condition and observedGeneration', () => {
    const st = nextStatus(pdb({ minAvailable: 1 }, undefined, 3), { currentHealthy: 2, desiredHealthy: 1, expectedCount: 2, disrupted: {} }, now);
    assert.ok(st);
    assert.equal(st.disruptionsAllowed, 1);
    assert.equal(st.observedGeneration, 3);
    assert.deepEqual(st.conditions, [{ type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods', message: '', observedGeneration: 3, lastTransitionTime: '2026-03-01T12:00:00Z' }]);
    // unchanged: nothing to write
    assert.equal(nextStatus(pdb({ minAvailable: 1 }, st, 3), { currentHealthy: 2, desiredHealthy: 1, expectedCount: 2, disrupted: {} }, now), undefined);
    // one pod turns unready: InsufficientPods
    const st2 = nextStatus(pdb({ minAvailable: 1 }, st, 3), { currentHealthy: 1, desiredHealthy: 1, expectedCount: 2, disrupted: {} }, new Date('2026-03-01T12:01:00Z'));
    assert.equal(st2?.disruptionsAllowed, 0);
    assert.equal(st2?.conditions?.[0].reason, 'InsufficientPods');
    assert.equal(st2?.conditions?.[0].status, 'False');
    assert.equal(st2?.conditions?.[0].lastTransitionTime, '2026-03-01T12:01:00Z');
  });

  it('no expected pods: no disruptions, whatever is healthy', () => {
    const st = nextStatus(pdb({ maxUnavailable: 1 }), { currentHealthy: 2, desiredHealthy: 0, expectedCount: 0, disrupted: {} }, now);
    assert.equal(st?.disruptionsAllowed, 0);
  });
});
