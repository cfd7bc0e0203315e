import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../object.ts';
import { podTable, summarizePod } from './pod.ts';

const now = new Date('2024-01-01T01:00:00Z');
const created = '2024-01-01T00:00:00Z';

function pod(p: Partial<Pod> & { status?: Pod['status'] }): Pod {
  return {
    metadata: { name: 'p', namespace: 'default', creationTimestamp: created, ...(p.metadata ?? {}) },
    spec: { containers: [{ name: 'a', image: 'x' }], ...(p.spec ?? {}) },
    status: p.status,
  } as Pod;
}

test('pending pod', () => {
  assert.deepEqual(summarizePod(pod({ status: { phase: 'Pending' } }), now), { ready: '0/1', status: 'Pending', restarts: '0' });
});

test('running pod with ready container', () => {
  const p = pod({
    status: {
      phase: 'Running',
      containerStatuses: [{ name: 'a', image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: created } } }],
    },
  });
  assert.deepEqual(summarizePod(p, now), { ready: '1/1', status: 'Running', restarts: '0' });
});

test('waiting reasons win: ContainerCreating, CrashLoopBackOff with restart age', () => {
  const creating = pod({
    status: { phase: 'Pending', containerStatuses: [{ name: 'a', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }] },
  });
  assert.equal(summarizePod(creating, now).status, 'ContainerCreating');
  const crash = pod({
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'a',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 4,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: { terminated: { exitCode: 1, finishedAt: '2024-01-01T00:58:00Z' } },
        },
      ],
    },
  });
  assert.deepEqual(summarizePod(crash, now), { ready: '0/1', status: 'CrashLoopBackOff', restarts: '4 (2m ago)' });
});

test('completed, exit codes and signals', () => {
  const term = (t: { exitCode: number; reason?: string; signal?: number }): Pod =>
    pod({ status: { phase: 'Succeeded', containerStatuses: [{ name: 'a', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: t } }] } });
  assert.equal(summarizePod(term({ exitCode: 0, reason: 'Completed' }), now).status, 'Completed');
  assert.equal(summarizePod(term({ exitCode: 2 }), now).status, 'ExitCode:2');
  assert.equal(summarizePod(term({ exitCode: 137, signal: 9 }), now).status, 'Signal:9');
});

test('completed container next to a running one shows Running or NotReady', () => {
  const p = (ready: boolean): Pod =>
    pod({
      spec: { containers: [{ name: 'a' }, { name: 'b' }] },
      status: {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
        containerStatuses: [
          { name: 'a', image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: {} } },
          { name: 'b', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
        ],
      },
    });
  assert.deepEqual(summarizePod(p(true), now), { ready: '1/2', status: 'Running', restarts: '0' });
  assert.equal(summarizePod(p(false), now).status, 'NotReady');
});

test('init containers', () => {
  const base = { spec: { initContainers: [{ name: 'i1' }, { name: 'i2' }], containers: [{ name: 'a' }] } };
  const running = pod({
    ...base,
    status: {
      phase: 'Pending',
      initContainerStatuses: [
        { name: 'i1', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0 } } },
        { name: 'i2', image: 'x', imageID: '', ready: false, restartCount: 0, state: { running: {} } },
      ],
    },
  });
  assert.equal(summarizePod(running, now).status, 'Init:1/2');
  const failed = pod({
    ...base,
    status: { phase: 'Pending', initContainerStatuses: [{ name: 'i1', image: 'x', imageID: '', ready: false, restartCount: 3, state: { terminated: { exitCode: 1, reason: 'Error' } } }] },
  });
  assert.deepEqual(summarizePod(failed, now), { ready: '0/1', status: 'Init:Error', restarts: '3' });
  const backoff = pod({
    ...base,
    status: { phase: 'Pending', initContainerStatuses: [{ name: 'i1', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'CrashLoopBackOff' } } }] },
  });
  assert.equal(summarizePod(backoff, now).status, 'Init:CrashLoopBackOff');
  const sidecar = pod({
    spec: { initContainers: [{ name: 's', restartPolicy: 'Always' }], containers: [{ name: 'a' }] },
    status: {
      phase: 'Running',
      initContainerStatuses: [{ name: 's', image: 'x', imageID: '', ready: true, started: true, restartCount: 1, state: { running: {} } }],
      containerStatuses: [{ name: 'a', image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: {} } }],
    },
  });
  assert.deepEqual(summarizePod(sidecar, now), { ready: '2/2', status: 'Running', restarts: '1' });
});

test('terminating, scheduling gated and node lost', () => {
  assert.equal(summarizePod(pod({ metadata: { name: 'p', deletionTimestamp: created }, status: { phase: 'Running' } }), now).status, 'Terminating');
  assert.equal(summarizePod(pod({ metadata: { name: 'p', deletionTimestamp: created }, status: { phase: 'Succeeded' } }), now).status, 'Succeeded');
  assert.equal(
    summarizePod(pod({ metadata: { name: 'p', deletionTimestamp: created }, status: { phase: 'Running', reason: 'NodeLost' } }), now).status,
    'Unknown',
  );
  assert.equal(
    summarizePod(pod({ status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] } }), now).status,
    'SchedulingGated',
  );
  assert.equal(summarizePod(pod({ status: { phase: 'Failed', reason: 'Evicted' } }), now).status, 'Evicted');
});

test('row cells including wide columns', () => {
  const p = pod({
    spec: { containers: [{ name: 'a' }], nodeName: 'edge-1', readinessGates: [{ conditionType: 'x/gate' }] },
    status: { phase: 'Pending', podIPs: [{ ip: '10.1.0.5' }], conditions: [{ type: 'x/gate', status: 'True' }] },
  });
  assert.deepEqual(podTable.row(p as unknown as KubeObject, now), ['p', '0/1', 'Pending', '0', '60m', '10.1.0.5', 'edge-1', '<none>', '1/1']);
  assert.deepEqual(
    podTable.columns.map((c) => [c.name, c.priority]),
    [
      ['Name', 0],
      ['Ready', 0],
      ['Status', 0],
      ['Restarts', 0],
      ['Age', 0],
      ['IP', 1],
      ['Node', 1],
      ['Nominated Node', 1],
      ['Readiness Gates', 1],
    ],
  );
  assert.deepEqual(podTable.row({ metadata: { name: 'bare' } }, now), ['bare', '0/0', '', '0', '<unknown>', '<none>', '<none>', '<none>', '<none>']);
});
