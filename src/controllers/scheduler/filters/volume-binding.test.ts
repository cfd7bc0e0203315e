import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeObject, PodObject } from '../../common/types.ts';
import { makeNode, makePod } from '../../testing/objects.ts';
import { NodeInfo, podInfo } from '../node-info.ts';
import type { CycleState } from './types.ts';
import { volumeBinding, type PvcObject, type PvObject, type StorageClassObject, type VolumeLookup } from './volume-binding.ts';

const pvc = (name: string, o: { volumeName?: string; storageClassName?: string; deleting?: boolean } = {}): PvcObject => ({
  metadata: { name, namespace: 'default', deletionTimestamp: o.deleting ? '2026-01-01T00:00:00Z' : undefined },
  spec: { volumeName: o.volumeName, storageClassName: o.storageClassName, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
});
const pinned = (name: string, host: string): PvObject => ({
  metadata: { name },
  spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [host] }] }] } } },
});
const sc = (name: string, o: Partial<StorageClassObject> = {}): StorageClassObject => ({ metadata: { name }, provisioner: 'hedge.io/local-path', volumeBindingMode: 'WaitForFirstConsumer', ...o });

function run(objs: { claims?: PvcObject[]; volumes?: PvObject[]; classes?: StorageClassObject[] }, pod: PodObject, nodes: NodeObject[]): string | Record<string, string[]> {
  const lookup: VolumeLookup = {
    claim: (ns, n) => objs.claims?.find((c) => c.metadata.namespace === ns && c.metadata.name === n),
    volume: (n) => objs.volumes?.find((v) => v.metadata.name === n),
    storageClass: (n) => objs.classes?.find((c) => c.metadata.name === n),
  };
  const f = volumeBinding(lookup);
  const infos = nodes.map((n) => {
    const ni = new NodeInfo(n.metadata.name ?? '');
    ni.setNode(n);
    return ni;
  });
  const pi = podInfo(pod);
  const cycle: CycleState = {};
  const r = f.prepare?.({ pod: pi, nodes: infos, namespaceLabels: () => undefined }, cycle);
  if (typeof r === 'string') return r;
  return Object.fromEntries(infos.map((ni) => [ni.name, r ? f.filter({ pod: pi, nodeInfo: ni, node: ni.node!, runtimeHandler: undefined, cycle }) : []]));
}

const withClaim = (claimName: string): PodObject => {
  const p = makePod('p');
  p.spec!.volumes = [{ name: 'data', persistentVolumeClaim: { claimName } }];
  return p;
};
const nodes = [makeNode('a'), makeNode('b', { labels: { zone: 'z2' } })];

test('VolumeBinding: a pod without claims is not looked at', () => {
  assert.deepEqual(run({}, makePod('p'), nodes), { a: [], b: [] });
});

test('VolumeBinding: missing, terminating and immediate-unbound claims make the pod unschedulable everywhere', () => {
  assert.equal(run({}, withClaim('data'), nodes), 'persistentvolumeclaim "data" not found');
  assert.equal(run({ claims: [pvc('data', { deleting: true })] }, withClaim('data'), nodes), 'persistentvolumeclaim "data" is being deleted');
  assert.equal(run({ claims: [pvc('data', { storageClassName: 'fast' })], classes: [sc('fast', { volumeBindingMode: 'Immediate' })] }, withClaim('data'), nodes), 'pod has unbound immediate PersistentVolumeClaims');
  assert.equal(run({ claims: [pvc('data', { storageClassName: 'gone' })] }, withClaim('data'), nodes), 'storageclass.storage.k8s.io "gone" not found');
});

test('VolumeBinding: a bound claim pins the pod to its volume\'s node', () => {
  const claims = [pvc('data', { volumeName: 'pv1' })];
  assert.deepEqual(run({ claims, volumes: [pinned('pv1', 'b')] }, withClaim('data'), nodes), { a: ['node(s) had volume node affinity conflict'], b: [] });
  assert.deepEqual(run({ claims, volumes: [{ metadata: { name: 'pv1' }, spec: {} }] }, withClaim('data'), nodes), { a: [], b: [] }, 'no node affinity: anywhere');
  assert.deepEqual((run({ claims }, withClaim('data'), nodes) as Record<string, string[]>).a, ['node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)']);
});

test('VolumeBinding: a WaitForFirstConsumer claim goes where its class can provision', () => {
  const claims = [pvc('data', { storageClassName: 'local-path' })];
  assert.deepEqual(run({ claims, classes: [sc('local-path')] }, withClaim('data'), nodes), { a: [], b: [] });
  const zoned = sc('local-path', { allowedTopologies: [{ matchLabelExpressions: [{ key: 'zone', values: ['z2'] }] }] });
  assert.deepEqual(run({ claims, classes: [zoned] }, withClaim('data'), nodes), { a: ["node(s) didn't find available persistent volumes to bind"], b: [] });
  const manual = sc('local-path', { provisioner: 'kubernetes.io/no-provisioner' });
  assert.deepEqual((run({ claims, classes: [manual] }, withClaim('data'), nodes) as Record<string, string[]>).a, ["node(s) didn't find available persistent volumes to bind"]);
});
