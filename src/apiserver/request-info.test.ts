import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRequestInfo, type ResourceRequestInfo } from './request-info.ts';

const q = (s = ''): URLSearchParams => new URLSearchParams(s);
const res = (method: string, path: string, query = ''): ResourceRequestInfo => {
  const info = parseRequestInfo(method, path, q(query));
  assert.ok(info.isResourceRequest, `${path} should be a resource request`);
  return info;
};

describe('parseRequestInfo', () => {
  it('parses namespaced, cluster-scoped and group resources', () => {
    const get = res('GET', '/api/v1/namespaces/ns1/pods/p1');
    assert.deepEqual([get.verb, get.group, get.version, get.namespace, get.resource, get.name, get.subresource], ['get', '', 'v1', 'ns1', 'pods', 'p1', '']);
    const status = res('PUT', '/api/v1/namespaces/ns1/pods/p1/status');
    assert.deepEqual([status.verb, status.subresource], ['update', 'status']);
    const nodes = res('GET', '/api/v1/nodes');
    assert.deepEqual([nodes.verb, nodes.resource, nodes.namespace], ['list', 'nodes', '']);
    const lease = res('DELETE', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases');
    assert.deepEqual([lease.verb, lease.group, lease.resource], ['deletecollection', 'coordination.k8s.io', 'leases']);
  });

  it('treats /namespaces/{name} as the namespaces resource', () => {
    const ns = res('GET', '/api/v1/namespaces/team');
    assert.deepEqual([ns.resource, ns.name, ns.namespace], ['namespaces', 'team', 'team']);
    const fin = res('PUT', '/api/v1/namespaces/team/finalize');
    assert.deepEqual([fin.resource, fin.name, fin.subresource], ['namespaces', 'team', 'finalize']);
  });

  it('recognises watches by parameter and by the legacy path', () => {
    assert.equal(res('GET', '/api/v1/pods', 'watch=true').verb, 'watch');
    assert.equal(res('GET', '/api/v1/pods', 'watch=1').verb, 'watch');
    assert.equal(res('GET', '/api/v1/pods', 'watch=false').verb, 'list');
    const legacy = res('GET', '/api/v1/watch/namespaces/ns1/pods/p1');
    assert.deepEqual([legacy.verb, legacy.namespace, legacy.resource, legacy.name], ['watch', 'ns1', 'pods', 'p1']);
  });

  it('decodes escaped path segments and refuses malformed ones', () => {
    assert.equal(res('GET', '/api/v1/nodes/system%3Anode').name, 'system:node');
    assert.throws(() => parseRequestInfo('GET', '/api/v1/nodes/%E0%A4%A', q()), { code: 'BadRequest' });
  });

  it('leaves discovery and other paths as non-resource requests', () => {
    for (const p of ['/api', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1', '/version', '/openapi/v2']) {
      assert.equal(parseRequestInfo('GET', p, q()).isResourceRequest, false, p);
    }
  });
});
