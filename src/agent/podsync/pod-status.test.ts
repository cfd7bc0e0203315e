import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch } from '../../client/patch.ts';
import type { ContainerId } from '../runtime/types.ts';
import { buildPodStatus, statusPatch, type StatusInput } from './pod-status.ts';
import type { ContainerRecord } from './types.ts';

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

test('termination messages: a pod\'s containers share 12 KiB evenly, each message cut from its start (upstream\'s normalizeStatus)', () => {
  const exited = (name: string, message: string, id: string): ContainerRecord => ({
    name,
    kind: 'app',
    id: id as ContainerId,
    restartCount: 1,
    observed: { state: 'exited', finishedAt: new Date(0), exitCode: 1, reason: 'Error', message },
    lastTerminated: { containerId: `${id}-before` as ContainerId, exitCode: 2, reason: 'Error', finishedAt: 0, message: 'b'.repeat(5000) },
    backoffMs: 0,
    retryAt: 0,
    waitingDelayMs: 0,
    pullFailures: 0,
    started: false,
    ready: false,
    probes: {},
  });
  const names = ['a', 'b', 'c', 'd', 'e'];
  const pod = { metadata: { name: 'p', namespace: 'default' }, spec: { containers: names.map((name) => ({ name })) } };
  // 5 containers: 12288 / 5 = 2457 bytes each
  const st = buildPodStatus(input({ pod, apps: [exited('a', 'a'.repeat(4096), 'c1'), exited('b', 'short', 'c2'), exited('c', `${'é'.repeat(1229)}z`, 'c3')] }));
  const [a, b, c] = st.containerStatuses ?? [];
  assert.equal(a.state?.terminated?.message, 'a'.repeat(2457));
  assert.equal(a.lastState?.terminated?.message, 'b'.repeat(2457), 'lastState too');
  assert.equal(b.state?.terminated?.message, 'short');
  // 2457 bytes end inside the 1229th 'é' (2 bytes each): the half character is dropped
  assert.equal(c.state?.terminated?.message, 'é'.repeat(1228));
  // one container: 12 KiB, more than a handler ever reports (4 KiB)
  const one = buildPodStatus(input({ pod: { ...pod, spec: { containers: [{ name: 'a' }] } }, apps: [exited('a', 'a'.repeat(4096), 'c1')] }));
  assert.equal(one.containerStatuses?.[0].state?.terminated?.message?.length, 4096);
});
