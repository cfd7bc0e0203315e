import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { limitRate, rulesOf, stabilize } from './behavior.ts';
import { calcReplicas, type PodInfo } from './replica-calculator.ts';

const pods = (n: number, over: Partial<PodInfo> = {}): PodInfo[] => Array.from({ length: n }, (_, i) => ({ name: `p${i}`, request: 100, ready: true, ignored: false, ...over }));
const usage = (...v: number[]): Map<string, number> => new Map(v.map((x, i) => [`p${i}`, x]));
const cpu50 = { kind: 'utilization', percent: 50 } as const;

describe('HPA replica calculation (upstream replica_calculator)', () => {
  it('scales by the usage ratio, rounding up', () => {
    const r = calcReplicas({ currentReplicas: 2, pods: pods(2), metrics: usage(100, 100), target: cpu50, resource: 'cpu' });
    assert.deepEqual(r, { replicas: 4, utilization: 100, averageValue: 100 });
    assert.equal(calcReplicas({ currentReplicas: 3, pods: pods(3), metrics: usage(10, 10, 10), target: cpu50, resource: 'cpu' }).replicas, 1);
  });

  it('does nothing within the 10% tolerance', () => {
    assert.equal(calcReplicas({ currentReplicas: 2, pods: pods(2), metrics: usage(54, 54), target: cpu50, resource: 'cpu' }).replicas, 2);
    assert.equal(calcReplicas({ currentReplicas: 2, pods: pods(2), metrics: usage(46, 46), target: cpu50, resource: 'cpu' }).replicas, 2);
    assert.equal(calcReplicas({ currentReplicas: 2, pods: pods(2), metrics: usage(56, 56), target: cpu50, resource: 'cpu' }).replicas, 3);
  });

  it('scaling down, pods without metrics count at their request; scaling up, at zero', () => {
    // two pods idle, one without metrics: assumed at 100% → ratio (10+10+100)/3/50 = 0.8 → ceil(2.4) = 3: no change
    assert.equal(calcReplicas({ currentReplicas: 3, pods: pods(3), metrics: usage(10, 10), target: cpu50, resource: 'cpu' }).replicas, 3);
    // two pods hot, one without metrics: assumed 0 → (150+150+0)/3/50 = 2 → 6
    assert.equal(calcReplicas({ currentReplicas: 3, pods: pods(3), metrics: usage(150, 150), target: cpu50, resource: 'cpu' }).replicas, 6);
  });

  it('unready pods count at zero when scaling up on CPU, and the direction never flips', () => {
    const ps = [...pods(2), { name: 'p2', request: 100, ready: false, ignored: false }];
    // ready pods at 200% → ratio 4; with the unready one at 0: (200+200+0)/300*100/50 = 2.67 → ceil(8) = 8
    assert.equal(calcReplicas({ currentReplicas: 3, pods: ps, metrics: usage(200, 200, 500), target: cpu50, resource: 'cpu' }).replicas, 8);
    // just above target: the unready pod pulls the ratio below 1, so nothing changes
    assert.equal(calcReplicas({ currentReplicas: 3, pods: ps, metrics: usage(60, 60, 0), target: cpu50, resource: 'cpu' }).replicas, 3);
  });

  it('averageValue targets; failed and terminating pods are left out', () => {
    const ps = [...pods(2), { name: 'p2', ready: true, ignored: true }];
    const r = calcReplicas({ currentReplicas: 2, pods: ps, metrics: usage(300 * 2 ** 20, 300 * 2 ** 20, 0), target: { kind: 'averageValue', value: 100 * 2 ** 20 }, resource: 'memory' });
    assert.equal(r.replicas, 6);
    assert.equal(r.utilization, undefined);
  });

  it('refuses without requests or metrics', () => {
    assert.throws(() => calcReplicas({ currentReplicas: 1, pods: pods(1, { request: undefined }), metrics: usage(1), target: cpu50, resource: 'cpu' }), /missing request for cpu/);
    assert.throws(() => calcReplicas({ currentReplicas: 1, pods: pods(1), metrics: new Map(), target: cpu50, resource: 'cpu' }), /did not receive metrics/);
    assert.throws(() => calcReplicas({ currentReplicas: 1, pods: [], metrics: new Map(), target: cpu50, resource: 'cpu' }), /no pods/);
  });
});

describe('HPA behavior', () => {
  const rules = rulesOf(undefined);
  it('scale-down waits for the highest recommendation of the window; scale-up has none by default', () => {
    const history = [{ at: 0, replicas: 5 }, { at: 100_000, replicas: 2 }];
    assert.equal(stabilize({ now: 200_000, current: 5, recommended: 1, history, upWindowS: 0, downWindowS: 300 }), 5);
    assert.equal(stabilize({ now: 301_000, current: 5, recommended: 1, history, upWindowS: 0, downWindowS: 300 }), 2);
    assert.equal(stabilize({ now: 401_000, current: 5, recommended: 1, history, upWindowS: 0, downWindowS: 300 }), 1);
    assert.equal(stabilize({ now: 350_000, current: 1, recommended: 9, history, upWindowS: 0, downWindowS: 300 }), 9);
  });

  it('limits the rate: 4 pods or 100% per 15 s up, 100% per 15 s down', () => {
    assert.equal(limitRate({ now: 0, current: 1, desired: 20, rules, events: [] }), 5);
    assert.equal(limitRate({ now: 0, current: 10, desired: 50, rules, events: [] }), 20);
    // 4 added 5 s ago: this period started at 1, so 5 is the most
    assert.equal(limitRate({ now: 5_000, current: 5, desired: 20, rules, events: [{ at: 0, replicas: 4 }] }), 5);
    assert.equal(limitRate({ now: 20_000, current: 5, desired: 20, rules, events: [{ at: 0, replicas: 4 }] }), 10);
    assert.equal(limitRate({ now: 0, current: 10, desired: 1, rules, events: [] }), 1);
    const slow = rulesOf({ scaleDown: { policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } });
    assert.equal(limitRate({ now: 0, current: 10, desired: 1, rules: slow, events: [] }), 9);
    assert.equal(limitRate({ now: 0, current: 10, desired: 1, rules: rulesOf({ scaleDown: { selectPolicy: 'Disabled' } }), events: [] }), 10);
  });
});
