import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isHedgeError } from '../lib/errors.ts';
import { followerCount } from '../lib/signals.ts';
import { HttpKubeClient } from './http-client.ts';
import { Resources } from './resources.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A scripted apiserver stand-in: enough to check what goes over the wire, nothing more. */
async function server(handler: (req: Seen, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(s);
      handler(s, res);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return {
    seen,
    url,
    close: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
  };
}

const json = (res: ServerResponse, code: number, body: unknown): void => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

test('get/list/patch/delete/bind send the right requests; Status errors keep reason and message', async () => {
  const s = await server((req, res) => {
    if (req.url.startsWith('/api/v1/namespaces/ns/pods/missing')) {
      json(res, 404, { kind: 'Status', status: 'Failure', reason: 'NotFound', message: 'pods "missing" not found', code: 404, details: { name: 'missing', kind: 'pods' } });
    } else if (req.url.startsWith('/api/v1/nodes?')) {
      json(res, 200, { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [{ metadata: { name: 'n1' } }] });
    } else if (req.method === 'PUT') {
      json(res, 409, { kind: 'Status', reason: 'AlreadyExists', message: 'exists', code: 409 });
    } else if (req.method === 'DELETE') {
      json(res, 200, { kind: 'Status', status: 'Success' });
    } else if (req.url.endsWith('/binding')) {
      json(res, 201, { kind: 'Status', status: 'Success', code: 201 });
    } else {
      json(res, 200, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' } });
    }
  });
  const c = new HttpKubeClient({ server: s.url, token: 'tok' });
  try {
    const p = await c.get(Resources.pods, 'p', { namespace: 'ns' });
    assert.equal(p.metadata.name, 'p');
    assert.equal(s.seen[0].headers.authorization, 'Bearer tok');
    await assert.rejects(c.get(Resources.pods, 'missing', { namespace: 'ns' }), (e) =>
      isHedgeError(e, 'NotFound') && e.message === 'pods "missing" not found' && e.details.name === 'missing');
    const l = await c.list(Resources.nodes, { labelSelector: 'a=b', fieldSelector: 'metadata.name=n1', limit: 5 });
    assert.equal(l.items[0].kind, 'Node');
    assert.equal(l.metadata.resourceVersion, '7');
    assert.match(s.seen[2].url, /labelSelector=a%3Db&fieldSelector=metadata.name%3Dn1&limit=5/);
    await c.patch(Resources.pods, 'p', 'strategic', { status: {} }, { namespace: 'ns', subresource: 'status' });
    assert.equal(s.seen[3].url, '/api/v1/namespaces/ns/pods/p/status');
    assert.equal(s.seen[3].headers['content-type'], 'application/strategic-merge-patch+json');
    await assert.rejects(c.update(Resources.pods, { metadata: { name: 'p', namespace: 'ns' } }), (e) => isHedgeError(e, 'AlreadyExists'));
    assert.equal(await c.delete(Resources.pods, 'p', { namespace: 'ns', gracePeriodSeconds: 0, preconditions: { uid: 'u' } }), undefined);
    assert.deepEqual(JSON.parse(s.seen[5].body).preconditions, { uid: 'u' });
    assert.equal(JSON.parse(s.seen[5].body).gracePeriodSeconds, 0);
    await c.bind({ namespace: 'ns', name: 'p', nodeName: 'n1' });
    assert.equal(s.seen[6].url, '/api/v1/namespaces/ns/pods/p/binding');
    assert.deepEqual(JSON.parse(s.seen[6].body).target, { apiVersion: 'v1', kind: 'Node', name: 'n1' });
    await assert.rejects(
      c.list(Resources.leases, { namespace: 'kube-node-lease' }),
      (e) => isHedgeError(e, 'Internal'),
    );
    assert.equal(s.seen[7].url, '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases');
  } finally {
    await c.close();
    await s.close();
  }
});

test('watch parses events split across chunks; ERROR 410 becomes Gone', async () => {
  const s = await server((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url.includes('resourceVersion=1&')) {
      const line = JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '2' } } });
      res.write(line.slice(0, 10));
      setTimeout(() => {
        res.write(`${line.slice(10)}\n${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } })}\n`);
        res.end();
      }, 5);
    } else {
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } })}\n`);
    }
  });
  const c = new HttpKubeClient({ server: s.url });
  try {
    const got: string[] = [];
    for await (const ev of c.watch(Resources.pods, { resourceVersion: '1', allowWatchBookmarks: true, timeoutSeconds: 5 })) {
      got.push(`${ev.type} ${ev.object.metadata.resourceVersion}`);
    }
    assert.deepEqual(got, ['ADDED 2', 'BOOKMARK 9']);
    assert.match(s.seen[0].url, /watch=1/);
    assert.match(s.seen[0].url, /allowWatchBookmarks=true/);
    await assert.rejects(async () => {
      for await (const _ of c.watch(Resources.pods, { resourceVersion: '0' })) {
        // drain
      }
    }, (e) => isHedgeError(e, 'Gone') && /too old/.test(e.message));
  } finally {
    await c.close();
    await s.close();
  }
});

test('aborting a watch ends it quietly', async () => {
  const s = await server((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } })}\n`);
  });
  const c = new HttpKubeClient({ server: s.url });
  const ac = new AbortController();
  try {
    let n = 0;
    for await (const _ of c.watch(Resources.pods, { signal: ac.signal })) {
      n++;
      ac.abort();
    }
    assert.equal(n, 1);
  } finally {
    await c.close();
    await s.close();
  }
});

