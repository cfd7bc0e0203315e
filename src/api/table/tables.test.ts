import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../object.ts';
import { eventTable } from './event.ts';
import { nodeTable } from './node.ts';
import { serviceTable } from './service.ts';
import { configMapTable, endpointsTable, formatEndpoints, leaseTable, namespaceTable, runtimeClassTable, secretTable, serviceAccountTable } from './simple.ts';

const now = new Date('2024-01-03T00:00:00Z');
const meta = (name: string): KubeObject['metadata'] => ({ name, creationTimestamp: '2024-01-01T00:00:00Z' });

test('nodes', () => {
  const node: KubeObject = {
    metadata: { ...meta('edge-1'), labels: { 'node-role.kubernetes.io/control-plane': '', 'node-role.kubernetes.io/edge': '', 'kubernetes.io/role': 'worker' } },
    spec: { unschedulable: true },
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      addresses: [{ type: 'InternalIP', address: '10.0.0.2' }],
      nodeInfo: { kubeletVersion: 'v1.32.0-hedge', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.18.0', containerRuntimeVersion: 'hedge://0.1.0' },
    },
  };
  assert.deepEqual(nodeTable.row(node, now), [
    'edge-1',
    'Ready,SchedulingDisabled',
    'control-plane,edge,worker',
    '2d',
    'v1.32.0-hedge',
    '10.0.0.2',
    '<none>',
    'Debian GNU/Linux 12 (bookworm)',
    '6.18.0',
    'hedge://0.1.0',
  ]);
  const bare = nodeTable.row({ metadata: meta('n') }, now);
  assert.deepEqual(bare.slice(1, 3), ['Unknown', '<none>']);
  assert.equal(bare[7], '<unknown>');
  assert.equal(nodeTable.row({ metadata: meta('n'), status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }, now)[1], 'NotReady');
});

test('services', () => {
  const svc = (spec: Record<string, unknown>, status: Record<string, unknown> = {}): KubeObject => ({ metadata: meta('s'), spec, status });
  assert.deepEqual(
    serviceTable.row(svc({ type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }], selector: { b: '2', a: '1' } }), now),
    ['s', 'ClusterIP', '10.96.0.10', '<none>', '53/UDP,53/TCP', '2d', 'a=1,b=2'],
  );
  assert.deepEqual(serviceTable.row(svc({ type: 'NodePort', clusterIPs: ['10.96.0.2'], ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] }), now).slice(2, 5), [
    '10.96.0.2',
    '<none>',
    '80:30080/TCP',
  ]);
  assert.equal(serviceTable.row(svc({ type: 'LoadBalancer', ports: [] }), now)[3], '<pending>');
  assert.equal(serviceTable.row(svc({ type: 'LoadBalancer' }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } }), now)[3], '1.2.3.4');
  assert.deepEqual(serviceTable.row(svc({ type: 'ExternalName', externalName: 'example.com' }), now).slice(2, 5), ['<none>', 'example.com', '<none>']);
});

test('events', () => {
  const ev: KubeObject = {
    metadata: meta('p.17a'),
    involvedObject: { kind: 'Pod', name: 'web', fieldPath: 'spec.containers{a}' },
    reason: 'Pulled',
    message: ' Successfully pulled image \n',
    type: 'Normal',
    source: { component: 'kubelet', host: 'edge-1' },
    firstTimestamp: '2024-01-02T23:00:00Z',
    lastTimestamp: '2024-01-02T23:59:00Z',
    count: 3,
  };
  assert.deepEqual(eventTable.row(ev, now), ['60s', 'Normal', 'Pulled', 'pod/web', 'spec.containers{a}', 'kubelet, edge-1', 'Successfully pulled image', '60m', 3, 'p.17a']);
  const fresh: KubeObject = { metadata: meta('e'), involvedObject: { kind: 'Node' }, eventTime: '2024-01-02T23:59:50.000000Z', reportingComponent: 'hedge' };
  const row = eventTable.row(fresh, now);
  assert.deepEqual([row[0], row[3], row[5], row[7], row[8]], ['10s', 'node', 'hedge', '10s', 1]);
  assert.deepEqual(
    eventTable.columns.filter((c) => c.priority === 0).map((c) => c.name),
    ['Last Seen', 'Type', 'Reason', 'Object', 'Message'],
  );
});

test('simple tables', () => {
  assert.deepEqual(namespaceTable.row({ metadata: meta('default'), status: { phase: 'Active' } }, now), ['default', 'Active', '2d']);
  assert.deepEqual(configMapTable.row({ metadata: meta('c'), data: { a: '1', b: '2' }, binaryData: { c: 'AA==' } }, now), ['c', 3, '2d']);
  assert.deepEqual(secretTable.row({ metadata: meta('s'), type: 'Opaque', data: { a: 'AA==' } }, now), ['s', 'Opaque', 1, '2d']);
  assert.deepEqual(serviceAccountTable.row({ metadata: meta('default') }, now), ['default', 0, '2d']);
  assert.deepEqual(leaseTable.row({ metadata: meta('edge-1'), spec: { holderIdentity: 'edge-1' } }, now), ['edge-1', 'edge-1', '2d']);
  assert.deepEqual(runtimeClassTable.row({ metadata: meta('gvisor'), handler: 'runsc' }, now), ['gvisor', 'runsc', '2d']);
  assert.deepEqual(endpointsTable.row({ metadata: meta('e') }, now), ['e', '<none>', '2d']);
  assert.deepEqual(configMapTable.columns.map((c) => [c.name, c.type]), [['Name', 'string'], ['Data', 'integer'], ['Age', 'string']]);
});

test('endpoints formatting truncates after three', () => {
  assert.equal(
    formatEndpoints({
      subsets: [
        { addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ port: 80 }, { port: 443 }] },
        { addresses: [{ ip: 'fd00::1' }] },
      ],
    }),
    '10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...',
  );
  assert.equal(formatEndpoints({ subsets: [{ addresses: [{ ip: 'fd00::1' }], ports: [{ port: 80 }] }] }), '[fd00::1]:80');
});
