/** The agent's dependencies as in-memory fakes (agent tests): two runtimes, a fake network, images, snapshots, mounts and a 2-CPU, 4 GiB host. */
import type { FakeClock } from '../../client/clock.ts';
import type { FakeKubeClient } from '../../client/fake-client.ts';
import { silentLogger } from '../../lib/log.ts';
import type { AgentDeps } from '../agent.ts';
import type { FakeImageStore } from '../image/testing/fake-image-store.ts';
import type { HostProbe } from '../node/host-probe.ts';
import { FakeNetwork } from '../network/testing/fake-network.ts';
import { FakeRuntime } from '../runtime/testing/fake-runtime.ts';
import type { RuntimeHandler } from '../runtime/types.ts';
import { FakeSnapshotter } from '../snapshot/testing/fake-snapshotter.ts';
import { FakeMounter } from '../volumes/mounter.ts';

export function fakeAgentDeps(client: FakeKubeClient, clock: FakeClock, images: FakeImageStore, host: Partial<HostProbe> = {}): AgentDeps {
  return {
    client,
    runtimes: new Map<string, RuntimeHandler>([['runc', new FakeRuntime({ now: () => clock.now() })], ['gvisor', new FakeRuntime({ name: 'gvisor' })]]),
    network: new FakeNetwork(),
    images,
    snapshotter: new FakeSnapshotter(),
    logger: silentLogger(),
    clock,
    mounter: new FakeMounter(),
    host: {
      cpus: () => 2,
      identity: async () => ({ hostname: 'edge-9', machineID: 'm', bootID: 'b', kernelVersion: 'k', osImage: 'o', architecture: 'amd64' }),
      usage: async () => ({ memory: { totalBytes: 2 ** 32, availableBytes: 2 ** 31 }, disk: { totalBytes: 2 ** 36, availableBytes: 2 ** 35 }, pids: { used: 10, max: 1000 } }),
      ...host,
    },
  };
}
