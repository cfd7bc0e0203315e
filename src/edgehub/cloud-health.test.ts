import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { linkFirstProbe, readyzProbe } from './cloud-health.ts';

test('readyzProbe: ready on 200 over one kept-alive connection; false on 503, on no headers and on a stalled body, each within the timeout', async (t) => {
  let mode: 'ok' | 'unready' | 'silent' | 'stall' = 'ok';
  const ports: number[] = [];
  const auth: (string | undefined)[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    ports.push(req.socket.remotePort ?? 0);
    auth.push(req.headers.authorization);
    if (req.url !== '/readyz') return void res.writeHead(404).end();
    if (mode === 'ok') return void res.end('ok');
    if (mode === 'unready') return void res.writeHead(503).end('not ready');
    held.push(res);
    if (mode === 'stall') {
      res.writeHead(200, { 'content-length': '2' });
      res.write('o');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const probe = readyzProbe({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 'tok' }, 300);
  t.after(async () => {
    await probe.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const signal = new AbortController().signal;

  for (let i = 0; i < 3; i++) assert.equal(await probe.probe(signal), true);
  assert.equal(new Set(ports).size, 1, 'the probes share one connection');
  assert.deepEqual(new Set(auth), new Set(['Bearer tok']));
  mode = 'unready';
  assert.equal(await probe.probe(signal), false);
  for (const m of ['silent', 'stall'] as const) {
    mode = m;
    const t0 = performance.now();
    assert.equal(await probe.probe(signal), false, m);
    const took = performance.now() - t0;
    assert.ok(took >= 250 && took < 1_000, `${m}: false after ${Math.round(took)} ms (timeout 300)`);
  }
  mode = 'ok';
  assert.equal(await probe.probe(signal), true, 'ready again after the failures');
  // the caller's signal ends a probe at once
  mode = 'silent';
  const ac = new AbortController();
  const pending = probe.probe(ac.signal);
  setTimeout(() => ac.abort(), 20);
  const t0 = performance.now();
  assert.equal(await pending, false);
  assert.ok(performance.now() - t0 < 250, 'aborted, not timed out');
  for (const r of held) r.destroy();
});

test('linkFirstProbe: the link decides while there is one; a link that failed to answer is skipped for the fallback until it is heard from again', async () => {
  let answer = true;
  let pinged = 0;
  const link = {
    heardAt: 0,
    alive(timeoutMs: number): Promise<boolean> {
      pinged++;
      if (answer) {
        link.heardAt++;
        return Promise.resolve(true);
      }
      return new Promise((r) => setTimeout(() => r(false), timeoutMs));
    },
  };
  let current: typeof link | undefined = link;
  let fallbacks = 0;
  let fallbackOk = true;
  const probe = linkFirstProbe(() => current, { probe: async () => (fallbacks++, fallbackOk), close: async () => undefined }, 50);
  const signal = new AbortController().signal;

  assert.equal(await probe.probe(signal), true);
  assert.equal(await probe.probe(signal), true);
  assert.deepEqual([pinged, fallbacks], [2, 0], 'the link answers: no HTTP probe');
  answer = false;
  const t0 = performance.now();
  assert.equal(await probe.probe(signal), false, 'no answer within the timeout: offline');
  assert.ok(performance.now() - t0 >= 45);
  fallbackOk = false;
  assert.equal(await probe.probe(signal), false);
  fallbackOk = true;
  assert.equal(await probe.probe(signal), true, 'the cloud is back (/readyz) though the link never answered');
  assert.deepEqual([pinged, fallbacks], [3, 2], 'the silent link is not asked again');
  link.heardAt++; // a late pong, or the peer's own ping
  answer = true;
  assert.equal(await probe.probe(signal), true);
  assert.deepEqual([pinged, fallbacks], [4, 2], 'heard from: asked again');
  current = undefined;
  assert.equal(await probe.probe(signal), true);
  assert.equal(fallbacks, 3, 'no tunnel: /readyz');
});
