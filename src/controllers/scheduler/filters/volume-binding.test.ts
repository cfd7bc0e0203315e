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

type Objects = { claims?: PvcObject[]; volumes?: PvObject[]; classes?: StorageClassObject[]; assumed?: Record<string, string> };

function run(objs: Objects, pod: PodObject, nodes: NodeObject[], cycle: CycleState = {}): string | Record<string, string[]> {
  const lookup: VolumeLookup = {
    claim: (ns, n) => objs.claims?.find((c) => c.metadata.namespace === ns && c.metadata.name === n),
    volume: (n) => objs.volumes?.find((v) => v.metadata.name === n),
    storageClass: (n) => objs.classes?.find((c) => c.metadata.name === n),
    volumes: () => objs.volumes ?? [],
    assumedClaim: (n) => objs.assumed?.[n],
  };
  const f = volumeBinding(lookup);
  const infos = nodes.map((n) => {
    const ni = new NodeInfo(n.metadata.name ?? '');
    ni.setNode(n);
    return ni;
  });
  const pi = podInfo(pod);
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

/** a static local PV of a no-provisioner class, on one node, free unless claimRef is given */
const localPv = (name: string, host: string, o: { size?: string; claimRef?: { name: string; uid?: string } } = {}): PvObject => ({
  metadata: { name },
  spec: {
    ...pinned(name, host).spec,
    capacity: { storage: o.size ?? '1Gi' },
    accessModes: ['ReadWriteOnce'],
    storageClassName: 'local-storage',
    local: { path: `/mnt/disks/${name}` },
    ...(o.claimRef ? { claimRef: { namespace: 'default', ...o.claimRef } } : {}),
  },
  status: { phase: o.claimRef ? 'Bound' : 'Available' },
});
const manualClass = sc('local-storage', { provisioner: 'kubernetes.io/no-provisioner' });
const localClaim = (name: string, size = '1Gi'): PvcObject => {
  const c = pvc(name, { storageClassName: 'local-storage' });
  c.spec!.resources = { requests: { storage: size } };
  return c;
};
const withClaims = (...names: string[]): PodObject => {
  const p = makePod('p');
  p.spec!.volumes = names.map((claimName, i) => ({ name: `v${i}`, persistentVolumeClaim: { claimName } }));
  return p;
};
const BIND = "node(s) didn't find available persistent volumes to bind";

test('VolumeBinding: a WaitForFirstConsumer claim of a no-provisioner class goes where a matching static PV is, and the attempt remembers which', () => {
  const cycle: CycleState = {};
  const objs = { claims: [localClaim('data')], classes: [manualClass], volumes: [localPv('small', 'b', { size: '512Mi' }), localPv('big', 'b', { size: '10Gi' }), localPv('fit', 'b', { size: '2Gi' })] };
  assert.deepEqual(run(objs, withClaim('data'), nodes, cycle), { a: [BIND], b: [] });
  // the smallest that is large enough
  assert.equal(cycle.volumeBinding?.staticByNode.get('b')?.get('data')?.metadata.name, 'fit');
  assert.equal(cycle.volumeBinding?.staticByNode.get('a'), undefined);
});

test('VolumeBinding: each static PV goes to one claim of the pod; a PV taken, assumed for another claim, or of another class does not count', () => {
  const objs: Objects = { claims: [localClaim('one'), localClaim('two')], classes: [manualClass], volumes: [localPv('pv1', 'a'), localPv('pv2', 'b'), localPv('pv3', 'b')] };
  const cycle: CycleState = {};
  assert.deepEqual(run(objs, withClaims('one', 'two'), nodes, cycle), { a: [BIND], b: [] }, 'two claims need two PVs on one node');
  const chosen = cycle.volumeBinding?.staticByNode.get('b');
  assert.deepEqual(new Set([chosen?.get('one')?.metadata.name, chosen?.get('two')?.metadata.name]), new Set(['pv2', 'pv3']));
  const taken = { ...objs, volumes: [localPv('pv2', 'b'), localPv('pv3', 'b', { claimRef: { name: 'other', uid: 'u' } })] };
  assert.deepEqual(run(taken, withClaims('one', 'two'), nodes), { a: [BIND], b: [BIND] });
  assert.deepEqual(run({ ...objs, assumed: { pv2: 'default/other' } }, withClaims('one', 'two'), nodes), { a: [BIND], b: [BIND] }, 'pv2 is being given to another claim');
  assert.deepEqual(run({ ...objs, assumed: { pv2: 'default/one' } }, withClaims('one', 'two'), nodes), { a: [BIND], b: [] }, 'assumed for this very claim: still its');
  const otherClass = { ...objs, volumes: [{ ...localPv('pv2', 'b'), spec: { ...localPv('pv2', 'b').spec, storageClassName: 'fast' } }, localPv('pv3', 'b')] };
  assert.deepEqual(run(otherClass, withClaims('one', 'two'), nodes), { a: [BIND], b: [BIND] });
});

test('VolumeBinding: a PV pre-bound to the claim is the one it gets; a class that provisions still provisions where no static PV fits', () => {
  const cycle: CycleState = {};
  const claim: PvcObject = { ...localClaim('data'), metadata: { ...localClaim('data').metadata, uid: 'claim-uid' } };
  const objs = { claims: [claim], classes: [manualClass], volumes: [localPv('free', 'b'), localPv('mine', 'b', { claimRef: { name: 'data', uid: 'claim-uid' } })] };
  assert.deepEqual(run(objs, withClaim('data'), nodes, cycle), { a: [BIND], b: [] });
  assert.equal(cycle.volumeBinding?.staticByNode.get('b')?.get('data')?.metadata.name, 'mine');
  const provisioning = { claims: [pvc('data', { storageClassName: 'local-path' })], classes: [sc('local-path')], volumes: [{ ...localPv('pv-b', 'b'), spec: { ...localPv('pv-b', 'b').spec, storageClassName: 'local-path' } }] };
  const c2: CycleState = {};
  assert.deepEqual(run(provisioning, withClaim('data'), nodes, c2), { a: [], b: [] }, 'a provisioned there, the static PV on b');
  assert.equal(c2.volumeBinding?.staticByNode.get('b')?.get('data')?.metadata.name, 'pv-b');
  assert.equal(c2.volumeBinding?.staticByNode.get('a'), undefined);
});
