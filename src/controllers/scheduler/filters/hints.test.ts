import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PersistentVolumeClaimObject, PersistentVolumeObject, StorageClassObject } from '../../../api/storage/claims.ts';
import type { NodeObject, PodObject } from '../../common/types.ts';
import { makeNode, makePod, type PodSpecInput } from '../../testing/objects.ts';
import { ActionType, hintFor, nodeUpdateActions, type ClusterEvent, type QueueingHint, type RuntimeClassObject } from '../events.ts';
import { podInfo } from '../node-info.ts';
import type { Filter } from './types.ts';
import { interPodAffinity } from './inter-pod-affinity.ts';
import { nodeAffinity } from './node-affinity.ts';
import { nodePorts } from './node-ports.ts';
import { nodeReady } from './node-ready.ts';
import { nodeResourcesFit } from './node-resources-fit.ts';
import { nodeUnschedulable } from './node-unschedulable.ts';
import { podTopologySpread } from './pod-topology-spread.ts';
import { runtimeHandler } from './runtime-handler.ts';
import { taintToleration } from './taint-toleration.ts';
import { volumeBinding } from './volume-binding.ts';

const ctx = { namespaceLabels: () => undefined };

/** what `f` says about `event` for `pod`: its first registration that matches, or 'unregistered' */
function hint(f: Filter, pod: PodObject, event: ClusterEvent): QueueingHint | 'unregistered' {
  for (const r of f.events ?? []) {
    const h = hintFor(r, event, podInfo(pod), ctx);
    if (h !== undefined) return h;
  }
  return 'unregistered';
}

/** a node update as the scheduler sees it: its kinds of change computed from the pair */
const nodeUpdate = (old: NodeObject, cur: NodeObject): ClusterEvent => ({ resource: 'Node', action: nodeUpdateActions(old, cur), old, new: cur });
const nodeAdd = (cur: NodeObject): ClusterEvent => ({ resource: 'Node', action: ActionType.Add, new: cur });
const placed = (name: string, o: PodSpecInput): PodObject => makePod(name, { nodeName: 'a', ...o });
const podAdd = (p: PodObject): ClusterEvent => ({ resource: 'AssignedPod', action: ActionType.Add, new: p });
const podDelete = (p: PodObject): ClusterEvent => ({ resource: 'AssignedPod', action: ActionType.Delete, old: p });

test('a node heartbeat (lastHeartbeatTime only) is no change at all', () => {
  const old = makeNode('a', { heartbeat: '2026-01-01T00:00:00Z' });
  const cur = makeNode('a', { heartbeat: '2026-01-01T00:00:10Z' });
  assert.equal(nodeUpdateActions(old, cur), 0);
  assert.equal(nodeUpdateActions(old, makeNode('a', { ready: 'False' })), ActionType.UpdateNodeCondition);
  assert.equal(nodeUpdateActions(old, makeNode('a', { labels: { x: 'y' } })), ActionType.UpdateNodeLabel);
  assert.equal(nodeUpdateActions(old, makeNode('a', { unschedulable: true })), ActionType.UpdateNodeTaint);
  assert.equal(nodeUpdateActions(old, makeNode('a', { cpu: '8' })), ActionType.UpdateNodeAllocatable);
  assert.equal(nodeUpdateActions(old, makeNode('a', { handlers: ['runc', 'gvisor'] })), ActionType.UpdateNodeRuntimeHandlers);
});

test('NodeAffinity: a label change that makes the node match queues; one that does not, or a taint change, does not', () => {
  const pod = makePod('p', { nodeSelector: { disk: 'ssd' } });
  const plain = makeNode('a');
  const ssd = makeNode('a', { labels: { disk: 'ssd' } });
  assert.equal(hint(nodeAffinity, pod, nodeUpdate(plain, ssd)), 'Queue');
  assert.equal(hint(nodeAffinity, pod, nodeUpdate(plain, makeNode('a', { labels: { disk: 'hdd' } }))), 'QueueSkip');
  // it matched before: the label change is not what it waited for
  assert.equal(hint(nodeAffinity, pod, nodeUpdate(ssd, makeNode('a', { labels: { disk: 'ssd', rack: '1' } }))), 'QueueSkip');
  assert.equal(hint(nodeAffinity, pod, nodeAdd(ssd)), 'Queue');
  assert.equal(hint(nodeAffinity, pod, nodeAdd(plain)), 'QueueSkip');
  assert.equal(hint(nodeAffinity, pod, nodeUpdate(plain, makeNode('a', { taints: [{ key: 'k', effect: 'NoSchedule' }] }))), 'unregistered');
});

