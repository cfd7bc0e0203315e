import type { KubeObject } from '../../api/object.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { makeNode, makePod, type PodSpecInput } from './objects.ts';

/**
 * The pending-pod scenarios of bench/scheduler.ts, here so a unit test can schedule them with the
 * in-memory client: every one must fit `pods` pods on `nodes` nodes (32 cpu / 64 Gi / 110 pods
 * each, labelled zone z0..z3), or the bench waits for binds that can never happen.
 */
export interface SchedulerScenario {
  label: string;
  pod: (i: number, nodes: number) => PodSpecInput;
}

/** pods the bench's nodes hold at most (the `pods` allocatable) */
export const BENCH_PODS_PER_NODE = 110;

/**
 * The hostPort of pod i in the nodeSelector scenario. Pods i ≡ z (mod 4) go to zone z, whose
 * nodes/4 nodes each take one pod per port, and i mod 50 gives a zone 25 distinct ports: so each
 * block of 25 × 4·⌊nodes/4⌋ pods (2,500 with 100 nodes) fills every port of every node exactly,
 * and the next block takes 50 fresh ports. (With a fixed 50 ports the 2,501st pod fitted nowhere
 * and the bench waited for it forever.) The first block is the scenario as it always was.
 */
export function benchHostPort(i: number, nodes: number): number {
  const block = 100 * Math.max(1, Math.floor(nodes / 4));
  return 10000 + (i % 50) + 50 * Math.floor(i / block);
}

export const schedulerScenarios: SchedulerScenario[] = [
  { label: 'plain (cpu+mem requests)', pod: (i) => ({ cpu: '100m', memory: '128Mi', ownerUid: `rs-${i % 10}` }) },
  {
    label: 'nodeSelector + runtimeClass + hostPort',
    pod: (i, nodes) => ({
      cpu: '100m',
      memory: '128Mi',
      nodeSelector: { zone: `z${i % 4}` },
      runtimeClassName: 'runc',
      hostPort: benchHostPort(i, nodes),
      ownerUid: `rs-${i % 10}`,
    }),
  },
];

/** why `pods` pods cannot all fit on `nodes` bench nodes, or undefined when they can */
export function benchCapacityError(nodes: number, pods: number): string | undefined {
  if (nodes < 4) return `${nodes} nodes: the nodeSelector scenario needs at least 4 (one per zone)`;
  // the nodeSelector scenario uses only 4·⌊nodes/4⌋ nodes, each holding the pods allocatable
  const max = 4 * Math.floor(nodes / 4) * BENCH_PODS_PER_NODE;
  if (pods > max) return `${pods} pods do not fit on ${nodes} nodes of ${BENCH_PODS_PER_NODE} pods each (at most ${max}): add --nodes`;
  return undefined;
}

/** fn(0..n-1), at most `concurrency` at once */
export async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** Ready bench nodes node-0..node-(n-1) with their status posted (as an agent would) and the runc RuntimeClass */
export async function createBenchNodes(client: KubeClient, nodes: number): Promise<void> {
  await pool(nodes, 8, async (i) => {
    const n = makeNode(`node-${i}`, { cpu: '32', memory: '64Gi', pods: String(BENCH_PODS_PER_NODE), labels: { zone: `z${i % 4}` } });
    const created = await client.create(Resources.nodes, n);
    // a real apiserver ignores status on create: post it as a node agent would
    await client.updateStatus(Resources.nodes, { ...created, status: n.status } as KubeObject);
  });
  try {
    await client.create(Resources.runtimeclasses, { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'runc' }, handler: 'runc' } as KubeObject);
  } catch (err) {
    if (!isHedgeError(err, 'AlreadyExists')) throw err;
  }
}

/** `pods` pending pods pod-0..pod-(n-1) of `sc` in namespace `ns` (created if missing); `onCreated` counts them */
export async function createBenchPods(
  client: KubeClient,
  sc: SchedulerScenario,
  o: { ns: string; nodes: number; pods: number; concurrency?: number; onCreated?: () => void },
): Promise<void> {
  if (o.ns !== 'default') {
    // hostPort is outside the default PodSecurity level (baseline): the namespace opts out as a user would
    const labels = { 'pod-security.kubernetes.io/enforce': 'privileged' };
    await client.create(Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: o.ns, labels } }).catch((err: unknown) => {
      if (!isHedgeError(err, 'AlreadyExists')) throw err;
    });
  }
  await pool(o.pods, o.concurrency ?? 16, async (i) => {
    await client.create(Resources.pods, makePod(`pod-${i}`, { ...sc.pod(i, o.nodes), namespace: o.ns }));
    o.onCreated?.();
  });
}
