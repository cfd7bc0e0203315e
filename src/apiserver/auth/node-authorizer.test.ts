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