test('TaintToleration and NodeUnschedulable: only a taint lifted (or cordon ended) that the pod did not tolerate', () => {
  const pod = makePod('p');
  const tainted = makeNode('a', { taints: [{ key: 'k', effect: 'NoSchedule' }] });
  const clean = makeNode('a');
  assert.equal(hint(taintToleration, pod, nodeUpdate(tainted, clean)), 'Queue');
  assert.equal(hint(taintToleration, pod, nodeUpdate(clean, tainted)), 'QueueSkip');
  assert.equal(hint(taintToleration, pod, nodeUpdate(tainted, makeNode('a', { taints: [{ key: 'k', effect: 'NoSchedule' }, { key: 'j', effect: 'PreferNoSchedule' }] }))), 'QueueSkip');
  assert.equal(hint(taintToleration, makePod('t', { tolerations: [{ key: 'k', operator: 'Exists' }] }), nodeAdd(tainted)), 'Queue');
  const cordoned = makeNode('a', { unschedulable: true });
  assert.equal(hint(nodeUnschedulable, pod, nodeUpdate(cordoned, clean)), 'Queue');
  assert.equal(hint(nodeUnschedulable, pod, nodeUpdate(clean, cordoned)), 'QueueSkip');
  assert.equal(hint(nodeUnschedulable, pod, nodeUpdate(cordoned, makeNode('a', { unschedulable: true, taints: [{ key: 'k', effect: 'NoSchedule' }] }))), 'QueueSkip');
});

test('NodeReady: a node turning Ready queues; a heartbeat is no event, staying NotReady skips', () => {
  const pod = makePod('p');
  assert.equal(hint(nodeReady, pod, nodeUpdate(makeNode('a', { ready: 'Unknown' }), makeNode('a'))), 'Queue');
  assert.equal(hint(nodeReady, pod, nodeUpdate(makeNode('a', { ready: 'Unknown' }), makeNode('a', { ready: 'False' }))), 'QueueSkip');
  assert.equal(hint(nodeReady, pod, nodeAdd(makeNode('a', { ready: 'False' }))), 'QueueSkip');
});

test('NodeResourcesFit: a placed pod leaving queues; a node queues only when the pod fits it empty and it grew', () => {
  const pod = makePod('p', { cpu: '3' });
  assert.equal(hint(nodeResourcesFit, pod, podDelete(placed('q', { cpu: '1' }))), 'Queue');
  assert.equal(hint(nodeResourcesFit, pod, podAdd(placed('q', { cpu: '1' }))), 'unregistered');
  assert.equal(hint(nodeResourcesFit, pod, nodeAdd(makeNode('b', { cpu: '2' }))), 'QueueSkip');
  assert.equal(hint(nodeResourcesFit, pod, nodeAdd(makeNode('b', { cpu: '4' }))), 'Queue');
  assert.equal(hint(nodeResourcesFit, pod, nodeUpdate(makeNode('a', { cpu: '4' }), makeNode('a', { cpu: '8' }))), 'Queue');
  // more memory does not help a pod that requests none... unless it also fits: cpu did not grow
  assert.equal(hint(nodeResourcesFit, pod, nodeUpdate(makeNode('a', { cpu: '4', memory: '8Gi' }), makeNode('a', { cpu: '4', memory: '16Gi' }))), 'QueueSkip');
  assert.equal(hint(nodeResourcesFit, pod, nodeUpdate(makeNode('a', { cpu: '8' }), makeNode('a', { cpu: '4' }))), 'QueueSkip');
  assert.equal(hint(nodeResourcesFit, pod, nodeUpdate(makeNode('a', { cpu: '4', pods: '10' }), makeNode('a', { cpu: '4', pods: '20' }))), 'Queue');
});

test('NodePorts: only a placed pod holding one of the pod\'s host ports leaving queues', () => {
  const pod = makePod('p', { hostPort: 8080 });
  assert.equal(hint(nodePorts, pod, podDelete(placed('q', { hostPort: 8080 }))), 'Queue');
  assert.equal(hint(nodePorts, pod, podDelete(placed('q', { hostPort: 9090 }))), 'QueueSkip');
  assert.equal(hint(nodePorts, pod, podDelete(placed('q', {}))), 'QueueSkip');
  assert.equal(hint(nodePorts, pod, nodeAdd(makeNode('b'))), 'Queue');
  assert.equal(hint(nodePorts, pod, nodeUpdate(makeNode('b'), makeNode('b', { labels: { x: 'y' } }))), 'unregistered');
});

