import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { admitUnderPressure, type PressureCondition } from './helpers.ts';

type Qos = 'BestEffort' | 'Burstable' | 'Guaranteed';
const RESOURCES: Record<Qos, Record<string, unknown> | undefined> = {
  BestEffort: undefined,
  Burstable: { requests: { memory: '64Mi' } },
  Guaranteed: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
};
type Critical = 'no' | 'static' | 'mirror' | 'priority' | 'class';
type Toleration = 'none' | 'memory' | 'disk' | 'memory-NoExecute' | 'all';
const TOLERATIONS: Record<Toleration, unknown[] | undefined> = {
  none: undefined,
  memory: [{ key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' }],
  disk: [{ key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' }],
  'memory-NoExecute': [{ key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoExecute' }],
  all: [{ operator: 'Exists' }],
};

function pod(qos: Qos, critical: Critical, tol: Toleration): Pod {
  const annotations: Record<string, string> = {};
  if (critical === 'static') annotations['kubernetes.io/config.source'] = 'file';
  if (critical === 'mirror') annotations['kubernetes.io/config.mirror'] = 'abc';
  const res = RESOURCES[qos];
  return {
    metadata: { name: 'p', namespace: 'default', annotations },
    spec: {
      containers: [{ name: 'c', image: 'busybox', ...(res ? { resources: res } : {}) }],
      ...(critical === 'priority' ? { priority: 2_000_001_000 } : {}),
      ...(critical === 'class' ? { priorityClassName: 'system-cluster-critical' } : {}),
      ...(TOLERATIONS[tol] ? { tolerations: TOLERATIONS[tol] as NonNullable<Pod['spec']>['tolerations'] } : {}),
    },
  };
}

const CONDITION_SETS: PressureCondition[][] = [[], ['MemoryPressure'], ['DiskPressure'], ['PIDPressure'], ['MemoryPressure', 'DiskPressure'], ['DiskPressure', 'PIDPressure'], ['MemoryPressure', 'DiskPressure', 'PIDPressure']];

test('admitUnderPressure: every condition set × QoS × critical × toleration, as upstream managerImpl.Admit', () => {
  for (const conds of CONDITION_SETS) {
    for (const qos of ['BestEffort', 'Burstable', 'Guaranteed'] as Qos[]) {
      for (const critical of ['no', 'static', 'mirror', 'priority', 'class'] as Critical[]) {
        for (const tol of Object.keys(TOLERATIONS) as Toleration[]) {
          const r = admitUnderPressure(pod(qos, critical, tol), new Set(conds));
          const memoryOnly = conds.length === 1 && conds[0] === 'MemoryPressure';
          const tolerates = tol === 'memory' || tol === 'all';
          const want = conds.length === 0 || critical !== 'no' || (memoryOnly && (qos !== 'BestEffort' || tolerates));
          const what = `${conds.join('+') || 'none'} ${qos} critical=${critical} toleration=${tol}`;
          assert.equal(r.admit, want, what);
          if (!r.admit) {
            assert.equal(r.reason, 'Evicted', what);
            assert.equal(r.message, `The node had condition: [${conds.join(' ')}]. `, what);
          }
        }
      }
    }
  }
});

test('admitUnderPressure: a qosClass already in the status is the pod\'s class (upstream GetPodQOS)', () => {
  const p = pod('BestEffort', 'no', 'none');
  assert.equal(admitUnderPressure(p, new Set(['MemoryPressure'])).admit, false);
  assert.equal(admitUnderPressure({ ...p, status: { qosClass: 'Burstable' } }, new Set(['MemoryPressure'])).admit, true);
  // a tolerated taint of another key does not help, nor does a priority just below system-critical
  assert.equal(admitUnderPressure({ ...p, spec: { ...p.spec!, priority: 1_999_999_999 } }, new Set(['DiskPressure'])).admit, false);
});
