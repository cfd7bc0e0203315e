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
