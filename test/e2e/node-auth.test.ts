/**
 * The node server as the kubelet with --authentication-token-webhook --authorization-mode=Webhook,
 * on a real `hedge server` + `hedge node`: service account tokens sent straight to the node's
 * port are reviewed by the cloud (TokenReview through the node's edgehub) and each request is
 * authorized by RBAC on nodes/<subresource> (SubjectAccessReview); the apiserver's own kubelet
 * client identity (kubectl logs/exec, the metrics API's scrape) keeps working without either.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import WebSocket from 'ws';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl } from './harness.ts';
import { edgeNodeSkipReason, nodeServerGet } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

interface Answer {
  status: number;
  body: string;
}

describe('node server: tokens reviewed by the cloud, RBAC on nodes/<subresource>', { skip, timeout: 300_000 }, () => {
  let stack: EdgeStack | undefined;
  const nodeName = `nodeauth-${process.pid}`;
  let port = 0;
  const tokens = { scraper: '', nobody: '' };

  const s = (): EdgeStack => stack!;
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await s().server.kubectl(args, { input, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** straight to the node's server, not through the apiserver */
  const nodeGet = (path: string, token?: string): Promise<Answer> => nodeServerGet({ port, path, token });
  /** a WebSocket exec straight to the node: the HTTP answer it was refused with */
  const nodeExec = (token: string): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/exec/default/auth-pod/main?command=id&output=1`, ['v5.channel.k8s.io'], { rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` } });
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      ws.on('open', () => {
        ws.terminate();
        reject(new Error('the node let the exec in'));
      });
      ws.on('error', (err) => {
        if (!/Unexpected server response/.test(err.message)) reject(err);
      });
    });
  const message = (a: Answer): string => (JSON.parse(a.body) as { message: string }).message;

  before(async () => {
    stack = await startEdgeStack({ nodes: [{ name: nodeName, runtimes: ['runc'] }] });
    const node = (await s().server.api('GET', `/api/v1/nodes/${nodeName}`)).body as Node;
    port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 0;
    assert.ok(port > 0, 'the node advertises its server port');
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'monitoring' } },
          { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'scraper', namespace: 'monitoring' } },
          { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'nobody', namespace: 'monitoring' } },
          { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'node-stats-reader' }, rules: [{ apiGroups: [''], resources: ['nodes/stats'], verbs: ['get'] }] },
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'ClusterRoleBinding',
            metadata: { name: 'scraper-node-stats' },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'node-stats-reader' },
            subjects: [{ kind: 'ServiceAccount', name: 'scraper', namespace: 'monitoring' }],
          },
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'auth-pod', namespace: 'default' },
            spec: {
              nodeName,
              runtimeClassName: 'runc',
              terminationGracePeriodSeconds: 1,
              containers: [{ name: 'main', image: s().busyboxImage, command: ['sh', '-c', 'echo hello-from-auth-pod; exec sleep 3600'] }],
            },
          },
        ],
      }),
    );
    tokens.scraper = (await kubectl(['create', 'token', 'scraper', '-n', 'monitoring'])).trim();
    tokens.nobody = (await kubectl(['create', 'token', 'nobody', '-n', 'monitoring'])).trim();
  });
  after(() => stack?.close());

  it('a token granted nodes/stats get reads /stats/summary on the node port', async () => {
    const r = await nodeGet('/stats/summary', tokens.scraper);
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as { node: { nodeName: string } }).node.nodeName, nodeName);
  });

  it('the same token is refused /pods, /metrics/cadvisor and exec, with upstream text', async () => {
    const sa = 'system:serviceaccount:monitoring:scraper';
    const pods = await nodeGet('/pods', tokens.scraper);
    assert.equal(pods.status, 403);
    assert.equal(message(pods), `Forbidden (user=${sa}, verb=get, resource=nodes, subresource=proxy)`);
    const metrics = await nodeGet('/metrics/cadvisor', tokens.scraper);
    assert.equal(metrics.status, 403);
    assert.equal(message(metrics), `Forbidden (user=${sa}, verb=get, resource=nodes, subresource=metrics)`);
    const exec = await nodeExec(tokens.scraper);
    assert.equal(exec.status, 403);
    assert.equal(message(exec), `Forbidden (user=${sa}, verb=create, resource=nodes, subresource=proxy)`);
  });

  it('a token without RBAC gets 403; an invalid token and no credentials get 401', async () => {
    const nobody = await nodeGet('/stats/summary', tokens.nobody);
    assert.equal(nobody.status, 403);
    assert.equal(message(nobody), 'Forbidden (user=system:serviceaccount:monitoring:nobody, verb=get, resource=nodes, subresource=stats)');
    const forged = `${tokens.scraper.slice(0, -4)}AAAA`;
    assert.equal((await nodeGet('/stats/summary', forged)).status, 401);
    assert.equal((await nodeGet('/stats/summary', 'not-a-token')).status, 401);
    assert.equal((await nodeGet('/stats/summary')).status, 401);
    assert.equal((await nodeGet('/healthz')).status, 200);
  });

  it('kubectl logs and exec through the apiserver, and the metrics API, still reach the node', async () => {
    await waitUntil('auth-pod running', 90_000, async () => {
      const p = (await s().server.api('GET', '/api/v1/namespaces/default/pods/auth-pod')).body as Pod;
      return p.status?.containerStatuses?.[0]?.state?.running ? true : undefined;
    }, s().explain);
    await waitUntil('kubectl logs shows the line', 30_000, async () => {
      const r = await s().server.kubectl(['logs', 'auth-pod']);
      return r.code === 0 && r.stdout.includes('hello-from-auth-pod') ? true : undefined;
    }, s().explain);
    assert.equal((await kubectl(['exec', 'auth-pod', '--', 'echo', 'exec-ok'])).trim(), 'exec-ok');
    // the metrics API scrapes /metrics/resource on the node with the apiserver's client certificate
    await waitUntil('node metrics from the metrics API', 90_000, async () => {
      const r = await s().server.kubectl(['get', '--raw', `/apis/metrics.k8s.io/v1beta1/nodes/${nodeName}`]);
      return r.code === 0 && r.stdout.includes('"usage"') ? true : undefined;
    }, s().explain);
    // and a Prometheus-style scrape through nodes/proxy
    const cadvisor = await s().server.kubectl(['get', '--raw', `/api/v1/nodes/${nodeName}/proxy/metrics/cadvisor`]);
    assert.equal(cadvisor.code, 0, cadvisor.stderr);
    assert.match(cadvisor.stdout, /container_cpu_usage_seconds_total/);
  });
});
