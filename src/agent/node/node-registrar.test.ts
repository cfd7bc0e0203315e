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

  it('patches status on change, skips unchanged checks, heartbeats every report interval', async () => {
    const client = new FakeKubeClient();
    const clock = new FakeClock();
    const cfg = defaultNodeConfig('edge-b', '/tmp');
    const host = fakeHost(healthy());
    const r = new NodeRegistrar({ client, cfg, host, clock, logger: silentLogger() });
    const sig = new AbortController().signal;
    await r.register(sig);
    clock.advance(10_000);
    assert.equal(await r.syncStatus(sig), false);
    host.usageNow = { ...healthy(), memory: { totalBytes: 8 * GiB, availableBytes: 50 * 1024 * 1024 }, disk: { totalBytes: 100 * GiB, availableBytes: GiB } };
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
    clock.advance(30_000);
    assert.equal(await r.syncStatus(sig), true);
    n = (await client.get(Resources.nodes, 'edge-b')) as unknown as Node;
    assert.equal(cond(n, 'Ready')?.lastHeartbeatTime, '2026-01-01T00:01:20Z');
    assert.equal(cond(n, 'MemoryPressure')?.lastTransitionTime, '2026-01-01T00:00:20Z');
  });

  it('parses /proc/meminfo and os-release', () => {
    assert.deepEqual(parseMeminfo('MemTotal:       16384 kB\nMemFree: 1 kB\nMemAvailable:    8192 kB\n'), { totalBytes: 16384 * 1024, availableBytes: 8192 * 1024 });
    assert.equal(parseOsRelease('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'), 'Debian GNU/Linux 12 (bookworm)');
  });
});
