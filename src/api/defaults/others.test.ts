import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../object.ts';
import { defaultEndpoints, defaultNamespace, defaultNode, defaultSecret, defaultService } from './others.ts';

test('service defaults', () => {
  const svc: KubeObject = { metadata: { name: 's' }, spec: { ports: [{ port: 80 }, { port: 443, targetPort: 'https' }] } };
  defaultService(svc);
  assert.deepEqual(svc.spec, {
    type: 'ClusterIP',
    sessionAffinity: 'None',
    internalTrafficPolicy: 'Cluster',
    ports: [
      { port: 80, protocol: 'TCP', targetPort: 80 },
      { port: 443, targetPort: 'https', protocol: 'TCP' },
    ],
  });
  const lb: KubeObject = { metadata: { name: 'l' }, spec: { type: 'LoadBalancer', ports: [{ port: 1 }] } };
  defaultService(lb);
  assert.equal((lb.spec as { externalTrafficPolicy: string }).externalTrafficPolicy, 'Cluster');
  assert.equal((lb.spec as { allocateLoadBalancerNodePorts: boolean }).allocateLoadBalancerNodePorts, true);
});

test('secret, namespace, node, endpoints defaults', () => {
  const s: KubeObject = { metadata: { name: 's' } };
  defaultSecret(s);
  assert.equal(s.type, 'Opaque');
  // stringData is write-only: merged into data (its keys win), then gone; a non-string stays for validation
  const sd: KubeObject = { metadata: { name: 's' }, data: { a: 'b2xk', keep: 'aw==' }, stringData: { a: 'new', b: 'ü' } };
  defaultSecret(sd);
  assert.deepEqual(sd.data, { a: Buffer.from('new').toString('base64'), keep: 'aw==', b: Buffer.from('ü').toString('base64') });
  assert.equal('stringData' in sd, false);
  const bad: KubeObject = { metadata: { name: 's' }, stringData: { n: 1, ok: 'x' } };
  defaultSecret(bad);
  assert.deepEqual([bad.data, bad.stringData], [{ ok: 'eA==' }, { n: 1 }]);
  const ns: KubeObject = { metadata: { name: 'team-a', labels: { x: 'y' } } };
  defaultNamespace(ns);
  assert.deepEqual(ns.metadata.labels, { x: 'y', 'kubernetes.io/metadata.name': 'team-a' });
  assert.deepEqual(ns.status, { phase: 'Active' });
  const node: KubeObject = { metadata: { name: 'n' }, status: { capacity: { cpu: '2' } } };
  defaultNode(node);
  assert.deepEqual((node.status as { allocatable: unknown }).allocatable, { cpu: '2' });
  const ep: KubeObject = { metadata: { name: 'e' }, subsets: [{ ports: [{ port: 80 }] }] };
  defaultEndpoints(ep);
  assert.deepEqual(ep.subsets, [{ ports: [{ port: 80, protocol: 'TCP' }] }]);
});
