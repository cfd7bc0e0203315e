import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node } from 'kubernetes-types/core/v1.js';
import { FakeClock } from '../../client/clock.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import { silentLogger } from '../../lib/log.ts';
import { defaultNodeConfig } from './config.ts';
import { parseMeminfo, parseOsRelease, type HostProbe, type HostUsage } from './host-probe.ts';
import { NodeRegistrar } from './node-registrar.ts';

const GiB = 1024 ** 3;

function fakeHost(usage: HostUsage): HostProbe & { usageNow: HostUsage } {
  const h = {
    usageNow: usage,
    cpus: () => 4,
    identity: async () => ({ hostname: 'edge-a', machineID: 'm1', bootID: 'b1', kernelVersion: '6.1.0', osImage: 'Debian GNU/Linux 12 (bookworm)', architecture: 'amd64' }),
    usage: async () => h.usageNow,
  };
  return h;
}

const healthy = (): HostUsage => ({ memory: { totalBytes: 8 * GiB, availableBytes: 4 * GiB }, disk: { totalBytes: 100 * GiB, availableBytes: 50 * GiB }, pids: { used: 300, max: 4_194_304 } });
const cond = (n: Node, t: string) => n.status?.conditions?.find((c) => c.type === t);

describe('node registration', () => {
  it('registers labels, capacity/allocatable, nodeInfo, runtimeHandlers and honest conditions', async () => {
    const client = new FakeKubeClient();
    const clock = new FakeClock();
    const cfg = { ...defaultNodeConfig('edge-a', '/tmp'), internalIP: '192.0.2.5', runtimeHandlers: ['runc', 'gvisor'], reserved: { cpuMilli: 500, memoryBytes: GiB, ephemeralStorageBytes: 0 }, labels: { zone: 'z1' } };
    const host = fakeHost(healthy());
    const r = new NodeRegistrar({ client, cfg, host, clock, logger: silentLogger() });
    await r.register(new AbortController().signal);
    const n = (await client.get(Resources.nodes, 'edge-a')) as unknown as Node;
    assert.equal(n.metadata?.labels?.['kubernetes.io/hostname'], 'edge-a');
    assert.equal(n.metadata?.labels?.['kubernetes.io/os'], 'linux');
    assert.equal(n.metadata?.labels?.['kubernetes.io/arch'], 'amd64');
    assert.equal(n.metadata?.labels?.zone, 'z1');
    assert.equal(n.status?.capacity?.cpu, '4');
    assert.equal(n.status?.capacity?.memory, `${8 * 1024 * 1024}Ki`);
    assert.equal(n.status?.capacity?.pods, '110');
    assert.equal(n.status?.allocatable?.cpu, '3500m');
    assert.equal(n.status?.allocatable?.memory, `${7 * 1024 * 1024}Ki`);
    assert.equal(n.status?.nodeInfo?.kubeletVersion, 'v1.32.0-hedge');
    assert.equal(n.status?.nodeInfo?.containerRuntimeVersion, 'hedge://0.1.0');
    assert.equal(n.status?.nodeInfo?.bootID, 'b1');
    assert.deepEqual(n.status?.addresses, [{ type: 'InternalIP', address: '192.0.2.5' }, { type: 'Hostname', address: 'edge-a' }]);
    assert.equal(n.status?.daemonEndpoints?.kubeletEndpoint?.Port, 10250);
    assert.deepEqual((n.status as Record<string, unknown>).runtimeHandlers, [
      { name: 'runc', features: { recursiveReadOnlyMounts: false, userNamespaces: false } },
      { name: 'gvisor', features: { recursiveReadOnlyMounts: false, userNamespaces: false } },
    ]);
    assert.equal(cond(n, 'Ready')?.status, 'True');
    assert.equal(cond(n, 'MemoryPressure')?.status, 'False');
    assert.equal(cond(n, 'DiskPressure')?.reason, 'KubeletHasNoDiskPressure');
    assert.equal(r.uid, n.metadata?.uid);
  });

  it('patches status on change, skips unchanged checks, heartbeats every report interval; pressure conditions are the eviction manager\'s', async () => {
    const client = new FakeKubeClient();
    const clock = new FakeClock();
    const cfg = defaultNodeConfig('edge-b', '/tmp');
    const host = fakeHost(healthy());
    // the eviction manager's verdicts (its thresholds and transition period are its own tests')
    const under = new Set<string>();
    const r = new NodeRegistrar({ client, cfg, host, clock, logger: silentLogger(), pressure: { underPressure: (c) => under.has(c) } });
    const sig = new AbortController().signal;
    await r.register(sig);
    clock.advance(10_000);
    assert.equal(await r.syncStatus(sig), false);
    under.add('MemoryPressure').add('DiskPressure');
    clock.advance(10_000);
    assert.equal(await r.syncStatus(sig), true);
    let n = (await client.get(Resources.nodes, 'edge-b')) as unknown as Node;
    assert.equal(cond(n, 'MemoryPressure')?.status, 'True');
    assert.equal(cond(n, 'MemoryPressure')?.reason, 'KubeletHasInsufficientMemory');
    assert.equal(cond(n, 'DiskPressure')?.status, 'True');
    assert.equal(cond(n, 'PIDPressure')?.status, 'False');
    assert.equal(cond(n, 'MemoryPressure')?.lastTransitionTime, '2026-01-01T00:00:20Z');
    clock.advance(30_000);
    assert.equal(await r.syncStatus(sig), false);
    // unchanged: the next report is the kubelet's nodeStatusReportFrequency (5 min) after the last
    clock.advance(239_000);
    assert.equal(await r.syncStatus(sig), false);
    clock.advance(31_000);
    assert.equal(await r.syncStatus(sig), true);
    n = (await client.get(Resources.nodes, 'edge-b')) as unknown as Node;
    assert.equal(cond(n, 'Ready')?.lastHeartbeatTime, '2026-01-01T00:05:20Z');
    assert.equal(cond(n, 'MemoryPressure')?.lastTransitionTime, '2026-01-01T00:00:20Z');
  });

  it('re-posts Ready within a status period when the lifecycle controller set it Unknown, and keeps the conditions others own', async () => {
    const client = new FakeKubeClient();
    const clock = new FakeClock();
    const cfg = { ...defaultNodeConfig('edge-c', '/tmp'), internalIP: '192.0.2.7' };
    const r = new NodeRegistrar({ client, cfg, host: fakeHost(healthy()), clock, logger: silentLogger() });
    const ac = new AbortController();
    const running = r.run(ac.signal);
    const until = async (what: string, ok: () => boolean | Promise<boolean>): Promise<void> => {
      for (let i = 0; i < 500 && !(await ok()); i++) await new Promise((res) => setImmediate(res));
      assert.ok(await ok(), what);
    };
    const node = async (): Promise<Node> => (await client.get(Resources.nodes, 'edge-c')) as unknown as Node;
    try {
      // registered, its own Node watched, the status loop parked on the clock
      await until('registered and parked', () => r.uid !== undefined && clock.pending === 1 && client.openWatches === 1);
      // the lifecycle controller, seeing no renewals: Ready Unknown (heartbeat kept), EdgeAutonomy
      // added; node-problem-detector adds a condition of its own
      const ready = cond(await node(), 'Ready')!;
      await client.patch(
        Resources.nodes,
        'edge-c',
        'strategic',
        {
          status: {
            conditions: [
              { ...ready, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: '2026-01-01T00:00:30Z' },
              { type: 'EdgeAutonomy', status: 'False', reason: 'NodeWasDown', message: 'm', lastHeartbeatTime: '2026-01-01T00:00:30Z', lastTransitionTime: '2026-01-01T00:00:30Z' },
              { type: 'KernelDeadlock', status: 'False', reason: 'KernelHasNoDeadlock', message: 'kernel has no deadlock', lastHeartbeatTime: '2026-01-01T00:00:30Z', lastTransitionTime: '2026-01-01T00:00:30Z' },
            ],
          },
        },
        { subresource: 'status' },
      );
      // nothing of the agent's own changed and the report interval (60 s) is far: only the stored
      // Node disagreeing makes the next status check post
      clock.advance(10_400);
      await until('Ready again', async () => cond(await node(), 'Ready')?.status === 'True');
      const n = await node();
      assert.equal(cond(n, 'Ready')?.reason, 'KubeletReady');
      assert.equal(cond(n, 'Ready')?.lastTransitionTime, '2026-01-01T00:00:10Z', 'Unknown → True is a transition');
      assert.equal(cond(n, 'EdgeAutonomy')?.reason, 'NodeWasDown', 'the lifecycle controller\'s condition is kept');
      assert.equal(cond(n, 'KernelDeadlock')?.status, 'False', 'a condition node-problem-detector owns is kept');
      assert.deepEqual(n.status?.addresses, [{ type: 'InternalIP', address: '192.0.2.7' }, { type: 'Hostname', address: 'edge-a' }]);
      // agreed again: the next check writes nothing
      const writes = client.calls.filter((c) => c.verb === 'patch').length;
      await until('parked', () => clock.pending === 1);
      clock.advance(10_400);
      await until('parked again', () => clock.pending === 1);
      assert.equal(client.calls.filter((c) => c.verb === 'patch').length, writes);
    } finally {
      ac.abort();
      await running;
    }
  });

  it('the posted addresses replace the stored list (the schema merges them by type: an address of another type would stay)', async () => {
    const client = new FakeKubeClient();
    const clock = new FakeClock();
    const cfg = { ...defaultNodeConfig('edge-d', '/tmp'), internalIP: '192.0.2.8' };
    const sig = new AbortController().signal;
    await new NodeRegistrar({ client, cfg, host: fakeHost(healthy()), clock, logger: silentLogger() }).register(sig);
    await client.patch(Resources.nodes, 'edge-d', 'strategic', { status: { addresses: [{ type: 'ExternalIP', address: '198.51.100.1' }] } }, { subresource: 'status' });
    await new NodeRegistrar({ client, cfg: { ...cfg, internalIP: '192.0.2.9' }, host: fakeHost(healthy()), clock, logger: silentLogger() }).register(sig);
    const n = (await client.get(Resources.nodes, 'edge-d')) as unknown as Node;
    assert.deepEqual(n.status?.addresses, [{ type: 'InternalIP', address: '192.0.2.9' }, { type: 'Hostname', address: 'edge-a' }]);
  });

  it('parses /proc/meminfo and os-release', () => {
    assert.deepEqual(parseMeminfo('MemTotal:       16384 kB\nMemFree: 1 kB\nMemAvailable:    8192 kB\n'), { totalBytes: 16384 * 1024, availableBytes: 8192 * 1024 });
    assert.equal(parseOsRelease('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'), 'Debian GNU/Linux 12 (bookworm)');
  });
});
