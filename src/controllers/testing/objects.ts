import type { Container, NodeCondition, Taint, Toleration } from 'kubernetes-types/core/v1.js';
import type { NodeObject, PodObject } from '../common/types.ts';

/** Builders for test objects; only the fields the controllers read. */
export interface NodeSpecInput {
  cpu?: string;
  memory?: string;
  pods?: string;
  ephemeralStorage?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  taints?: Taint[];
  ready?: 'True' | 'False' | 'Unknown' | 'absent';
  unschedulable?: boolean;
  handlers?: string[];
  heartbeat?: string;
}

export function makeNode(name: string, o: NodeSpecInput = {}): NodeObject {
  const conditions: NodeCondition[] =
    o.ready === 'absent'
      ? []
      : [{ type: 'Ready', status: o.ready ?? 'True', reason: 'KubeletReady', lastHeartbeatTime: o.heartbeat ?? '2026-01-01T00:00:00Z', lastTransitionTime: '2026-01-01T00:00:00Z' }];
  const allocatable: Record<string, string> = { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' };
  if (o.ephemeralStorage) allocatable['ephemeral-storage'] = o.ephemeralStorage;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...o.labels }, annotations: o.annotations },
    spec: { taints: o.taints, unschedulable: o.unschedulable },
    status: {
      allocatable,
      capacity: allocatable,
      conditions,
      runtimeHandlers: o.handlers?.map((h) => ({ name: h })),
    },
  };
}

export interface PodSpecInput {
  namespace?: string;
  cpu?: string;
  memory?: string;
  nodeName?: string;
  labels?: Record<string, string>;
  tolerations?: Toleration[];
  nodeSelector?: Record<string, string>;
  hostPort?: number;
  runtimeClassName?: string;
  schedulerName?: string;
  overhead?: Record<string, string>;
  containers?: Container[];
  initContainers?: Container[];
  affinity?: NonNullable<PodObject['spec']>['affinity'];
  ownerUid?: string;
  /** spec.priority (what the Priority admission plugin resolves from a class) */
  priority?: number;
  preemptionPolicy?: 'PreemptLowerPriority' | 'Never';
}

export function makePod(name: string, o: PodSpecInput = {}): PodObject {
  const requests: Record<string, string> = {};
  if (o.cpu) requests.cpu = o.cpu;
  if (o.memory) requests.memory = o.memory;
  const container: Container = {
    name: 'main',
    image: 'busybox',
    resources: { requests },
    ports: o.hostPort ? [{ containerPort: 80, hostPort: o.hostPort }] : undefined,
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? 'default',
      labels: o.labels,
      ownerReferences: o.ownerUid ? [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: o.ownerUid, controller: true }] : undefined,
    },
    spec: {
      containers: o.containers ?? [container],
      initContainers: o.initContainers,
      nodeName: o.nodeName,
      tolerations: o.tolerations,
      nodeSelector: o.nodeSelector,
      runtimeClassName: o.runtimeClassName,
      schedulerName: o.schedulerName ?? 'default-scheduler',
      overhead: o.overhead,
      affinity: o.affinity,
      priority: o.priority,
      preemptionPolicy: o.preemptionPolicy,
    },
    status: { phase: 'Pending' },
  };
}

/** Yield to the event loop until `cond` holds; bounded so a broken test fails instead of hanging. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, rounds = 5000): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (await cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`timed out waiting for ${what}`);
}