/** what the long-lived `signal` holds for the operations that used it: followers (src/lib/signals.ts) and Node's AbortSignal.any dependants (internal) */
function heldBy(signal: AbortSignal): number {
  const dependants = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
  const set = dependants ? (signal as unknown as Record<symbol, Set<unknown> | undefined>)[dependants] : undefined;
  return followerCount(signal) + (set?.size ?? 0);
}

test('requests and watches under a long-lived signal leave nothing on it (Node 20 AbortSignal.any kept one entry per request)', async () => {
  const s = await server((req, res) => {
    if (/[?&]watch=/.test(req.url)) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '2' } } })}\n`);
    } else json(res, 200, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' } });
  });
  const c = new HttpKubeClient({ server: s.url });
  const stop = new AbortController();
  try {
    for (let i = 0; i < 50; i++) await c.get(Resources.pods, 'p', { namespace: 'ns', signal: stop.signal });
    for (let i = 0; i < 5; i++) {
      for await (const ev of c.watch(Resources.pods, { namespace: 'ns', signal: stop.signal })) assert.equal(ev.type, 'ADDED');
    }
    assert.equal(heldBy(stop.signal), 0);
    assert.ok(getEventListeners(stop.signal, 'abort').length <= 1);
  } finally {
    await c.close();
    await s.close();
  }
});

test('bindBatchSize: flushBinds sends the binds held so far at once; binds after it make the next batch', async () => {
  const s = await server((req, res) => {
    if (req.url.endsWith('/bindings')) {
      const items = (JSON.parse(req.body) as { items: unknown[] }).items;
      json(res, 200, { kind: 'List', items: items.map(() => ({ kind: 'Status', status: 'Success', code: 201 })) });
    } else json(res, 201, { kind: 'Status', status: 'Success', code: 201 });
  });
  const c = new HttpKubeClient({ server: s.url, token: 'tok', bindBatchSize: 10 });
  try {
    const bind = (name: string): Promise<void> => c.bind({ namespace: 'ns', name, nodeName: 'n1' });
    // held for the end of the turn: the two go together
    await Promise.all([bind('a'), bind('b')]);
    assert.deepEqual(s.seen.map((r) => `${r.method} ${r.url}`), ['POST /api/v1/namespaces/ns/bindings']);
    s.seen.length = 0;
    // flushed: the first leaves alone (as pods/binding), the one after it with the turn's end
    const first = bind('c');
    c.flushBinds();
    await Promise.all([first, bind('d')]);
    assert.deepEqual(s.seen.map((r) => `${r.method} ${r.url}`).sort(), ['POST /api/v1/namespaces/ns/pods/c/binding', 'POST /api/v1/namespaces/ns/pods/d/binding']);
    // nothing held: a no-op
    c.flushBinds();
  } finally {
    await c.close();
    await s.close();
  }
});
