import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { startTunnelClient, type TunnelClient } from '../../edgehub/tunnel/index.ts';
import { silentLogger } from '../../lib/log.ts';
import { closedPort, nodeAt, podOn, startFakeKubelet, type FakeKubelet } from '../testing/fake-kubelet.ts';
import { startTestServer, testToken, type TestServer } from '../testing/test-server.ts';

/** the status of a WebSocket handshake the server refuses */
function upgradeStatus(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers: { Authorization: `Bearer ${token}` } });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error('the tunnel was accepted'));
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('error', () => undefined);
  });
}

function execOverWs(url: string, token: string): Promise<{ out: string; status: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v5.channel.k8s.io'], { headers: { Authorization: `Bearer ${token}` } });
    let out = '';
    let status = '';
    ws.on('message', (d: Buffer) => {
      if (d[0] === 1) out += d.subarray(1).toString();
      if (d[0] === 3) status = d.subarray(1).toString();
    });
    ws.on('close', () => resolve({ out, status }));
    ws.on('error', reject);
  });
}

describe('node tunnel: node-bound requests through the connection the node opened', () => {
  let t: TestServer;
  let kubelet: FakeKubelet;
  let client: TunnelClient | undefined;
  const stop = new AbortController();

  before(async () => {
    kubelet = await startFakeKubelet();
    t = await startTestServer({ kubeletClient: { scheme: 'http' }, nodeTunnelKeepalive: { intervalMs: 200, timeoutMs: 1_000 } });
    const reg = t.server.registry;
    const ctx = { user: { username: 'admin', groups: ['system:masters'] }, dryRun: false, signal: stop.signal };
    // the Node advertises an address where nothing answers: only the tunnel reaches it
    await reg.create(reg.defFor('', 'nodes')!, nodeAt('edge-1', await closedPort()) as never, ctx);
    await reg.create(reg.defFor('', 'pods')!, podOn('web', 'edge-1') as never, ctx);
  });
  after(async () => {
    stop.abort();
    await client?.done;
    await t.close();
    await kubelet.close();
  });

  const startClient = (token: string, nodeName = 'edge-1'): TunnelClient =>
    startTunnelClient(
      {
        server: t.url,
        nodeName,
        token,
        connectLocal: () => connect(kubelet.port, '127.0.0.1'),
        logger: silentLogger(),
        backoff: { initialMs: 20, maxMs: 200 },
        keepalive: { intervalMs: 200, timeoutMs: 1_000 },
      },
      stop.signal,
    );

  it('without a tunnel the apiserver dials the node, and fails: 503 with the dial error', async () => {
    const r = await t.json<{ reason: string; message: string }>('/api/v1/namespaces/default/pods/web/log');
    assert.equal(r.status, 503);
    assert.equal(r.body.reason, 'ServiceUnavailable');
    assert.match(r.body.message, /error dialing node "edge-1"/);
  });

  it('a node may open only its own tunnel', async () => {
    for (const token of [testToken, 'user-bob', 'node-edge-2']) {
      const res = await upgradeStatus(`${t.url}/apis/tunnel.hedge.io/v1/nodes/edge-1/connect`, token);
      assert.equal(res.status, 403, `${token}: ${res.body}`);
      assert.match(res.body, /only node \\"edge-1\\" may open its tunnel|cannot get resource \\"nodes\/connect\\"/);
      assert.equal(t.server.nodeTunnels.has('edge-1'), false);
    }
    const plain = await t.request('/apis/tunnel.hedge.io/v1/nodes/edge-1/connect', { headers: { authorization: 'Bearer node-edge-1' } });
    assert.equal(plain.status, 400);
  });

  it('heartbeatMs: granted in the upgrade answer (the node then hears one unasked frame per period); out of range or not a number: 400', async () => {
    for (const bad of ['abc', '5', '1.5', '600000']) {
      const res = await upgradeStatus(`${t.url}/apis/tunnel.hedge.io/v1/nodes/edge-1/connect?heartbeatMs=${bad}`, 'node-edge-1');
      assert.equal(res.status, 400, `${bad}: ${res.body}`);
      assert.match(res.body, /heartbeatMs: must be an integer number of milliseconds/);
    }
    const hbStop = new AbortController();
    const hb = startTunnelClient({ server: t.url, nodeName: 'edge-1', token: 'node-edge-1', connectLocal: () => connect(kubelet.port, '127.0.0.1'), logger: silentLogger(), heartbeatMs: 100 }, hbStop.signal);
    try {
      await hb.waitConnected(AbortSignal.timeout(10_000));
      const session = hb.link()!;
      assert.equal(session.peerHeartbeatMs, 100, 'granted');
      const heard = session.heardAt;
      await new Promise((r) => setTimeout(r, 350));
      assert.ok(session.heardAt > heard && session.silentMs < 250, `heard ${session.silentMs} ms ago, with a heartbeat every 100 ms`);
    } finally {
      hbStop.abort();
      await hb.done;
      await waitFor(() => !t.server.nodeTunnels.has('edge-1'));
    }
  });

  it('logs, logs -f, exec and nodes/proxy go through the tunnel', async () => {
    client = startClient('node-edge-1');
    await client.waitConnected(AbortSignal.timeout(10_000));
    await waitFor(() => t.server.nodeTunnels.has('edge-1'));

    const log = await t.request('/api/v1/namespaces/default/pods/web/log');
    assert.equal(log.status, 200);
    assert.equal(await log.text(), 'hello from main\nsecond line\n');

    const ac = new AbortController();
    const follow = await t.request('/api/v1/namespaces/default/pods/web/log?follow=true', { signal: ac.signal });
    const reader = (follow.body as ReadableStream<Uint8Array>).getReader();
    let got = '';
    while (!got.includes('line 2\n')) got += Buffer.from((await reader.read()).value ?? []).toString();
    assert.equal(got, 'line 1\nline 2\n');
    ac.abort();
    await kubelet.followClosed(1);

    const ex = await execOverWs(`${t.url}/api/v1/namespaces/default/pods/web/exec?command=echo&command=through&command=tunnel&stdout=true`, testToken);
    assert.equal(ex.out, 'through tunnel\n');
    assert.match(ex.status, /Success/);

    const proxied = await t.request('/api/v1/nodes/edge-1/proxy/containerLogs/default/web/main?tailLines=1');
    assert.equal(proxied.status, 200);
    assert.equal(await proxied.text(), 'hello from main\nsecond line\n');
    assert.ok(kubelet.seen.includes('/containerLogs/default/web/main?tailLines=1'), kubelet.seen.join(' '));
    const missing = await t.request('/api/v1/nodes/edge-1/proxy/nope');
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), 'no such path');
    // nodes/proxy is its own permission: a node has none, as upstream
    const asNode = await t.request('/api/v1/nodes/edge-1/proxy/nope', { headers: { authorization: 'Bearer node-edge-1' } });
    assert.equal(asNode.status, 403);
  });

  it('20 concurrent requests share the tunnel', async () => {
    await client!.waitConnected(AbortSignal.timeout(10_000));
    const bodies = await Promise.all(Array.from({ length: 20 }, async () => (await t.request('/api/v1/namespaces/default/pods/web/log')).text()));
    for (const b of bodies) assert.equal(b, 'hello from main\nsecond line\n');
  });

  it('reconnects after the tunnel is cut, and requests work again', async () => {
    const before = client!.connects;
    t.server.nodeTunnels.close('cut by the test');
    await waitFor(() => client!.connects > before && t.server.nodeTunnels.has('edge-1'));
    const log = await t.request('/api/v1/namespaces/default/pods/web/log');
    assert.equal(await log.text(), 'hello from main\nsecond line\n');
  });
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
