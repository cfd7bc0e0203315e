/**
 * The node server's authentication and authorization against an in-memory cloud
 * (FakeAccessReviews): who gets 401, 403 and 503, what is asked of the cloud and how long the
 * answers are kept, over real TLS with client certificates from a cluster CA.
 */
import assert from 'node:assert/strict';
import { request, type RequestOptions } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { after, before, beforeEach, describe, it } from 'node:test';
import WebSocket from 'ws';
import { generateCa, generateClientCert, generateServingCert } from '../../apiserver/auth/pki.ts';
import { HedgeError, isHedgeError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { FakeAccessReviews } from './auth/testing/fake-access-reviews.ts';
import { startNodeServer, type NodeServer, type RouteHandler } from './node-server.ts';
import type { NodeServerAuth, PodSource } from './types.ts';

const NODE = 'edge-1';
const SA = 'system:serviceaccount:monitoring:scraper';
const SA_GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:monitoring', 'system:authenticated'];

interface Pem {
  cert: string;
  key: string;
}

interface Answer {
  status: number;
  body: { kind?: string; code?: number; reason?: string; message?: string };
}

const pods: PodSource = { pods: () => [], locate: () => undefined };
const routes = new Map<string, RouteHandler>([
  [
    '/stats/summary',
    (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"node":{"nodeName":"edge-1"}}');
    },
  ],
]);

