import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestInfo } from '../request-info.ts';
import { authorizeNode } from './node-authorizer.ts';

const may = (method: string, path: string): boolean => authorizeNode('edge-1', parseRequestInfo(method, path, new URLSearchParams())).allowed;

test('nodes read NetworkPolicies and Namespaces (the node enforces policy), never write them', () => {
  assert.equal(may('GET', '/apis/networking.k8s.io/v1/networkpolicies'), true);
  assert.equal(may('GET', '/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/deny'), true);
  assert.equal(may('GET', '/api/v1/namespaces'), true);
  assert.equal(may('GET', '/api/v1/namespaces/shop'), true);
  assert.equal(may('POST', '/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies'), false);
  assert.equal(may('DELETE', '/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/deny'), false);
  assert.equal(may('PUT', '/api/v1/namespaces/shop'), false);
  assert.equal(may('DELETE', '/api/v1/namespaces/shop'), false);
});

test('a node creates and deletes pods (its static pods\' mirrors; NodeRestriction says which), never updates them or binds', () => {
  assert.equal(may('POST', '/api/v1/namespaces/kube-system/pods'), true);
  assert.equal(may('DELETE', '/api/v1/namespaces/kube-system/pods/etcd-edge-1'), true);
  assert.equal(may('PATCH', '/api/v1/namespaces/kube-system/pods/etcd-edge-1/status'), true);
  assert.equal(may('PUT', '/api/v1/namespaces/kube-system/pods/etcd-edge-1'), false);
  assert.equal(may('PATCH', '/api/v1/namespaces/kube-system/pods/etcd-edge-1'), false);
  assert.equal(may('POST', '/api/v1/namespaces/kube-system/pods/etcd-edge-1/binding'), false);
});

test('a node gets only the NetworkAttachmentDefinitions its pods name (graph), any namespace; never lists them', async () => {
  const { NodeGraph } = await import('./node-graph.ts');
  const graph = new NodeGraph();
  const pod = (name: string, node: string, annotations: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop', annotations }, spec: { nodeName: node, containers: [] } });
  graph.reset([
    pod('a', 'edge-1', { 'v1.multus-cni.io/default-network': 'lan', 'k8s.v1.cni.cncf.io/networks': '[{"name":"sto","namespace":"infra","interface":"st0"}]' }),
    pod('b', 'edge-2', { 'k8s.v1.cni.cncf.io/networks': 'other' }),
  ]);
  const can = (method: string, path: string): boolean => authorizeNode('edge-1', parseRequestInfo(method, path, new URLSearchParams()), graph).allowed;
  assert.equal(can('GET', '/apis/k8s.cni.cncf.io/v1/namespaces/shop/network-attachment-definitions/lan'), true);
  assert.equal(can('GET', '/apis/k8s.cni.cncf.io/v1/namespaces/infra/network-attachment-definitions/sto'), true);
  assert.equal(can('GET', '/apis/k8s.cni.cncf.io/v1/namespaces/shop/network-attachment-definitions/sto'), false, 'namespace matters');
  assert.equal(can('GET', '/apis/k8s.cni.cncf.io/v1/namespaces/shop/network-attachment-definitions/other'), false, "another node's pod");
  assert.equal(can('GET', '/apis/k8s.cni.cncf.io/v1/namespaces/shop/network-attachment-definitions'), false);
  assert.equal(can('PUT', '/apis/k8s.cni.cncf.io/v1/namespaces/shop/network-attachment-definitions/lan'), false);
});

test('a node gets the PVCs its pods use and the PVs those claims are bound to, nothing else', async () => {
  const { NodeGraph } = await import('./node-graph.ts');
  const graph = new NodeGraph();
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db-0', namespace: 'shop' }, spec: { nodeName: 'edge-1', containers: [], volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data-db-0' } }] } };
  graph.reset([pod]);
  const claim = (name: string, volumeName?: string) => ({ metadata: { name, namespace: 'shop' }, spec: { volumeName } });
  graph.applyClaim({ type: 'added', obj: claim('data-db-0', 'pvc-1') }, () => []);
  graph.applyClaim({ type: 'added', obj: claim('other', 'pvc-2') }, () => []);
  const can = (path: string): boolean => authorizeNode('edge-1', parseRequestInfo('GET', path, new URLSearchParams()), graph).allowed;
  assert.equal(can('/api/v1/namespaces/shop/persistentvolumeclaims/data-db-0'), true);
  assert.equal(can('/api/v1/persistentvolumes/pvc-1'), true);
  assert.equal(can('/api/v1/persistentvolumes/pvc-2'), false, 'bound to a claim no pod on the node uses');
  assert.equal(can('/api/v1/persistentvolumes'), false, 'never a list');
  // the claim rebound elsewhere (or deleted): the old volume is no longer readable
  graph.applyClaim({ type: 'updated', obj: claim('data-db-0', 'pvc-3'), old: claim('data-db-0', 'pvc-1') }, () => []);
  assert.equal(can('/api/v1/persistentvolumes/pvc-1'), false);
  assert.equal(can('/api/v1/persistentvolumes/pvc-3'), true);
  graph.applyClaim({ type: 'deleted', obj: claim('data-db-0', 'pvc-3') }, () => []);
  assert.equal(can('/api/v1/persistentvolumes/pvc-3'), false);
  // without a graph nodes get no PVs at all
  assert.equal(authorizeNode('edge-1', parseRequestInfo('GET', '/api/v1/persistentvolumes/pvc-1', new URLSearchParams())).allowed, false);
});

