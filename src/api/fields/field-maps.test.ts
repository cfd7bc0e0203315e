import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../object.ts';
import { eventFields, namespaceFields, nodeFields, podFields, secretFields } from './field-maps.ts';

const values = (map: Record<string, (o: KubeObject) => string>, o: KubeObject): Record<string, string> =>
  Object.fromEntries(Object.entries(map).map(([k, f]) => [k, f(o)]));

test('pod fields', () => {
  const v = values(podFields, {
    metadata: { name: 'p' },
    spec: { nodeName: 'n', restartPolicy: 'Always', schedulerName: 's', serviceAccountName: 'sa', hostNetwork: true, containers: [] },
    status: { phase: 'Running', podIP: '10.0.0.9', podIPs: [{ ip: '10.0.0.1' }], nominatedNodeName: 'm' },
  });
  assert.deepEqual(v, {
    'spec.nodeName': 'n',
    'spec.restartPolicy': 'Always',
    'spec.schedulerName': 's',
    'spec.serviceAccountName': 'sa',
    'spec.hostNetwork': 'true',
    'status.phase': 'Running',
    'status.podIP': '10.0.0.1',
    'status.nominatedNodeName': 'm',
  });
  assert.equal(podFields['status.phase']({ metadata: {} }), '');
});

test('event, node, secret, namespace fields', () => {
  const ev = values(eventFields, {
    metadata: { name: 'e' },
    involvedObject: { kind: 'Pod', namespace: 'ns', name: 'p', uid: 'u', apiVersion: 'v1', resourceVersion: '5', fieldPath: 'spec' },
    reason: 'Started',
    reportingComponent: 'kubelet',
    source: { component: 'hedge-agent' },
    type: 'Normal',
  });
  assert.equal(ev['involvedObject.name'], 'p');
  assert.equal(ev['involvedObject.resourceVersion'], '5');
  assert.equal(ev.source, 'hedge-agent');
  assert.equal(ev.reportingComponent, 'kubelet');
  assert.equal(nodeFields['spec.unschedulable']({ metadata: {}, spec: { unschedulable: true } }), 'true');
  assert.equal(nodeFields['spec.unschedulable']({ metadata: {} }), 'false');
  assert.equal(secretFields.type({ metadata: {}, type: 'Opaque' }), 'Opaque');
  assert.equal(namespaceFields['status.phase']({ metadata: {}, status: { phase: 'Active' } }), 'Active');
});
