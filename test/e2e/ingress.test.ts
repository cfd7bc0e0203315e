/**
 * Ingress end to end: real `hedge server` (the bootstrapped `hedge` IngressClass, DefaultIngressClass
 * admission, EndpointSlices) + real `hedge node` (its ingress controller on loopback high ports)
 * + runc pods running busybox httpd behind two Services.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import type { Ingress } from 'kubernetes-types/networking/v1.js';
import { generateCa, generateServingCert } from '../../src/apiserver/auth/pki.ts';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl, type HedgeServer } from './harness.ts';
import { edgeNodeSkipReason } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/usr/sbin/nft', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');
/** unique per test process: parallel test files never share a port */
const HTTP_PORT = 20_000 + (process.pid % 5_000) * 2;
const HTTPS_PORT = HTTP_PORT + 1;

interface Answer {
  status: number;
  body: string;
}

function viaIngress(o: { host: string; path: string; tls?: { ca: string } }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const common = { host: '127.0.0.1', path: o.path, headers: { host: o.host }, agent: false as const, timeout: 5_000 };
    const onRes = (res: import('node:http').IncomingMessage): void => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    };
    const req = o.tls ? httpsRequest({ ...common, port: HTTPS_PORT, servername: o.host, ca: o.tls.ca }, onRes) : httpRequest({ ...common, port: HTTP_PORT }, onRes);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('ingress: the node routes an Ingress\'s hosts and paths to Services, over HTTP and HTTPS', { skip, timeout: 300_000 }, () => {
  let stack: EdgeStack | undefined;
  let server: HedgeServer;
  let ca: { cert: string; key: string };
  const explain = (): string => stack?.explain?.() ?? '';
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await server.kubectl(args, { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const pod = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name } },
    spec: {
      runtimeClassName: 'runc',
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'web',
          image: stack!.httpdImage,
          // answers its own name under /one/ and /two/ (the Ingress passes the path unchanged)
          command: ['sh', '-c', 'mkdir -p /tmp/w/one /tmp/w/two && hostname > /tmp/w/one/index.html && hostname > /tmp/w/two/index.html && exec httpd -f -p 8080 -h /tmp/w'],
          ports: [{ name: 'http', containerPort: 8080 }],
        },
      ],
    },
  });
  const service = (name: string, selector: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: selector }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] } });

  before(async () => {
    stack = await startEdgeStack({
      nodes: [{ name: `ing-${process.pid}`, runtimes: ['runc'], extraArgs: ['--ingress-http-port', String(HTTP_PORT), '--ingress-https-port', String(HTTPS_PORT), '--ingress-bind-address', '127.0.0.1'] }],
    });
    server = stack.server;
    ca = await generateCa('ingress-e2e-ca');
  });

  after(async () => {
    await stack?.close();
  });

  it('two paths to two Services; status.loadBalancer is the node\'s InternalIP; no route 404, no endpoint 503', async () => {
    for (const o of [pod('one'), pod('two'), service('one', 'one'), service('two', 'two'), service('nobody', 'nobody')]) await kubectl(['apply', '-f', '-'], JSON.stringify(o));
    // no class named: the bootstrapped default `hedge` class is filled in, and it is the node's
    const ing = JSON.parse(
      await kubectl(
        ['apply', '-o', 'json', '-f', '-'],
        JSON.stringify({
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name: 'shop' },
          spec: {
            tls: [{ hosts: ['shop.example'], secretName: 'shop-tls' }],
            rules: [
              {
                host: 'shop.example',
                http: {
                  paths: [
                    { path: '/one', pathType: 'Prefix', backend: { service: { name: 'one', port: { name: 'web' } } } },
                    { path: '/two', pathType: 'Prefix', backend: { service: { name: 'two', port: { number: 80 } } } },
                    { path: '/none', pathType: 'Exact', backend: { service: { name: 'nobody', port: { number: 80 } } } },
                  ],
                },
              },
            ],
          },
        }),
      ),
    ) as Ingress;
    assert.equal(ing.spec?.ingressClassName, 'hedge');
    await waitUntil('both paths answered by their pods', 120_000, async () => {
      const [a, b] = await Promise.all([viaIngress({ host: 'shop.example', path: '/one/' }), viaIngress({ host: 'shop.example', path: '/two/' })]).catch(() => [undefined, undefined]);
      return a?.body === 'one' && b?.body === 'two' ? true : undefined;
    }, explain);
    // Prefix is element-wise: /onex is not /one
    assert.equal((await viaIngress({ host: 'shop.example', path: '/onex/' })).status, 404);
    assert.equal((await viaIngress({ host: 'other.example', path: '/one/' })).status, 404);
    const none = await viaIngress({ host: 'shop.example', path: '/none' });
    assert.equal(none.status, 503);
    assert.match(none.body, /no ready endpoints/);
    const status = await waitUntil('status.loadBalancer', 30_000, async () => {
      const r = await server.api('GET', '/apis/networking.k8s.io/v1/namespaces/default/ingresses/shop');
      const lb = (r.body as Ingress).status?.loadBalancer?.ingress;
      return lb && lb.length > 0 ? lb : undefined;
    }, explain);
    assert.deepEqual(status, [{ ip: '127.0.0.1' }]);
    assert.match(await kubectl(['get', 'ingress', 'shop']), /shop\s+hedge\s+shop\.example\s+127\.0\.0\.1\s+80, 443/);
  });

  it('HTTPS: the default certificate until the TLS Secret exists, then the Secret\'s for its host (SNI)', async () => {
    // the Secret is missing: the self-signed default certificate answers, which the CA does not sign
    await assert.rejects(viaIngress({ host: 'shop.example', path: '/one/', tls: { ca: ca.cert } }), /self[- ]signed|unable to verify|certificate/i);
    const kp = await generateServingCert({ ca, hosts: ['shop.example'] });
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'shop-tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(kp.cert).toString('base64'), 'tls.key': Buffer.from(kp.key).toString('base64') } }));
    // the node reads a named Secret again within its refresh interval (30 s), or at once when an Ingress changes
    await kubectl(['annotate', 'ingress', 'shop', 'touched=1']);
    const r = await waitUntil('the Secret\'s certificate served', 60_000, async () => viaIngress({ host: 'shop.example', path: '/two/', tls: { ca: ca.cert } }).catch(() => undefined), explain);
    assert.deepEqual(r, { status: 200, body: 'two' });
  });
});