test('nodes read Ingresses and IngressClasses and write Ingress status (their ingress controller); get the TLS Secrets Ingresses name, while they name them', async () => {
  const { NodeGraph } = await import('./node-graph.ts');
  const graph = new NodeGraph();
  const can = (method: string, path: string): boolean => authorizeNode('edge-1', parseRequestInfo(method, path, new URLSearchParams()), graph).allowed;
  assert.equal(can('GET', '/apis/networking.k8s.io/v1/ingresses'), true);
  assert.equal(can('GET', '/apis/networking.k8s.io/v1/ingressclasses'), true);
  assert.equal(can('PATCH', '/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web/status'), true);
  assert.equal(can('PUT', '/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web'), false);
  assert.equal(can('DELETE', '/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web'), false);
  assert.equal(can('POST', '/apis/networking.k8s.io/v1/ingressclasses'), false);
  const ing = (name: string, secrets: string[]) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: 'shop' }, spec: { tls: secrets.map((secretName) => ({ hosts: ['h'], secretName })) } });
  assert.equal(can('GET', '/api/v1/namespaces/shop/secrets/web-tls'), false);
  graph.applyIngress({ type: 'added', obj: ing('a', ['web-tls']) }, () => []);
  graph.applyIngress({ type: 'added', obj: ing('b', ['web-tls', 'api-tls']) }, () => []);
  assert.equal(can('GET', '/api/v1/namespaces/shop/secrets/web-tls'), true);
  assert.equal(can('GET', '/api/v1/namespaces/shop/secrets/api-tls'), true);
  assert.equal(can('GET', '/api/v1/namespaces/other/secrets/web-tls'), false, 'namespace matters');
  assert.equal(can('GET', '/api/v1/namespaces/shop/secrets'), false, 'never a list');
  graph.applyIngress({ type: 'deleted', obj: ing('a', ['web-tls']) }, () => []);
  assert.equal(can('GET', '/api/v1/namespaces/shop/secrets/web-tls'), true, 'b still names it');
  graph.applyIngress({ type: 'updated', obj: ing('b', ['api-tls']), old: ing('b', ['web-tls', 'api-tls']) }, () => []);
  assert.equal(can('GET', '/api/v1/namespaces/shop/secrets/web-tls'), false);
  assert.equal(can('GET', '/api/v1/namespaces/shop/secrets/api-tls'), true);
});