describe('node server authentication and authorization (kubelet webhook mode)', () => {
  let ca: Pem;
  let serving: Pem;
  let masters: Pem;
  let alice: Pem;
  let stranger: Pem;
  let reviews: FakeAccessReviews;
  let clock = 0;
  const servers: NodeServer[] = [];

  const start = async (auth: Partial<NodeServerAuth> = {}, reviewTimeoutMs = 5_000): Promise<NodeServer> => {
    const srv = await startNodeServer({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: serving.cert, key: serving.key, ca: ca.cert },
      auth: { clientCerts: true, authorization: 'Webhook', ...auth },
      nodeName: NODE,
      reviews,
      authTuning: { reviewTimeoutMs },
      pods,
      routes,
      now: () => clock,
      logger: silentLogger(),
    });
    servers.push(srv);
    return srv;
  };

  const call = (srv: NodeServer, path: string, opts: { token?: string; cert?: Pem; method?: string } = {}): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const o: RequestOptions = { host: '127.0.0.1', port: srv.port, path, method: opts.method ?? 'GET', rejectUnauthorized: false, agent: false, headers: {} };
      if (opts.token !== undefined) o.headers = { authorization: `Bearer ${opts.token}` };
      if (opts.cert) Object.assign(o, { cert: opts.cert.cert, key: opts.cert.key });
      const req = request(o, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body: Answer['body'];
          try {
            body = JSON.parse(text) as Answer['body'];
          } catch {
            body = { message: text };
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.on('error', reject);
      req.end();
    });

  /** a WebSocket exec: the status the upgrade was refused with, and its body */
  const exec = (srv: NodeServer, opts: { token?: string; cert?: Pem }): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${srv.port}/exec/default/web/c?command=id&stdout=1`, ['v5.channel.k8s.io'], {
        rejectUnauthorized: false,
        headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
        ...(opts.cert ? { cert: opts.cert.cert, key: opts.cert.key } : {}),
      });
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Answer['body'] }));
      });
      ws.on('open', () => reject(new Error('the exec was let in')));
      ws.on('error', (err) => {
        if (!/Unexpected server response/.test(err.message)) reject(err);
      });
    });

  before(async () => {
    ca = await generateCa('cluster-ca');
    const servingCa = await generateCa('node-serving-ca');
    serving = await generateServingCert({ ca: servingCa, hosts: ['127.0.0.1'] });
    masters = await generateClientCert({ ca, commonName: 'system:hedge-apiserver-kubelet-client', organizations: ['system:masters'] });
    alice = await generateClientCert({ ca, commonName: 'alice', organizations: ['dev', 'ops'] });
    stranger = await generateClientCert({ ca: await generateCa('another-ca'), commonName: 'mallory', organizations: ['system:masters'] });
  });
  beforeEach(() => {
    reviews = new FakeAccessReviews();
    reviews.tokens.set('scraper-token', { username: SA, uid: 'sa-1', groups: SA_GROUPS });
    reviews.allow(SA, 'get', 'stats');
    clock = 1_000_000;
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('refuses a request without credentials with a 401 Status; /healthz stays open', async () => {
    const srv = await start();
    const r = await call(srv, '/pods');
    assert.equal(r.status, 401);
    assert.deepEqual([r.body.kind, r.body.reason, r.body.message], ['Status', 'Unauthorized', 'Unauthorized']);
    assert.equal((await call(srv, '/healthz')).status, 200);
    assert.equal((await exec(srv, {})).status, 401);
    assert.equal(reviews.tokenReviews + reviews.accessReviews, 0);
  });

  it('lets the apiserver identity (system:masters) do anything without asking the cloud', async () => {
    const srv = await start();
    assert.equal((await call(srv, '/pods', { cert: masters })).status, 200);
    assert.equal((await call(srv, '/stats/summary', { cert: masters })).status, 200);
    assert.equal((await call(srv, '/volumes/local-path/pvc-1', { cert: masters, method: 'DELETE' })).status, 404, 'past authorization: this node serves no local-path volumes');
    const e = await exec(srv, { cert: masters });
    assert.equal(e.status, 404, 'past authorization: no such container');
    assert.match(e.body.message ?? '', /is not running on this node/);
    assert.equal(reviews.tokenReviews + reviews.accessReviews, 0);
  });

  it("the node's own edgehub (its in-memory local token) may stream into pods without a review; another token is not it", async () => {
    const srv = await start({ localToken: 'hub-local-secret' });
    const e = await exec(srv, { token: 'hub-local-secret' });
    assert.equal(e.status, 404, 'past authorization: no such container');
    assert.equal((await call(srv, '/pods', { token: 'hub-local-secret' })).status, 200);
    assert.equal(reviews.tokenReviews + reviews.accessReviews, 0, 'decided on the node, online or not');
    assert.equal((await call(srv, '/pods', { token: 'hub-local-secre' })).status, 401, 'a prefix is another token (reviewed: unknown)');
    // a server without a local token treats one as any other bearer token
    const plain = await start();
    assert.equal((await call(plain, '/pods', { token: 'hub-local-secret' })).status, 401);
  });

  it('authorizes another cluster-CA certificate by review (user CN, groups O); a foreign CA makes no user', async () => {
    const srv = await start();
    const r = await call(srv, '/pods', { cert: alice });
    assert.equal(r.status, 403);
    assert.equal(r.body.message, 'Forbidden (user=alice, verb=get, resource=nodes, subresource=proxy)');
    reviews.allow('ops', 'get', 'proxy');
    clock += 30_000;
    assert.equal((await call(srv, '/pods', { cert: alice })).status, 200, 'granted to a group of the certificate');
    assert.equal((await call(srv, '/pods', { cert: stranger })).status, 401, 'system:masters in a certificate of another CA counts for nothing');
  });

  it('a token granted nodes/stats get reads /stats/summary and nothing else', async () => {
    const srv = await start();
    const stats = await call(srv, '/stats/summary', { token: 'scraper-token' });
    assert.equal(stats.status, 200);
    const denied = await call(srv, '/pods', { token: 'scraper-token' });
    assert.equal(denied.status, 403);
    assert.deepEqual([denied.body.kind, denied.body.reason], ['Status', 'Forbidden']);
    assert.equal(denied.body.message, `Forbidden (user=${SA}, verb=get, resource=nodes, subresource=proxy)`);
    assert.equal((await call(srv, '/metrics/cadvisor', { token: 'scraper-token' })).body.message, `Forbidden (user=${SA}, verb=get, resource=nodes, subresource=metrics)`);
    const e = await exec(srv, { token: 'scraper-token' });
    assert.equal(e.status, 403);
    assert.equal(e.body.message, `Forbidden (user=${SA}, verb=create, resource=nodes, subresource=proxy)`);
    // even `get` on nodes/proxy is not enough for a stream into a pod
    reviews.allow(SA, 'get', 'proxy');
    clock += 30_000;
    assert.equal((await call(srv, '/pods', { token: 'scraper-token' })).status, 200);
    assert.equal((await exec(srv, { token: 'scraper-token' })).status, 403);
  });

  it('an invalid token is a 401, remembered for 30 s; a valid one for 2 min', async () => {
    const srv = await start();
    assert.equal((await call(srv, '/stats/summary', { token: 'forged' })).status, 401);
    assert.equal((await call(srv, '/stats/summary', { token: 'forged' })).status, 401);
    assert.equal(reviews.tokenReviews, 1);
    clock += 30_001;
    await call(srv, '/stats/summary', { token: 'forged' });
    assert.equal(reviews.tokenReviews, 2);
    await call(srv, '/stats/summary', { token: 'scraper-token' });
    clock += 119_000;
    await call(srv, '/stats/summary', { token: 'scraper-token' });
    assert.equal(reviews.tokenReviews, 3);
    clock += 1_001;
    await call(srv, '/stats/summary', { token: 'scraper-token' });
    assert.equal(reviews.tokenReviews, 4);
  });

  it('keeps an allowed answer 5 min and a denied one 30 s', async () => {
    const srv = await start();
    await call(srv, '/stats/summary', { token: 'scraper-token' });
    await call(srv, '/pods', { token: 'scraper-token' });
    assert.equal(reviews.accessReviews, 2);
    clock += 29_000;
    await call(srv, '/stats/summary', { token: 'scraper-token' });
    await call(srv, '/pods', { token: 'scraper-token' });
    assert.equal(reviews.accessReviews, 2);
    clock += 1_001;
    await call(srv, '/pods', { token: 'scraper-token' });
    assert.equal(reviews.accessReviews, 3, 'the denial expired');
    clock += 270_000;
    await call(srv, '/stats/summary', { token: 'scraper-token' });
    assert.equal(reviews.accessReviews, 4, 'the allowance expired');
  });

  it('the cloud unreachable: cached answers keep working, new questions are a 503 saying why', async () => {
    const srv = await start();
    assert.equal((await call(srv, '/stats/summary', { token: 'scraper-token' })).status, 200);
    reviews.failure = new HedgeError('Unavailable', 'the cloud is unreachable; create tokenreviews is not served offline');
    assert.equal((await call(srv, '/stats/summary', { token: 'scraper-token' })).status, 200, 'answered from the cache');
    const newToken = await call(srv, '/stats/summary', { token: 'another-token' });
    assert.equal(newToken.status, 503);
    assert.equal(newToken.body.reason, 'ServiceUnavailable');
    assert.match(newToken.body.message ?? '', /^cannot authenticate the bearer token now: TokenReview failed: the cloud is unreachable/);
    const newQuestion = await call(srv, '/metrics/cadvisor', { token: 'scraper-token' });
    assert.equal(newQuestion.status, 503);
    assert.match(newQuestion.body.message ?? '', /^cannot authorize \(user=system:serviceaccount:monitoring:scraper, verb=get, resource=nodes, subresource=metrics\) now: SubjectAccessReview failed/);
    assert.equal((await exec(srv, { token: 'another-token' })).status, 503);
    // failures are not kept: back online, the next request asks and gets in
    reviews.failure = undefined;
    assert.equal((await call(srv, '/stats/summary', { token: 'another-token' })).status, 401);
    assert.equal((await call(srv, '/pods', { cert: masters })).status, 200, 'the apiserver identity never needed the cloud');
  });

  it('a review that never answers is a 503 within the timeout, not a hang', async () => {
    const srv = await start({}, 200);
    reviews.hang = true;
    const t0 = Date.now();
    const [a, b] = await Promise.all([call(srv, '/stats/summary', { token: 'scraper-token' }), call(srv, '/stats/summary', { token: 'scraper-token' })]);
    assert.equal(a.status, 503);
    assert.equal(b.status, 503);
    assert.match(a.body.message ?? '', /TokenReview failed: no answer within 200 ms/);
    assert.equal(reviews.tokenReviews, 1, 'the two waited on one review');
    assert.ok(Date.now() - t0 < 3_000);
  });

  it('asks once for a burst of requests with the same token', async () => {
    const srv = await start();
    const all = await Promise.all(Array.from({ length: 8 }, () => call(srv, '/stats/summary', { token: 'scraper-token' })));
    assert.deepEqual(new Set(all.map((r) => r.status)), new Set([200]));
    assert.equal(reviews.tokenReviews, 1);
    assert.equal(reviews.accessReviews, 1);
  });

  it('anonymous requests, when enabled, are system:anonymous and authorized like anyone; a bad token is still a 401', async () => {
    const srv = await start({ anonymous: true });
    reviews.allow('system:unauthenticated', 'get', 'stats');
    assert.equal((await call(srv, '/stats/summary')).status, 200);
    assert.equal((await call(srv, '/pods')).body.message, 'Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource=proxy)');
    assert.equal((await call(srv, '/stats/summary', { token: 'forged' })).status, 401);
  });

  it('AlwaysAllow asks nothing: any authenticated caller may do anything', async () => {
    const srv = await start({ authorization: 'AlwaysAllow', tokens: new Set(['static']) });
    assert.equal((await call(srv, '/pods', { cert: alice })).status, 200);
    assert.equal((await call(srv, '/pods', { token: 'static' })).status, 200);
    assert.equal((await call(srv, '/pods', { token: 'scraper-token' })).status, 401, 'no token review in this mode');
    assert.equal(reviews.tokenReviews + reviews.accessReviews, 0);
  });

  it('answers bad request targets with a 4xx and stays up', async () => {
    const srv = await start();
    /** one raw request over TLS with the masters certificate; the status line of the answer */
    const raw = (lines: string[]): Promise<string> =>
      new Promise((resolve, reject) => {
        const sock = tlsConnect({ host: '127.0.0.1', port: srv.port, rejectUnauthorized: false, cert: masters.cert, key: masters.key }, () => sock.end(`${lines.join('\r\n')}\r\n\r\n`));
        let got = '';
        sock.on('data', (c: Buffer) => (got += c.toString()));
        sock.on('end', () => resolve(got.split('\r\n')[0] ?? ''));
        sock.on('error', reject);
      });
    // a target `new URL(target, base)` throws on, or would read as a host: here only a path
    assert.equal(await raw(['GET // HTTP/1.1', 'Host: x', 'Connection: close']), 'HTTP/1.1 404 Not Found');
    assert.equal(await raw(['GET /containerLogs/default/%E0%A4%A/c HTTP/1.1', 'Host: x', 'Connection: close']), 'HTTP/1.1 400 Bad Request');
    const upgrade = ['Host: x', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];
    assert.equal(await raw(['GET //exec/default/web/c HTTP/1.1', ...upgrade]), 'HTTP/1.1 404 Not Found');
    assert.equal(await raw(['GET /exec/default/%E0%A4%A/c?command=id HTTP/1.1', ...upgrade]), 'HTTP/1.1 400 Bad Request');
    assert.equal(await raw(['GET /podconnect/%/1 HTTP/1.1', ...upgrade]), 'HTTP/1.1 400 Bad Request');
    assert.equal((await call(srv, '/pods', { cert: masters })).status, 200);
  });

  it('will not start in Webhook mode without the cloud reviews', async () => {
    await assert.rejects(
      startNodeServer({ host: '127.0.0.1', port: 0, auth: { clientCerts: false, authorization: 'Webhook' }, nodeName: NODE, pods, logger: silentLogger() }),
      (err: unknown) => isHedgeError(err, 'Invalid'),
    );
  });
});
