import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Node } from 'kubernetes-types/core/v1.js';
import { nodeTargetGroups, PROMETHEUS_SD_NODES_PATH, sanitizeLabelName, type TargetGroup } from './prometheus-sd.ts';
import { startTestServer, type TestServer } from './testing/test-server.ts';

const edge: Node = {
  metadata: { name: 'edge-1', labels: { 'kubernetes.io/hostname': 'edge-1', 'node-role.kubernetes.io/edge': '' }, annotations: { 'hedge.io/tunnel': 'yes' } },
  spec: { providerID: 'hedge://edge-1' },
  status: { addresses: [{ type: 'InternalIP', address: '10.0.0.5' }, { type: 'InternalIP', address: '10.0.0.6' }, { type: 'Hostname', address: 'edge-1' }] },
};

describe('prometheus http_sd of the nodes', () => {
  it('labels each node as kubernetes_sd role node does, the target being the apiserver', () => {
    assert.equal(sanitizeLabelName('node-role.kubernetes.io/edge'), 'node_role_kubernetes_io_edge');
    assert.deepEqual(nodeTargetGroups([edge], 'api.example:6443'), [
      {
        targets: ['api.example:6443'],
        labels: {
          __meta_kubernetes_node_name: 'edge-1',
          __meta_kubernetes_node_label_kubernetes_io_hostname: 'edge-1',
          __meta_kubernetes_node_labelpresent_kubernetes_io_hostname: 'true',
          __meta_kubernetes_node_label_node_role_kubernetes_io_edge: '',
          __meta_kubernetes_node_labelpresent_node_role_kubernetes_io_edge: 'true',
          __meta_kubernetes_node_annotation_hedge_io_tunnel: 'yes',
          __meta_kubernetes_node_annotationpresent_hedge_io_tunnel: 'true',
          __meta_kubernetes_node_address_InternalIP: '10.0.0.5',
          __meta_kubernetes_node_address_Hostname: 'edge-1',
          __meta_kubernetes_node_provider_id: 'hedge://edge-1',
        },
      },
    ]);
    assert.deepEqual(nodeTargetGroups([], 'x:1'), []);
  });

  describe('served by the apiserver, authorized as list nodes', () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer({
        authorizer: {
          authorize: (user, attrs) =>
            user.username === 'admin' || (user.username === 'scraper' && attrs.isResourceRequest && attrs.resource === 'nodes' && attrs.verb === 'list')
              ? { allowed: true }
              : { allowed: false, reason: 'no' },
        },
      });
      for (const name of ['n1', 'n2']) {
        const r = await t.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { zone: name === 'n1' ? 'a' : 'b' } } }), headers: { 'content-type': 'application/json' } });
        assert.equal(r.status, 201, JSON.stringify(r.body));
      }
    });
    after(() => t.close());

    it('answers a scraper allowed to list nodes with one group per node', async () => {
      const r = await t.json<TargetGroup[]>(PROMETHEUS_SD_NODES_PATH, { headers: { authorization: 'Bearer user-scraper' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      const host = new URL(t.url).host;
      assert.deepEqual(
        r.body.map((g) => [g.targets, g.labels.__meta_kubernetes_node_name, g.labels.__meta_kubernetes_node_label_zone]),
        [[[host], 'n1', 'a'], [[host], 'n2', 'b']],
      );
    });

    it('refuses who may not list nodes (403, the anonymous too) and writes (405)', async () => {
      const denied = await t.json<{ reason: string; message: string }>(PROMETHEUS_SD_NODES_PATH, { headers: { authorization: 'Bearer user-mallory' } });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.reason, 'Forbidden');
      assert.match(denied.body.message, /cannot list resource "nodes"/);
      const anon = await fetch(`${t.url}${PROMETHEUS_SD_NODES_PATH}`);
      assert.equal(anon.status, 403);
      const post = await t.json(PROMETHEUS_SD_NODES_PATH, { method: 'POST', body: '{}' });
      assert.equal(post.status, 405);
    });
  });
});