test('RuntimeHandler: its RuntimeClass appearing, or a node offering a new handler', () => {
  const pod = makePod('p', { runtimeClassName: 'gvisor' });
  const rc = (name: string): RuntimeClassObject => ({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name }, handler: name });
  assert.equal(hint(runtimeHandler, pod, { resource: 'RuntimeClass', action: ActionType.Add, new: rc('gvisor') }), 'Queue');
  assert.equal(hint(runtimeHandler, pod, { resource: 'RuntimeClass', action: ActionType.Add, new: rc('kata') }), 'QueueSkip');
  assert.equal(hint(runtimeHandler, pod, nodeUpdate(makeNode('a'), makeNode('a', { handlers: ['runc', 'gvisor'] }))), 'Queue');
  assert.equal(hint(runtimeHandler, pod, nodeUpdate(makeNode('a', { handlers: ['runc', 'gvisor'] }), makeNode('a', { handlers: ['runc'] }))), 'QueueSkip');
});

test('InterPodAffinity: a matching peer placed, an anti-affinity match or a blocking pod leaving; node topology labels', () => {
  const term = { labelSelector: { matchLabels: { app: 'cache' } }, topologyKey: 'zone' };
  const web = makePod('web', { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } } });
  assert.equal(hint(interPodAffinity, web, podAdd(placed('c', { labels: { app: 'cache' } }))), 'Queue');
  assert.equal(hint(interPodAffinity, web, podAdd(placed('d', { labels: { app: 'db' } }))), 'QueueSkip');
  const relabel: ClusterEvent = { resource: 'AssignedPod', action: ActionType.UpdatePodLabel, old: placed('d', { labels: { app: 'db' } }), new: placed('d', { labels: { app: 'cache' } }) };
  assert.equal(hint(interPodAffinity, web, relabel), 'Queue');
  const lonely = makePod('l', { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } } });
  assert.equal(hint(interPodAffinity, lonely, podDelete(placed('c', { labels: { app: 'cache' } }))), 'Queue');
  assert.equal(hint(interPodAffinity, lonely, podDelete(placed('d', { labels: { app: 'db' } }))), 'QueueSkip');
  // a placed pod whose own anti-affinity selected the pod leaves (upstream's hint misses this one)
  const blocker = placed('b', { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'zone' }] } } });
  assert.equal(hint(interPodAffinity, makePod('w', { labels: { app: 'web' } }), podDelete(blocker)), 'Queue');
  assert.equal(hint(interPodAffinity, makePod('w', { labels: { app: 'other' } }), podDelete(blocker)), 'QueueSkip');
  assert.equal(hint(interPodAffinity, web, nodeUpdate(makeNode('a'), makeNode('a', { labels: { zone: 'z1' } }))), 'Queue');
  assert.equal(hint(interPodAffinity, web, nodeUpdate(makeNode('a'), makeNode('a', { labels: { rack: 'r1' } }))), 'QueueSkip');
});

test('PodTopologySpread: selected pods of its namespace placed or gone; nodes gaining the topology keys', () => {
  const pod = makePod('p', { labels: { app: 'web' } });
  pod.spec!.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } }];
  assert.equal(hint(podTopologySpread, pod, podDelete(placed('q', { labels: { app: 'web' } }))), 'Queue');
  assert.equal(hint(podTopologySpread, pod, podDelete(placed('q', { labels: { app: 'db' } }))), 'QueueSkip');
  assert.equal(hint(podTopologySpread, pod, podDelete(placed('q', { labels: { app: 'web' }, namespace: 'other' }))), 'QueueSkip');
  const terminating = placed('q', { labels: { app: 'web' } });
  const gone = { ...terminating, metadata: { ...terminating.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } };
  assert.equal(hint(podTopologySpread, pod, { resource: 'AssignedPod', action: ActionType.UpdatePodTerminating, old: terminating, new: gone }), 'Queue');
  assert.equal(hint(podTopologySpread, pod, nodeAdd(makeNode('b', { labels: { zone: 'z9' } }))), 'Queue');
  assert.equal(hint(podTopologySpread, pod, nodeAdd(makeNode('b'))), 'QueueSkip');
  assert.equal(hint(podTopologySpread, pod, nodeUpdate(makeNode('b', { labels: { zone: 'z1' } }), makeNode('b', { labels: { zone: 'z1', rack: '2' } }))), 'QueueSkip');
  assert.equal(hint(podTopologySpread, pod, nodeUpdate(makeNode('b', { labels: { zone: 'z1' } }), makeNode('b', { labels: { zone: 'z2' } }))), 'Queue');
  assert.equal(hint(podTopologySpread, pod, { resource: 'Node', action: ActionType.Delete, old: makeNode('b', { labels: { zone: 'z1' } }) }), 'Queue');
});

