import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startNodeServer, type NodeServer } from '../agent/server/node-server.ts';
import { startTunnelClient, type TunnelClient } from '../edgehub/tunnel/index.ts';
import { silentLogger } from '../lib/log.ts';
import { closedPort, nodeAt } from './testing/fake-kubelet.ts';
import { startTestServer, type TestServer } from './testing/test-server.ts';
import { eventually, startWebhookServer, type TestWebhookServer } from './testing/webhook-server.ts';

interface StatusBody {
  reason?: string;
  message?: string;
}

/**
 * clientConfig.service: the webhook server "runs in a pod" on an edge node the apiserver cannot
 * dial. The pod is a listener on 127.0.0.1 that the real node server (agent/server) reports as
 * its pod's IP; the apiserver resolves the Service's EndpointSlice to it and reaches it through
 * the tunnel the node opened (node server /podconnect), then speaks TLS for hook.default.svc.
 */
describe('admission webhooks by Service, through the node tunnel', () => {
  let t: TestServer;
  let node: NodeServer;
  let hook: TestWebhookServer;
  let hookPort = 0;
  let client: TunnelClient | undefined;
  let caBundle = '';
  const stop = new AbortController();
  const json = { 'content-type': 'application/json' };
  const post = (path: string, body: unknown) => t.json<StatusBody>(path, { method: 'POST', headers: json, body: JSON.stringify(body) });
  const cms = '/api/v1/namespaces/default/configmaps';
  const slices = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
  const slice = (ready: boolean) => ({
    metadata: { name: 'hook-abc', labels: { 'kubernetes.io/service-name': 'hook' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['127.0.0.1'], nodeName: 'edge-1', conditions: { ready } }],
    ports: [{ name: 'https', port: hookPort, protocol: 'TCP' }],
  });

  before(async () => {
    // the name the apiserver verifies: <service>.<namespace>.svc
    hook = await startWebhookServer(['hook.default.svc'], (url, body) => {
      const review = body as { request: { uid: string; object: { metadata: { name: string } } } };
      const allowed = !review.request.object.metadata.name.startsWith('bad');
      return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed, status: allowed ? undefined : { message: `denied by the pod behind ${url}` } } };
    });
    hookPort = hook.port;
    caBundle = hook.caBundle;
    const pod: Pod = { metadata: { name: 'hook-0', namespace: 'default' }, spec: { containers: [] }, status: { podIP: '127.0.0.1' } };
    // plain HTTP node server: TLS to it is the node tunnel's business, tested elsewhere
    node = await startNodeServer({ host: '127.0.0.1', port: 0, auth: { clientCerts: false, anonymous: true, authorization: 'AlwaysAllow' }, pods: { pods: () => [pod], locate: () => undefined }, logger: silentLogger() });
    t = await startTestServer({ kubeletClient: { scheme: 'http' }, nodeTunnelKeepalive: { intervalMs: 200, timeoutMs: 1_000 } });
    const reg = t.server.registry;
    const ctx = { user: { username: 'admin', groups: ['system:masters'] }, dryRun: false, signal: stop.signal };
    await reg.create(reg.defFor('', 'nodes')!, nodeAt('edge-1', await closedPort()) as never, ctx);
    client = startTunnelClient(
      { server: t.url, nodeName: 'edge-1', token: 'node-edge-1', connectLocal: () => connect(node.port, '127.0.0.1'), logger: silentLogger(), backoff: { initialMs: 20, maxMs: 200 }, keepalive: { intervalMs: 200, timeoutMs: 1_000 } },
      stop.signal,
    );
    await eventually(async () => t.server.nodeTunnels.has('edge-1'), (v) => v);
    assert.equal((await post('/api/v1/namespaces/default/services', { metadata: { name: 'hook' }, spec: { ports: [{ name: 'https', port: 443, targetPort: 8443 }], selector: { app: 'hook' } } })).status, 201);
    assert.equal((await post(slices, slice(true))).status, 201);
    const config = {
      metadata: { name: 'policy' },
      webhooks: [{ name: 'svc.hedge.test', clientConfig: { service: { name: 'hook', namespace: 'default', path: '/validate' }, caBundle }, rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }], sideEffects: 'None', admissionReviewVersions: ['v1'], timeoutSeconds: 5 }],
    };
    assert.equal((await post('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', config)).status, 201);
  });
  after(async () => {
    stop.abort();
    await client?.done;
    await t?.close();
    await node?.close();
    await hook?.close();
  });

  it('reaches the webhook pod through the node tunnel (TLS for hook.default.svc verified by the caBundle)', async () => {
    const denied = await eventually((i) => post(cms, { metadata: { name: `bad-${i}` } }), (r) => r.status !== 201);
    assert.equal(denied.status, 400, JSON.stringify(denied.body));
    assert.equal(denied.body.message, 'admission webhook "svc.hedge.test" denied the request: denied by the pod behind /validate?timeout=5s');
    assert.equal((await post(cms, { metadata: { name: 'good' } })).status, 201);
  });

  it('a Service without a ready endpoint fails the call: no endpoints available', async () => {
    const put = await t.json(`${slices}/hook-abc`, { method: 'PUT', headers: json, body: JSON.stringify(slice(false)) });
    assert.equal(put.status, 200);
    const res = await post(cms, { metadata: { name: 'no-endpoints' } });
    assert.equal(res.status, 500);
    assert.equal(res.body.message, 'Internal error occurred: failed calling webhook "svc.hedge.test": no endpoints available for service "default/hook"');
  });
});
