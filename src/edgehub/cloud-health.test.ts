import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { CloudHealth, linkFirstProbe, readyzProbe, type CloudLink, type Connectivity } from './cloud-health.ts';
import { silentLogger } from '../lib/log.ts';

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
    silentMs: 0,
    heartbeatLateMs: undefined,
    heartbeatLate: async () => undefined,
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

test('linkFirstProbe over a heartbeat: no ping while it arrives and the loop sleeps until it is late; a late one is pinged for, offline after interval + timeout of silence', async (t) => {
  // a link whose silence the test sets; `late` resolves the loop's wait as the session's watchdog would
  let silentMs = 0;
  let pings = 0;
  let answer = true;
  let wakeLate: (() => void) | undefined;
  const link: CloudLink & { heardAt: number } = {
    heardAt: 0,
    get silentMs() {
      return silentMs;
    },
    heartbeatLateMs: 1_200,
    heartbeatLate: (signal) => new Promise<void>((r) => ((wakeLate = r), signal.addEventListener('abort', () => r(), { once: true }))),
    alive(timeoutMs: number): Promise<boolean> {
      pings++;
      if (answer) {
        silentMs = 0;
        return Promise.resolve(true);
      }
      return new Promise((r) => setTimeout(() => r(false), timeoutMs));
    },
  };
  let fallbacks = 0;
  const probe = linkFirstProbe(() => link, { probe: async () => (fallbacks++, false), close: async () => undefined }, 1_000, 500);
  const ac = new AbortController();

  silentMs = 900;
  assert.equal(await probe.probe(ac.signal), true, 'heard 900 ms ago, a beat of 1 s: online');
  assert.equal(pings, 0, 'nothing sent');
  assert.ok(probe.due?.(ac.signal), 'the next probe waits for the heartbeat to be late');

  silentMs = 1_250; // a beat is late: a ping, answered
  assert.equal(await probe.probe(ac.signal), true);
  assert.equal(pings, 1);
  assert.equal(probe.due?.(ac.signal), undefined, 'after a ping the loop keeps its interval');

  answer = false;
  silentMs = 1_300; // late again and no answer: the ping waits only for what is left of 1.5 s
  const t0 = performance.now();
  assert.equal(await probe.probe(ac.signal), false);
  const waited = performance.now() - t0;
  assert.ok(waited >= 190 && waited < 600, `gave the ping ${waited.toFixed(0)} ms: the rest of 1.5 s of silence`);
  assert.equal(fallbacks, 0);

  // the loop: online while the heartbeat arrives, woken by its lateness only
  answer = true;
  silentMs = 0;
  link.heardAt++; // the heartbeat again
  const states: Connectivity[] = [];
  const health = new CloudHealth({ probe, intervalMs: 500, logger: silentLogger(), onChange: (st) => states.push(st) });
  t.after(() => health.stop());
  health.start();
  await new Promise((r) => setTimeout(r, 1_200));
  assert.deepEqual(states, ['online']);
  const before = pings;
  assert.equal(before, 2, 'no ping while the heartbeat was on time, however long');
  silentMs = 1_250;
  wakeLate?.();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(pings, before + 1, 'a late heartbeat wakes the loop for one ping');
  ac.abort();
});