test('VolumeBinding: a new PV or one changed beyond its status queues; a status-only update does not; claims only the pod\'s own', () => {
  const vb = volumeBinding({ claim: () => undefined, volume: () => undefined, volumes: () => [], assumedClaim: () => undefined, storageClass: () => undefined });
  const pod = makePod('p');
  pod.spec!.volumes = [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }];
  const pv = (o: { phase?: string; message?: string; labels?: Record<string, string>; storage?: string } = {}): PersistentVolumeObject => ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: 'pv-1', labels: o.labels },
    spec: { capacity: { storage: o.storage ?? '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: 'manual', hostPath: { path: '/x' } },
    status: { phase: o.phase ?? 'Available', message: o.message },
  });
  const pvEvent = (old: PersistentVolumeObject | undefined, cur: PersistentVolumeObject): ClusterEvent => ({ resource: 'PersistentVolume', action: old ? ActionType.UpdateOther : ActionType.Add, old, new: cur });
  assert.equal(hint(vb, pod, pvEvent(undefined, pv())), 'Queue');
  assert.equal(hint(vb, pod, pvEvent(pv(), pv({ message: 'checked' }))), 'QueueSkip');
  assert.equal(hint(vb, pod, pvEvent(pv(), pv({ phase: 'Bound' }))), 'QueueSkip');
  assert.equal(hint(vb, pod, pvEvent(pv({ phase: 'Released' }), pv({ phase: 'Available' }))), 'Queue');
  assert.equal(hint(vb, pod, pvEvent(pv(), pv({ storage: '2Gi' }))), 'Queue');
  assert.equal(hint(vb, pod, pvEvent(pv(), pv({ labels: { tier: 'fast' } }))), 'Queue');
  assert.equal(hint(vb, makePod('no-claims'), pvEvent(undefined, pv())), 'QueueSkip');

  const pvc = (name: string, o: { volumeName?: string; phase?: string; namespace?: string } = {}): PersistentVolumeClaimObject => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: o.namespace ?? 'default', uid: `uid-${name}` },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, volumeName: o.volumeName },
    status: { phase: o.phase ?? 'Pending' },
  });
  const pvcEvent = (old: PersistentVolumeClaimObject | undefined, cur: PersistentVolumeClaimObject): ClusterEvent => ({ resource: 'PersistentVolumeClaim', action: old ? ActionType.UpdateOther : ActionType.Add, old, new: cur });
  assert.equal(hint(vb, pod, pvcEvent(undefined, pvc('data'))), 'Queue');
  assert.equal(hint(vb, pod, pvcEvent(undefined, pvc('other'))), 'QueueSkip');
  assert.equal(hint(vb, pod, pvcEvent(undefined, pvc('data', { namespace: 'elsewhere' }))), 'QueueSkip');
  assert.equal(hint(vb, pod, pvcEvent(pvc('data'), pvc('data', { volumeName: 'pv-1' }))), 'Queue');
  assert.equal(hint(vb, pod, pvcEvent(pvc('data', { volumeName: 'pv-1' }), pvc('data', { volumeName: 'pv-1', phase: 'Bound' }))), 'QueueSkip');

  const sc = (topologies?: { matchLabelExpressions: { key: string; values: string[] }[] }[]): StorageClassObject => ({
    apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'local' }, provisioner: 'x', allowedTopologies: topologies,
  });
  assert.equal(hint(vb, pod, { resource: 'StorageClass', action: ActionType.Add, new: sc() }), 'Queue');
  assert.equal(hint(vb, pod, { resource: 'StorageClass', action: ActionType.UpdateOther, old: sc(), new: { ...sc(), metadata: { name: 'local', labels: { a: 'b' } } } }), 'QueueSkip');
  assert.equal(hint(vb, pod, { resource: 'StorageClass', action: ActionType.UpdateOther, old: sc(), new: sc([{ matchLabelExpressions: [{ key: 'zone', values: ['z1'] }] }]) }), 'Queue');
});
