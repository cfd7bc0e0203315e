import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { generateCa, generateServingCert } from '../../../apiserver/auth/pki.ts';
import { silentLogger } from '../../../lib/log.ts';
import { CertificateStore, type KeyPair, type SecretObject } from './certificates.ts';
import { IngressServer, type Decision } from './ingress-server.ts';

async function pair(hosts: string[]): Promise<KeyPair> {
  return generateServingCert({ ca: await generateCa(`ca-${hosts[0]}`), hosts });
}

function tlsSecret(name: string, kp: KeyPair, resourceVersion = '1'): SecretObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'default', resourceVersion },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': Buffer.from(kp.cert).toString('base64'), 'tls.key': Buffer.from(kp.key).toString('base64') },
  };
}

async function listen(s: Server | ReturnType<typeof createNetServer>): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
}

/** a port nothing listens on (bound, then closed) */
async function deadPort(): Promise<number> {
  const s = createNetServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function get(port: number, path: string, o: { host?: string; method?: string; body?: string[]; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: { ...(o.host ? { host: o.host } : {}), ...o.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    for (const b of o.body ?? []) req.write(b);
    req.end();
  });
}

describe('IngressServer', () => {
  let upstreamA: Server;
  let upstreamB: Server;
  let portA = 0;
  let portB = 0;
  let dead = 0;
  let server: IngressServer;
  let httpPort = 0;
  let httpsPort = 0;
  let certs: CertificateStore;
  const kp: Record<string, KeyPair> = {};
  let decide: (host: string | undefined, path: string) => Decision = () => ({ kind: 'none' });

  before(async () => {
    const echo = (name: string) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.setHeader('x-upstream', name);
        res.end(JSON.stringify({ upstream: name, url: req.url, method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() }));
      });
    };
    upstreamA = createServer(echo('a'));
    upstreamB = createServer(echo('b'));
    // a WebSocket-style upgrade: 101, then every byte echoed upper-cased
    upstreamA.on('upgrade', (req, socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade}\r\nConnection: Upgrade\r\nX-Seen-Forwarded-For: ${req.headers['x-forwarded-for']}\r\n\r\n`);
      socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
      socket.on('end', () => socket.end());
      socket.on('error', () => socket.destroy());
    });
    portA = await listen(upstreamA);
    portB = await listen(upstreamB);
    dead = await deadPort();
    kp.default = await pair(['ingress.local']);
    kp.a = await pair(['a.example']);
    kp.wild = await pair(['*.wild.example']);
    certs = new CertificateStore(kp.default);
    const problems = certs.update(
      [
        { namespace: 'default', secretName: 'a', hosts: ['a.example'], ingress: 'default/i' },
        { namespace: 'default', secretName: 'wild', hosts: ['*.wild.example'], ingress: 'default/i' },
        { namespace: 'default', secretName: 'missing', hosts: ['m.example'], ingress: 'default/i' },
        { namespace: 'default', secretName: 'broken', hosts: ['b.example'], ingress: 'default/i' },
      ],
      new Map<string, SecretObject | undefined>([
        ['default/a', tlsSecret('a', kp.a)],
        ['default/wild', tlsSecret('wild', kp.wild)],
        ['default/broken', { ...tlsSecret('broken', kp.a), data: { 'tls.crt': Buffer.from('nonsense').toString('base64'), 'tls.key': Buffer.from('x').toString('base64') } }],
      ]),
    );
    assert.equal(problems.length, 2, problems.join('; '));
    assert.match(problems.join('\n'), /secret default\/missing not found/);
    assert.match(problems.join('\n'), /secret default\/broken: tls.crt\/tls.key/);
    server = new IngressServer({ certificates: certs, logger: silentLogger(), connectTimeoutMs: 1000 });
    server.setRouter({ decide: (h, p) => decide(h, p) });
    const bound = await server.listen({ http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 } });
    httpPort = bound.http!.port;
    httpsPort = bound.https!.port;
  });

  after(async () => {
    await server.close();
    upstreamA.closeAllConnections();
    upstreamB.closeAllConnections();
    await Promise.all([upstreamA, upstreamB].map((s) => new Promise<void>((r) => s.close(() => r()))));
  });

  test('no route: 404; a route without endpoints: 503 with the reason', async () => {
    decide = () => ({ kind: 'none' });
    const r = await get(httpPort, '/x');
    assert.equal(r.status, 404);
    decide = () => ({ kind: 'unavailable', detail: 'service default/web has no ready endpoints' });
    const u = await get(httpPort, '/x');
    assert.equal(u.status, 503);
    assert.match(u.body, /no ready endpoints/);
  });

  test('proxies with the X-Forwarded-* headers (a client\'s own are replaced), keeps repeated response headers, drops hop-by-hop ones', async () => {
    const seen: { host?: string; path: string }[] = [];
    decide = (host, path) => (seen.push({ host, path }), { kind: 'upstreams', key: 'default/a:80', upstreams: [{ host: '127.0.0.1', port: portA }] });
    const r = await get(httpPort, '/p/q?x=1', { host: 'Shop.Example:8080', headers: { 'x-forwarded-for': '6.6.6.6', connection: 'keep-alive, x-drop', 'x-drop': '1', 'x-keep': '2' } });
    assert.equal(r.status, 200);
    assert.deepEqual(seen, [{ host: 'Shop.Example:8080', path: '/p/q' }]);
    const body = JSON.parse(r.body) as { url: string; headers: IncomingHttpHeaders };
    assert.equal(body.url, '/p/q?x=1');
    assert.equal(body.headers.host, 'Shop.Example:8080');
    assert.equal(body.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(body.headers['x-forwarded-proto'], 'http');
    assert.equal(body.headers['x-forwarded-host'], 'Shop.Example:8080');
    assert.equal(body.headers['x-forwarded-port'], String(httpPort));
    assert.equal(body.headers['x-drop'], undefined);
    assert.equal(body.headers['x-keep'], '2');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    // absolute-form (a client that takes the listener for a proxy): routed and sent on by its path
    const abs = await get(httpPort, 'http://shop.example/abs/x?y=2', { host: 'shop.example' });
    assert.equal((JSON.parse(abs.body) as { url: string }).url, '/abs/x?y=2');
    assert.deepEqual(seen.at(-1), { host: 'shop.example', path: '/abs/x' });
  });

  test('streams a chunked request body through', async () => {
    decide = () => ({ kind: 'upstreams', key: 'k', upstreams: [{ host: '127.0.0.1', port: portB }] });
    const r = await get(httpPort, '/upload', { method: 'POST', body: ['one,', 'two,', 'three'] });
    const body = JSON.parse(r.body) as { upstream: string; body: string; headers: IncomingHttpHeaders };
    assert.equal(body.upstream, 'b');
    assert.equal(body.body, 'one,two,three');
  });

  test('a refused connection is retried on the next endpoint (a request body included); all refused: 502', async () => {
    decide = () => ({ kind: 'upstreams', key: 'k', upstreams: [{ host: '127.0.0.1', port: dead }, { host: '127.0.0.1', port: portB }] });
    const r = await get(httpPort, '/', { method: 'PUT', body: ['payload'] });
    assert.equal(r.status, 200);
    assert.deepEqual([JSON.parse(r.body).upstream, JSON.parse(r.body).body], ['b', 'payload']);
    decide = () => ({ kind: 'upstreams', key: 'k', upstreams: [{ host: '127.0.0.1', port: dead }] });
    const bad = await get(httpPort, '/');
    assert.equal(bad.status, 502);
    assert.match(bad.body, /ECONNREFUSED/);
  });

  test('Upgrade is passed through both ways after the upstream\'s 101', async () => {
    decide = () => ({ kind: 'upstreams', key: 'k', upstreams: [{ host: '127.0.0.1', port: dead }, { host: '127.0.0.1', port: portA }] });
    const sock = netConnect(httpPort, '127.0.0.1');
    let got = '';
    sock.on('data', (d: Buffer) => (got += d.toString()));
    sock.write('GET /ws HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    const waitFor = async (re: RegExp): Promise<void> => {
      for (let i = 0; i < 200 && !re.test(got); i++) await new Promise((r) => setTimeout(r, 10));
      assert.match(got, re);
    };
    await waitFor(/^HTTP\/1.1 101 Switching Protocols\r\n[\s\S]*X-Seen-Forwarded-For: 127.0.0.1\r\n\r\n$/);
    sock.write('hello');
    await waitFor(/HELLO$/);
    sock.destroy();
    decide = () => ({ kind: 'none' });
    const s2 = netConnect(httpPort, '127.0.0.1');
    let got2 = '';
    s2.on('data', (d: Buffer) => (got2 += d.toString()));
    s2.write('GET /ws HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await new Promise((r) => s2.on('close', r));
    assert.match(got2, /^HTTP\/1.1 404 Not Found/);
  });

  const peer = (servername: string | undefined): Promise<PeerCertificate> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: httpsPort, servername, rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate());
        s.destroy();
      });
      s.on('error', reject);
    });
  const altNames = async (servername: string | undefined): Promise<string | undefined> => (await peer(servername)).subjectaltname;

  test('TLS: the certificate by SNI (exact, one-label wildcard), else the default one', async () => {
    assert.equal(await altNames('a.example'), 'DNS:a.example');
    assert.equal(await altNames('A.Example'), 'DNS:a.example');
    assert.equal(await altNames('x.wild.example'), 'DNS:*.wild.example');
    assert.equal(await altNames('y.x.wild.example'), 'DNS:ingress.local');
    assert.equal(await altNames('m.example'), 'DNS:ingress.local'); // its secret is missing
    assert.equal(await altNames('b.example'), 'DNS:ingress.local'); // its secret is unusable
    assert.equal(await altNames(undefined), 'DNS:ingress.local');
  });

  test('TLS: a changed Secret is served from the next update; an unchanged one keeps its context', async () => {
    const refs = [{ namespace: 'default', secretName: 'a', hosts: ['a.example'], ingress: 'default/i' }];
    const before = certs.lookup('a.example');
    certs.update(refs, new Map([['default/a', tlsSecret('a', kp.a)]]));
    assert.equal(certs.lookup('a.example'), before);
    const renewed = await pair(['a.example', 'renewed.a.example']);
    certs.update(refs, new Map([['default/a', tlsSecret('a', renewed, '2')]]));
    assert.equal(await altNames('a.example'), 'DNS:a.example, DNS:renewed.a.example');
    // and requests over it carry X-Forwarded-Proto https
    decide = () => ({ kind: 'upstreams', key: 'k', upstreams: [{ host: '127.0.0.1', port: portA }] });
    const body = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: httpsPort, servername: 'a.example', rejectUnauthorized: false }, () => s.write('GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n'));
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString()));
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
    assert.match(body, /"x-forwarded-proto":"https"/);
  });
});
