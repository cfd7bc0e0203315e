import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRequestInfo, parseRequestTarget, type ResourceRequestInfo } from './request-info.ts';

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

describe('parseRequestTarget', () => {
  const same = (target: string): void => {
    let want: URL;
    try {
      want = new URL(target, 'http://localhost');
    } catch {
      assert.throws(() => parseRequestTarget(target), target);
      return;
    }
    const got = parseRequestTarget(target);
    assert.equal(got.pathname, want.pathname, target);
    assert.deepEqual([...got.searchParams], [...want.searchParams], target);
  };

  it('reads a target as URL does', () => {
    for (const t of [
      '/',
      '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1',
      '/api/v1/pods?fieldSelector=spec.nodeName%3Dn1&watch=1&resourceVersion=42',
      '/api/v1/pods?labelSelector=app+in+(a,b)&x="y"&z=<>&\'q\'',
      '/api/v1/pods?',
      '/api/v1/pods?a=1&a=2&=&b',
      '/api/v1/pods??a=1',
      '/api/v1/namespaces/a..b/pods',
      // what URL rewrites: through URL
      '/api/v1/../v1/pods',
      '/api/v1/./pods',
      '/api/v1/pods/.',
      '/api/v1/%2e%2e/pods',
      '/api/v1/p%20ods',
      '/api/v1/p ods?x=a b',
      '/api\\v1\\pods',
      '//other/api/v1/pods',
      '/api/v1/pods?x=1#frag',
      '/api/v1/pods#frag',
      '/api/v1/pods?x=\tb',
      '/api/v1/p\u00e9ds?n=\u00e9',
      'http://host/api/v1/pods?watch=1',
      '*',
    ]) same(t);
  });

  it('agrees with URL on random targets', () => {
    const chars = 'aZ09/.?&=%#\\ \t:@!$\'()*+,;-_~"<>`{}|[]^\u00e9';
    let seed = 7;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let i = 0; i < 20000; i++) {
      let t = '/';
      const len = rand(14);
      for (let j = 0; j < len; j++) t += chars[rand(chars.length)];
      same(t);
    }
  });
});
