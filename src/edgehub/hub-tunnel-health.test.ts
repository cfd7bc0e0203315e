/**
 * The hub's cloud health over the node's tunnel (cloud-health.ts linkFirstProbe), as `hedge node`
 * wires it: a real apiserver, its tunnel endpoint, a real tunnel client asking for the apiserver's
 * heartbeat and the hub, both through one TcpLink (the node's link to the cloud), at the default
 * health timing (500 ms, 1 s timeout: offline within 1.5 s).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../lib/log.ts';
import { HEARTBEAT_MS, readyzProbe, type CloudLink, type HealthProbe } from './cloud-health.ts';
import { startHubRig, until, type HubRig } from './testing/hub-rig.ts';
import { startTunnelClient, type TunnelClient } from './tunnel/index.ts';
import { testToken } from '../apiserver/testing/test-server.ts';

const NODE = 'edge-1';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('edgehub cloud health over the tunnel', () => {
  let dir: string;
  let rig: HubRig;
  let tunnel: TunnelClient | undefined;
  const stop = new AbortController();
  let readyzProbes = 0;
  /** pings the hub sent on the tunnel for the cloud's health */
  let pings = 0;
  const wrapped = new WeakMap<CloudLink, CloudLink>();
  const countedLink = (l: CloudLink | undefined): CloudLink | undefined => {
    if (!l) return undefined;
    const w = wrapped.get(l) ?? {
      get heardAt() {
        return l.heardAt;
      },
      get silentMs() {
        return l.silentMs;
      },
      get heartbeatLateMs() {
        return l.heartbeatLateMs;
      },
      heartbeatLate: (signal) => l.heartbeatLate(signal),
      alive: (timeoutMs, signal) => (pings++, l.alive(timeoutMs, signal)),
    };
    wrapped.set(l, w);
    return w;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgehub-tunnel-health-'));
    // /readyz through the link, counted: it should run only while the tunnel cannot answer
    const counted = (inner: HealthProbe): HealthProbe => ({
      probe: (signal) => {
        readyzProbes++;
        return inner.probe(signal);
      },
      close: () => inner.close(),
    });
    let cloudUrl = '';
    rig = await startHubRig({
      nodeName: NODE,
      dir,
      hub: (url) => ((cloudUrl = url), { link: () => countedLink(tunnel?.link()), probe: counted(readyzProbe({ server: url, token: testToken }, 1_000)) }),
    });
    tunnel = startTunnelClient({ server: cloudUrl, nodeName: NODE, token: `node-${NODE}`, connectLocal: () => new Socket(), logger: silentLogger(), backoff: { initialMs: 100, maxMs: 500 }, heartbeatMs: HEARTBEAT_MS }, stop.signal);
    await tunnel.waitConnected(AbortSignal.timeout(10_000));
  });

  after(async () => {
    stop.abort();
    await tunnel?.done;
    await rig.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('hears the apiserver heartbeat on the tunnel instead of asking /readyz or pinging; a silent link is offline within 2 s, /readyz decides until the tunnel answers again', async () => {
    assert.equal(tunnel?.link()?.peerHeartbeatMs, HEARTBEAT_MS, 'the apiserver granted the heartbeat');
    await sleep(1_200); // a probe that began before the tunnel was up has finished
    const before = readyzProbes;
    const pingsBefore = pings;
    await sleep(3_000);
    assert.equal(readyzProbes, before, 'no /readyz while the tunnel answers');
    // a heartbeat late by a fifth of its period (a loaded machine) is pinged for: a few at most
    assert.ok(pings - pingsBefore <= 2, `${pings - pingsBefore} pings in 3 s while the heartbeat arrives (6 without it)`);
    assert.equal(rig.hub.state(), 'online');

    const cut = performance.now();
    rig.link.blackhole();
    await rig.hub.waitFor('offline', AbortSignal.timeout(5_000));
    const detectedMs = performance.now() - cut;
    assert.ok(detectedMs < 2_000, `loss detected in ${detectedMs.toFixed(0)} ms`);

    // the tunnel session that did not answer is not asked again: /readyz decides meanwhile
    const fromReadyz = readyzProbes;
    await sleep(1_600);
    assert.ok(readyzProbes > fromReadyz, '/readyz while the tunnel stays silent');
    assert.equal(rig.hub.state(), 'offline');
    // the link is back (the swallowed connections reset, as a peer that gave up on them would)
    rig.link.restore();
    await rig.hub.waitFor('online', AbortSignal.timeout(10_000));
    await until('the tunnel reconnects', () => (tunnel?.connects ?? 0) >= 2 && tunnel?.connected === true, 15_000);
    await sleep(1_200);
    const settled = readyzProbes;
    await sleep(2_000);
    assert.equal(readyzProbes, settled, 'the new tunnel session answers for the cloud again');
    assert.equal(rig.hub.state(), 'online');
  });
});
