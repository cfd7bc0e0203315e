import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { FakeClock } from '../client/clock.ts';
import { FakeKubeClient } from '../client/fake-client.ts';
import { Resources } from '../client/resources.ts';
import { silentLogger } from '../lib/log.ts';
import { startAgent } from './agent.ts';
import { FakeImageStore } from './image/testing/fake-image-store.ts';
import { FakeNetwork } from './network/testing/fake-network.ts';
import { FakeSnapshotter } from './snapshot/testing/fake-snapshotter.ts';
import { FakeRuntime } from './runtime/testing/fake-runtime.ts';
import { eventually } from './podsync/testing/harness.ts';
import type { RuntimeHandler } from './runtime/types.ts';
import { FakeMounter } from './volumes/mounter.ts';

describe('startAgent', () => {
  it('registers the node, holds its lease, runs a bound pod and serves /pods; stops on abort', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'hedge-agent-'));
    const client = new FakeKubeClient();
    const clock = new FakeClock();
    const images = new FakeImageStore();
    images.addRemote('busybox:1', { Cmd: ['sh'] });
    const ac = new AbortController();
    try {
      const agent = await startAgent(
        { nodeName: 'edge-9', dataDir, internalIP: '192.0.2.9', server: { host: '127.0.0.1', port: 0, auth: { tokens: new Set(['t']), clientCerts: false, authorization: 'AlwaysAllow' } } },
        {
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
          },
        },
        ac.signal,
      );
      await agent.registrar.registered();
      const node = (await client.get(Resources.nodes, 'edge-9')) as unknown as { status: { runtimeHandlers: { name: string }[] } };
      assert.deepEqual(node.status.runtimeHandlers.map((h) => h.name), ['runc', 'gvisor']);
      await eventually(() => agent.lease.renewals >= 1, 'lease');
      await client.create(Resources.pods, { metadata: { name: 'p', namespace: 'default' }, spec: { nodeName: 'edge-9', containers: [{ name: 'c', image: 'busybox:1' }] } });
      await eventually(async () => ((await client.get(Resources.pods, 'p', { namespace: 'default' })) as unknown as Pod).status?.phase === 'Running', 'pod Running');
      const res = await fetch(`http://127.0.0.1:${agent.server.port}/pods`, { headers: { Authorization: 'Bearer t' } });
      const list = (await res.json()) as { items: Pod[] };
      assert.deepEqual(list.items.map((p) => p.metadata?.name), ['p']);
      ac.abort();
      await agent.done;
    } finally {
      ac.abort();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
