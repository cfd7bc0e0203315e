import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSubpath, nodeRequestAttributes } from './request-attributes.ts';

/** [method, path] → [verb, subresource] */
const cases: [string, string, string, string][] = [
  ['GET', '/stats/summary', 'get', 'stats'],
  ['GET', '/stats', 'get', 'stats'],
  ['GET', '/stats/', 'get', 'stats'],
  ['GET', '/metrics', 'get', 'metrics'],
  ['GET', '/metrics/cadvisor', 'get', 'metrics'],
  ['GET', '/metrics/resource', 'get', 'metrics'],
  ['GET', '/logs/syslog', 'get', 'log'],
  ['GET', '/spec/', 'get', 'spec'],
  ['POST', '/checkpoint/default/web/c', 'create', 'checkpoint'],
  ['GET', '/pods', 'get', 'proxy'],
  ['GET', '/containerLogs/default/web/c', 'get', 'proxy'],
  ['DELETE', '/volumes/local-path/pvc-1', 'delete', 'proxy'],
  ['PUT', '/pods', 'update', 'proxy'],
  ['PATCH', '/pods', 'patch', 'proxy'],
  ['POST', '/pods', 'create', 'proxy'],
  ['HEAD', '/pods', '', 'proxy'],
  ['OPTIONS', '/stats/summary', '', 'stats'],
  // not below /stats or /metrics: the catch-all
  ['GET', '/statsfoo', 'get', 'proxy'],
  ['GET', '/metricsx/cadvisor', 'get', 'proxy'],
  ['GET', '/', 'get', 'proxy'],
  // streams into pods are create whatever the method: a WebSocket upgrade is a GET
  ['GET', '/exec/default/web/c', 'create', 'proxy'],
  ['POST', '/exec/default/web/c', 'create', 'proxy'],
  ['GET', '/attach/default/web/c', 'create', 'proxy'],
  ['GET', '/portforward/default/web', 'create', 'proxy'],
  ['GET', '/portForward/default/web', 'create', 'proxy'],
  ['POST', '/run/default/web/c', 'create', 'proxy'],
  ['GET', '/podconnect/10.88.0.5/8443', 'create', 'proxy'],
  ['GET', '/executor', 'get', 'proxy'],
];

describe('node request attributes (the kubelet nodeAuthorizerAttributesGetter)', () => {
  for (const [method, path, verb, subresource] of cases) {
    it(`${method} ${path} → ${verb || '(no verb)'} nodes/${subresource}`, () => {
      assert.deepEqual(nodeRequestAttributes('edge-1', method, path), { verb, resource: 'nodes', subresource, name: 'edge-1', path });
    });
  }

  it('is decided on the normalized path the server routes by', () => {
    // what `new URL(req.url)` makes of a path that climbs out of /stats
    for (const raw of ['/stats/../exec/default/web/c', '/stats/%2e%2e/exec/default/web/c']) {
      const path = new URL(raw, 'http://node').pathname;
      assert.equal(path, '/exec/default/web/c');
      assert.equal(nodeRequestAttributes('n', 'GET', path).subresource, 'proxy');
      assert.equal(nodeRequestAttributes('n', 'GET', path).verb, 'create');
    }
  });

  it('isSubpath: the prefix itself or below it', () => {
    assert.equal(isSubpath('/stats', '/stats'), true);
    assert.equal(isSubpath('/stats/summary', '/stats/'), true);
    assert.equal(isSubpath('/statsx', '/stats'), false);
    assert.equal(isSubpath('/', '/stats'), false);
  });
});
