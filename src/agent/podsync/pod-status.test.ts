import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch } from '../../client/patch.ts';
import { buildPodStatus, statusPatch, type StatusInput } from './pod-status.ts';

const input = (o: Partial<StatusInput>): StatusInput => ({
  pod: { metadata: { name: 'p', namespace: 'default' }, spec: { containers: [] } },
  phase: 'Running',
  inits: [],
  apps: [],
  sandboxReady: true,
  initialized: true,
  startTime: 0,
  now: 0,
  ...o,
});

test('podIPs: every family of a dual-stack pod, podIP first; [podIP] otherwise', () => {
  const dual = buildPodStatus(input({ podIP: '10.244.1.5', podIPs: ['10.244.1.5', 'fd00:10:244:1::5'] }));
  assert.equal(dual.podIP, '10.244.1.5');
  assert.deepEqual(dual.podIPs, [{ ip: '10.244.1.5' }, { ip: 'fd00:10:244:1::5' }]);
  assert.deepEqual(buildPodStatus(input({ podIP: '10.244.1.5' })).podIPs, [{ ip: '10.244.1.5' }]);
  // a stale list that does not start with podIP is not trusted
  assert.deepEqual(buildPodStatus(input({ podIP: '10.244.1.6', podIPs: ['10.244.1.5', 'fd00::5'] })).podIPs, [{ ip: '10.244.1.6' }]);
  assert.equal(buildPodStatus(input({})).podIPs, undefined);
});

test('readiness gates: Ready waits for every gate condition to be True, after the containers; upstream\'s reasons and messages', () => {
  const running = { name: 'c', ready: true, restartCount: 0, started: true } as unknown as StatusInput['apps'][number];
  const pod = { metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c' }], readinessGates: [{ conditionType: 'a' }, { conditionType: 'b' }] } };
  const ready = (conds: { type: string; status: string }[], apps = [running]) =>
    buildPodStatus(input({ pod, apps, previous: { conditions: conds } })).conditions?.find((c) => c.type === 'Ready');
  assert.deepEqual(
    [ready([])?.status, ready([])?.reason, ready([])?.message],
    ['False', 'ReadinessGatesNotReady', 'corresponding condition of pod readiness gate "a" does not exist., corresponding condition of pod readiness gate "b" does not exist.'],
  );
  assert.equal(ready([{ type: 'a', status: 'True' }, { type: 'b', status: 'Unknown' }])?.message, 'the status of pod readiness gate "b" is not "True", but Unknown');
  assert.equal(ready([{ type: 'a', status: 'True' }, { type: 'b', status: 'True' }])?.status, 'True');
  // containers not ready: their verdict, as upstream (the gates are not looked at)
  const notReady = ready([{ type: 'a', status: 'True' }, { type: 'b', status: 'True' }], [{ ...running, ready: false }]);
  assert.deepEqual([notReady?.status, notReady?.reason], ['False', 'ContainersNotReady']);
  // the gate conditions themselves are someone else's: kept as they were
  const st = buildPodStatus(input({ pod, apps: [running], previous: { conditions: [{ type: 'a', status: 'True' }] } }));
  assert.equal(st.conditions?.find((c) => c.type === 'a')?.status, 'True');
});

test('the status patch (strategic): a condition written since our read stays, our own change, and an address the pod lost goes', () => {
  const stored = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default' },
    status: {
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Ready', status: 'False' },
        // a readiness gate's controller wrote this after the agent's last read
        { type: 'example.com/lb', status: 'True' },
      ],
      podIP: '10.0.0.5',
      podIPs: [{ ip: '10.0.0.5' }, { ip: 'fd00::5' }],
    },
  };
  // built from an older view: no gate condition in it
  const ours = buildPodStatus(input({ podIP: '10.0.0.6', previous: { conditions: [{ type: 'PodScheduled', status: 'True' }] } }));
  const out = applyPatch(stored, 'strategic', { status: statusPatch(ours) }) as typeof stored;
  const byType = new Map(out.status.conditions.map((c) => [c.type, c.status]));
  assert.equal(byType.get('example.com/lb'), 'True');
  assert.equal(byType.get('PodScheduled'), 'True');
  assert.equal(byType.get('Ready'), ours.conditions?.find((c) => c.type === 'Ready')?.status);
  assert.deepEqual(out.status.podIPs, [{ ip: '10.0.0.6' }]);
  assert.equal(out.status.podIP, '10.0.0.6');
});
