import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type { KubeObject } from '../../../api/object.ts';
import { generateCa, generateServingCert } from '../../../apiserver/auth/pki.ts';
import { FakeKubeClient } from '../../../client/fake-client.ts';
import { Resources } from '../../../client/resources.ts';
import { silentLogger } from '../../../lib/log.ts';
import { INGRESS_SERVING_LABEL, loadBalancerIngress, startIngressController, type RunningIngressController } from './controller.ts';
import type { IngressObject } from './routes.ts';

const NS = 'shop';

function get(port: number, host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function eventually(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const service = (name: string, port: { name?: string; port: number; targetPort: number }): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { ports: [{ ...port, protocol: 'TCP' }] } }) as KubeObject;
const slice = (svc: string, portName: string | undefined, port: number, eps: { ip: string; ready: boolean }[]): KubeObject =>
  ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-abc`, namespace: NS, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ ...(portName ? { name: portName } : {}), port, protocol: 'TCP' }],
    endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready } })),
  }) as KubeObject;
const node = (name: string, ip: string, serving: boolean): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: serving ? { [INGRESS_SERVING_LABEL]: 'true' } : {} }, status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] } }) as KubeObject;

describe('ingress controller over the node\'s informers', () => {
  let client: FakeKubeClient;
  let ctl: RunningIngressController;
  let upstream: Server;
  let upPort = 0;
  let http = 0;
  let https = 0;

  before(async () => {
    upstream = createServer((req, res) => res.end(`hello from ${req.url}`));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    upPort = (upstream.address() as AddressInfo).port;
    client = new FakeKubeClient();
    await client.create(Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await client.create(Resources.ingressclasses, { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'hedge' }, spec: { controller: 'hedge.io/ingress' } } as KubeObject);
    await client.create(Resources.ingressclasses, { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'nginx' }, spec: { controller: 'k8s.io/ingress-nginx' } } as KubeObject);
    await client.create(Resources.services, service('web', { name: 'http', port: 80, targetPort: upPort }));
    await client.create(Resources.endpointslices, slice('web', 'http', upPort, [{ ip: '127.0.0.1', ready: true }, { ip: '127.0.0.2', ready: false }]));
    await client.create(Resources.services, service('empty', { port: 80, targetPort: 8080 }));
    await client.create(Resources.nodes, node('edge-b', '192.0.2.20', true));
    await client.create(Resources.nodes, node('edge-a', '192.0.2.10', true));
    await client.create(Resources.nodes, node('other', '192.0.2.30', false));
    const ingress = (name: string, className: string, host: string, paths: [string, string, number | string][], tls?: string): IngressObject => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, namespace: NS },
      spec: {
        ingressClassName: className,
        ...(tls ? { tls: [{ hosts: [host], secretName: tls }] } : {}),
        rules: [{ host, http: { paths: paths.map(([path, svc, port]) => ({ path, pathType: 'Prefix', backend: { service: { name: svc, port: typeof port === 'number' ? { number: port } : { name: port } } } })) } }],
      },
    });
    await client.create(Resources.ingresses, ingress('shop', 'hedge', 'shop.example', [['/', 'web', 'http'], ['/empty', 'empty', 80], ['/nosvc', 'missing', 80], ['/badport', 'web', 81]], 'shop-tls'));
    await client.create(Resources.ingresses, ingress('theirs', 'nginx', 'theirs.example', [['/', 'web', 80]]));
    const kp = await generateServingCert({ ca: await generateCa('t'), hosts: ['shop.example'] });
    await client.create(Resources.secrets, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'shop-tls', namespace: NS }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(kp.cert).toString('base64'), 'tls.key': Buffer.from(kp.key).toString('base64') } } as KubeObject);
    const def = await generateServingCert({ ca: await generateCa('d'), hosts: ['ingress.local'] });
    ctl = await startIngressController({ client, logger: silentLogger(), listen: { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 } }, defaultCertificate: def, debounceMs: 5 });
    http = ctl.address.http!.port;
    https = ctl.address.https!.port;
    await ctl.synced;
  });

  after(async () => {
    await ctl?.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  test('routes its own class to the ready endpoints (port by name); another controller\'s class and unknown hosts: 404', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await get(http, 'shop.example', '/cart');
      assert.deepEqual(r, { status: 200, body: 'hello from /cart' }, 'the not-ready endpoint is never picked');
    }
    assert.equal((await get(http, 'theirs.example', '/')).status, 404);
    assert.equal((await get(http, 'nobody.example', '/')).status, 404);
    assert.deepEqual(ctl.routes().ingresses, ['shop/shop']);
  });

  test('503 naming the reason: no ready endpoint, no such Service, no such port', async () => {
    const empty = await get(http, 'shop.example', '/empty');
    assert.equal(empty.status, 503);
    assert.match(empty.body, /service shop\/empty has no ready endpoints/);
    assert.match((await get(http, 'shop.example', '/nosvc')).body, /service shop\/missing not found/);
    assert.match((await get(http, 'shop.example', '/badport')).body, /service shop\/web has no port 81/);
  });

  test('status.loadBalancer: the InternalIPs of the nodes labelled as serving, sorted; written once', async () => {
    await eventually('status written', async () => ((await client.get<IngressObject>(Resources.ingresses, 'shop', { namespace: NS })).status?.loadBalancer?.ingress?.length ?? 0) > 0);
    const ing = await client.get<IngressObject>(Resources.ingresses, 'shop', { namespace: NS });
    assert.deepEqual(ing.status?.loadBalancer?.ingress, [{ ip: '192.0.2.10' }, { ip: '192.0.2.20' }]);
    const theirs = await client.get<IngressObject>(Resources.ingresses, 'theirs', { namespace: NS });
    assert.equal(theirs.status?.loadBalancer?.ingress, undefined, 'not ours to write');
    const patches = () => client.calls.filter((c) => c.verb === 'patch').length;
    const before = patches();
    await ctl.syncNow();
    await ctl.syncNow();
    assert.equal(patches(), before, 'an unchanged value is not written again');
    // a serving node goes: the value follows
    await client.delete(Resources.nodes, 'edge-b');
    await eventually('status updated', async () => JSON.stringify((await client.get<IngressObject>(Resources.ingresses, 'shop', { namespace: NS })).status?.loadBalancer?.ingress) === JSON.stringify([{ ip: '192.0.2.10' }]));
  });

  test('the TLS Secret the Ingress names is served for its host; others get the default certificate', async () => {
    const alt = (servername: string) =>
      new Promise<string | undefined>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: https, servername, rejectUnauthorized: false }, () => {
          resolve(s.getPeerCertificate().subjectaltname);
          s.destroy();
        });
        s.on('error', reject);
      });
    assert.equal(await alt('shop.example'), 'DNS:shop.example');
    assert.equal(await alt('theirs.example'), 'DNS:ingress.local');
  });

  test('changes follow: a new endpoint, a class switched away', async () => {
    await client.create(Resources.endpointslices, slice('empty', undefined, upPort, [{ ip: '127.0.0.1', ready: true }]));
    await eventually('the empty Service routed', async () => (await get(http, 'shop.example', '/empty')).status === 200);
    await client.patch(Resources.ingresses, 'shop', 'merge', { spec: { ingressClassName: 'nginx' } }, { namespace: NS });
    await eventually('the Ingress dropped', async () => (await get(http, 'shop.example', '/')).status === 404);
  });

  test('loadBalancerIngress skips nodes being deleted and non-InternalIP addresses', () => {
    const n = node('x', '10.0.0.1', true);
    n.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    assert.deepEqual(loadBalancerIngress([n, node('y', '10.0.0.2', true), node('z', '10.0.0.3', false)] as never), [{ ip: '10.0.0.2' }]);
  });
});

test('a port that cannot be bound fails the start and leaves no listener behind', async () => {
  const { createServer: createNet } = await import('node:net');
  const taken = createNet();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as AddressInfo).port;
  const def = await generateServingCert({ ca: await generateCa('d'), hosts: ['ingress.local'] });
  // the HTTP listener comes up on a free port, the HTTPS one finds its port taken
  const free = createNet();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', () => r()));
  const httpPort = (free.address() as AddressInfo).port;
  await new Promise<void>((r) => free.close(() => r()));
  await assert.rejects(
    startIngressController({ client: new FakeKubeClient(), logger: silentLogger(), listen: { http: { host: '127.0.0.1', port: httpPort }, https: { host: '127.0.0.1', port } }, defaultCertificate: def }),
    (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE',
  );
  // the HTTP port is free again
  const again = createNet();
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.listen(httpPort, '127.0.0.1', () => resolve());
  });
  await new Promise<void>((r) => again.close(() => r()));
  await new Promise<void>((r) => taken.close(() => r()));
});
