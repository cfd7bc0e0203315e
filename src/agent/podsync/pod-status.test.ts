import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPodStatus, type StatusInput } from './pod-status.ts';

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
