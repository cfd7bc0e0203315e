import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateCa, generateClientCert, generateServingCert } from '../../apiserver/auth/pki.ts';
import { isHedgeError } from '../errors.ts';
import { followerCount } from '../signals.ts';
import { HttpAgent, httpRequest } from './request.ts';

async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('httpRequest', () => {
  let server: Server;
  let base: string;
  const sockets = new Set<Socket>();
  const seen: { method?: string; body: string; length?: string }[] = [];
  let connections = 0;
  /** '/gate' holds its responses until this many wait, then answers them all at once (a burst) */
  const GATE = 300;
  let gated: ServerResponse[] = [];
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    '/echo': (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, body, length: req.headers['content-length'] });
        res.writeHead(201, { 'content-type': 'application/json', 'x-remote-port': String(req.socket.remotePort) });
        res.end(JSON.stringify({ got: body }));
      });
    },
    '/silent': () => undefined,
    '/gate': (_req, res) => {
      gated.push(res);
      if (gated.length < GATE) return;
      for (const r of gated) r.end('ok');
      gated = [];
    },
    '/stall': (_req, res) => {
      res.writeHead(200);
      res.write('first');
    },
    '/drip': (_req, res) => {
      res.writeHead(200);
      let n = 0;
      const t = setInterval(() => {
        res.write(`${n++}\n`);
        if (n === 5) {
          clearInterval(t);
          res.end();
        }
      }, 50);
    },
  };

  before(async () => {
    server = createServer((req, res) => (routes[req.url ?? ''] ?? ((_q, s) => s.writeHead(404).end()))(req, res));
    server.on('connection', (s) => {
      connections++;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('sends the body with its length, reads status, headers and JSON, and reuses the connection', async () => {
    const agent = new HttpAgent();
    const a = await httpRequest(`${base}/echo`, { method: 'POST', body: 'héllo', agent, headers: { 'content-type': 'text/plain' } });
    assert.equal(a.statusCode, 201);
    assert.equal(a.headers['content-type'], 'application/json');
    assert.deepEqual(await a.body.json(), { got: 'héllo' });
    assert.deepEqual(seen.at(-1), { method: 'POST', body: 'héllo', length: String(Buffer.byteLength('héllo')) });
    const b = await httpRequest(`${base}/echo`, { agent });
    assert.equal(await b.body.text(), '{"got":""}');
    assert.equal(b.headers['x-remote-port'], a.headers['x-remote-port'], 'the keep-alive connection was reused');
    await agent.close();
  });

  it("a bounded pool keeps every connection a burst freed, past node's default of 256 free ones", async () => {
    const agent = new HttpAgent({ maxSockets: GATE });
    const burst = (): Promise<void[]> =>
      Promise.all(Array.from({ length: GATE }, async () => (await httpRequest(`${base}/gate`, { agent })).body.dump()));
    const start = connections;
    await burst();
    assert.equal(connections - start, GATE);
    // node's http.Agent closed every connection freed past maxFreeSockets (256): 44 new ones here
    await burst();
    assert.equal(connections - start, GATE, "the second burst went over the first one's connections");
    await agent.close();
  });

  it('no headers within headersTimeoutMs is a Timeout error', async () => {
    const t = performance.now();
    await assert.rejects(httpRequest(`${base}/silent`, { headersTimeoutMs: 200 }), (err) => isHedgeError(err, 'Timeout'));
    assert.ok(performance.now() - t < 2_000);
  });

  it('a body that stalls longer than bodyTimeoutMs fails while reading; a slow but moving one does not', async () => {
    const stalled = await httpRequest(`${base}/stall`, { bodyTimeoutMs: 200 });
    await assert.rejects(stalled.body.text(), (err) => isHedgeError(err, 'Timeout'));
    const drip = await httpRequest(`${base}/drip`, { bodyTimeoutMs: 200 });
    assert.equal(await drip.body.text(), '0\n1\n2\n3\n4\n');
  });

  it('the signal aborts before the response and in the middle of the body', async () => {
    const ac = new AbortController();
    const pending = httpRequest(`${base}/silent`, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(pending, (err: Error) => err.name === 'AbortError');
    await assert.rejects(httpRequest(`${base}/echo`, { signal: AbortSignal.abort() }), (err: Error) => err.name === 'AbortError');
    const ac2 = new AbortController();
    const res = await httpRequest(`${base}/stall`, { signal: ac2.signal });
    const reading = res.body.text();
    ac2.abort();
    await assert.rejects(reading);
  });

  it('timeoutMs bounds the whole exchange: headers late, or the body after them, fail with a TimeoutError', async () => {
    await assert.rejects(httpRequest(`${base}/silent`, { timeoutMs: 100 }), (err: Error) => err.name === 'TimeoutError');
    const res = await httpRequest(`${base}/stall`, { timeoutMs: 200 });
    await assert.rejects(res.body.text(), (err: Error) => err.name === 'TimeoutError');
    // read within it: nothing fires later
    const ok = await httpRequest(`${base}/drip`, { timeoutMs: 2_000 });
    assert.equal(await ok.body.text(), '0\n1\n2\n3\n4\n');
  });

  it('a long-lived signal holds nothing for exchanges that ended, and no listener per request', async () => {
    const stop = new AbortController();
    const agent = new HttpAgent();
    for (let i = 0; i < 20; i++) {
      const res = await httpRequest(`${base}/echo`, { agent, signal: stop.signal });
      await res.body.dump();
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(followerCount(stop.signal), 0);
    assert.ok(getEventListeners(stop.signal, 'abort').length <= 1);
    await agent.close();
  });

  it('a refused connection and an unsupported scheme are errors, not hangs', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await assert.rejects(httpRequest(`http://127.0.0.1:${port}/`), (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED');
    await assert.rejects(httpRequest('ftp://127.0.0.1/x'), (err) => isHedgeError(err, 'Invalid'));
  });
});

describe('HttpAgent TLS', () => {
  it('every new connection of the pool verifies the server with its CA and presents its client certificate', async () => {
    const ca = await generateCa('request-test-ca');
    const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
    const client = await generateClientCert({ ca, commonName: 'request-test' });
    const server = createTlsServer({ ...serving, ca: ca.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      res.end((req.socket as TLSSocket).getPeerCertificate().subject.CN);
    });
    // the server closes every connection after its answer: each request connects anew
    server.keepAliveTimeout = 1;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const agent = new HttpAgent({ ca: ca.cert, cert: client.cert, key: client.key });
      const ports = new Set<number>();
      for (let i = 0; i < 3; i++) {
        const res = await httpRequest(url, { agent });
        ports.add(res.body.socket.localPort ?? 0);
        assert.equal(await res.body.text(), 'request-test');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(ports.size, 3, 'three connections');
      await agent.close();
      // another CA: the server is not trusted
      const other = new HttpAgent({ ca: (await generateCa('other-ca')).cert, cert: client.cert, key: client.key });
      await assert.rejects(httpRequest(url, { agent: other }), (err: NodeJS.ErrnoException) => /certificate/i.test(`${err.code} ${err.message}`));
      await other.close();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('over a unix socket: plain HTTP whatever the scheme, idle connections closed after keepAliveMs, at most maxFreeSockets kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'request-sock-'));
    const path = join(dir, 's.sock');
    const open = new Set<Socket>();
    let accepted = 0;
    let waiting: ServerResponse[] = [];
    const unix = createServer((req, res) => {
      if (req.url === '/pair') {
        // answers two requests at once: both connections go free together
        waiting.push(res);
        if (waiting.length < 2) return;
        for (const r of waiting) r.end('pair');
        waiting = [];
        return;
      }
      res.end(`${req.method} ${req.url} ${req.headers.host}`);
    });
    // the server would keep them a minute: only the client closes them
    unix.keepAliveTimeout = 60_000;
    unix.on('connection', (sock) => {
      accepted++;
      open.add(sock);
      sock.on('close', () => open.delete(sock));
    });
    await new Promise<void>((r) => unix.listen(path, r));
    try {
      const agent = new HttpAgent({ socketPath: path, keepAliveMs: 100 });
      const a = await httpRequest('http://hub.local/x?y=1', { agent });
      assert.equal(await a.body.text(), 'GET /x?y=1 hub.local');
      const b = await httpRequest('https://hub.local/z', { agent, method: 'POST', body: '' });
      assert.equal(await b.body.text(), 'POST /z hub.local');
      assert.equal(accepted, 1, 'the keep-alive connection was reused');
      // idle for longer than keepAliveMs: the client closes it
      await until(() => open.size === 0, 2_000);
      await agent.close();

      const capped = new HttpAgent({ socketPath: path, maxFreeSockets: 1 });
      await Promise.all([0, 1].map(async () => (await httpRequest('http://hub.local/pair', { agent: capped })).body.dump()));
      assert.equal(accepted, 3);
      await until(() => open.size === 1);
      await capped.close();
    } finally {
      unix.closeAllConnections();
      await new Promise((r) => unix.close(r));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
