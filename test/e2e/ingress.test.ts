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

/** busybox sh: read the request head up to its blank line, answer 101, then echo */
const WS_SCRIPT = [
  '#!/bin/sh',
  "cr=$(printf '\\r')",
  'while IFS= read -r l; do [ -z "${l%$cr}" ] && break; done',
  "printf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n'",
  'exec cat',
  '',
].join('\n');

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
          // answers its own name under /one/ and /two/ (the Ingress passes the path unchanged); on
          // 9000 an Upgrade responder: 101 after the request head, then every byte echoed (nc -e)
          command: ['sh', '-c', `mkdir -p /tmp/w/one /tmp/w/two && hostname > /tmp/w/one/index.html && hostname > /tmp/w/two/index.html && printf '%s' "$WS_SCRIPT" > /tmp/ws.sh && /bin/busybox chmod +x /tmp/ws.sh && (nc -ll -p 9000 -e /tmp/ws.sh &) && exec httpd -f -p 8080 -h /tmp/w`],
          env: [{ name: 'WS_SCRIPT', value: WS_SCRIPT }],
          ports: [{ name: 'http', containerPort: 8080 }, { name: 'ws', containerPort: 9000 }],
        },
      ],
    },
  });
  const service = (name: string, selector: string, targetPort = 'http') => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: selector }, ports: [{ name: 'web', port: 80, targetPort }] } });

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
    for (const o of [pod('one'), pod('two'), service('one', 'one'), service('two', 'two'), service('nobody', 'nobody'), service('ws', 'one', 'ws')]) await kubectl(['apply', '-f', '-'], JSON.stringify(o));
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
                    { path: '/ws', pathType: 'Exact', backend: { service: { name: 'ws', port: { number: 80 } } } },
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

  it('an Upgrade (WebSocket handshake) is passed through to the pod, then bytes both ways', async () => {
    const { connect } = await import('node:net');
    const exchange = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const sock = connect(HTTP_PORT, '127.0.0.1');
        let got = '';
        const timer = setTimeout(() => (sock.destroy(), resolve(got)), 5_000);
        sock.on('data', (d: Buffer) => {
          got += d.toString();
          if (/\r\n\r\n/.test(got) && !got.includes('ping')) sock.write('ping');
          if (got.endsWith('ping')) {
            clearTimeout(timer);
            sock.destroy();
            resolve(got);
          }
        });
        sock.on('error', reject);
        sock.write('GET /ws HTTP/1.1\r\nHost: shop.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      });
    const got = await waitUntil('101 and the echo', 60_000, async () => {
      const g = await exchange().catch(() => '');
      return g.startsWith('HTTP/1.1 101') && g.endsWith('ping') ? g : undefined;
    }, explain);
    assert.match(got, /^HTTP\/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n/);
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
