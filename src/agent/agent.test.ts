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
import { SharedInformerFactory } from '../client/shared-informers.ts';
import type { KubeObject } from '../api/object.ts';
import { startAgent } from './agent.ts';
import { fakeAgentDeps as fakeDeps } from './testing/fake-agent-deps.ts';
import { startClusterDns } from './network/dns/cluster-dns.ts';
import { ServiceProxy } from './network/proxy/proxy.ts';
import { recordingNft } from './network/testing/recording-nft.ts';
import { RRType } from './network/dns/wire.ts';
import { FakeImageStore } from './image/testing/fake-image-store.ts';
import { eventually } from './podsync/testing/harness.ts';

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
        fakeDeps(client, clock, images),
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

  it('with the service proxy and cluster DNS on one informer factory: one list and one watch of Services and of EndpointSlices for the node', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'hedge-agent-'));
    const client = new FakeKubeClient();
    const clock = new FakeClock();
    const images = new FakeImageStore();
    images.addRemote('busybox:1', { Cmd: ['sh'] });
    await client.create(Resources.services, { metadata: { namespace: 'default', name: 'kubernetes' }, spec: { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443 }] } } as KubeObject);
    const informers = new SharedInformerFactory({ client, logger: silentLogger() });
    const ac = new AbortController();
    const nft = recordingNft();
    const dns = await startClusterDns({ client, informers, logger: silentLogger(), domain: 'cluster.local', listen: { host: '127.0.0.1', port: 0 }, upstreams: [] });
    try {
      const agent = await startAgent(
        { nodeName: 'edge-9', dataDir, internalIP: '192.0.2.9', server: { host: '127.0.0.1', port: 0, auth: { tokens: new Set(['t']), clientCerts: false, authorization: 'AlwaysAllow' } } },
        { ...fakeDeps(client, clock, images), informers },
        ac.signal,
      );
      const proxy = new ServiceProxy({ client, informers, nodeName: 'edge-9', logger: silentLogger(), table: 'hp-shared', nft, debounceMs: 5 });
      const proxyRun = proxy.run(ac.signal);
      await dns.synced;
      await proxy.waitForSync();
      // the pod gets its service variables from the same cache
      await client.create(Resources.pods, { metadata: { name: 'p', namespace: 'default' }, spec: { nodeName: 'edge-9', containers: [{ name: 'c', image: 'busybox:1' }] } });
      await eventually(async () => ((await client.get(Resources.pods, 'p', { namespace: 'default' })) as unknown as Pod).status?.phase === 'Running', 'pod Running');
      // a Service created now reaches all three through the one watch
      await client.create(Resources.services, { metadata: { namespace: 'default', name: 'web' }, spec: { clusterIP: '10.96.0.7', ports: [{ name: 'http', port: 80 }] } } as KubeObject);
      await eventually(() => {
        const a = dns.zone.lookup({ name: 'web.default.svc.cluster.local', type: RRType.A, class: 1 });
        return a.kind === 'records' && a.answers.length === 1;
      }, 'DNS has web');
      await eventually(() => /10\.96\.0\.7/.test(nft.scripts.at(-1) ?? ''), 'the proxy programmed web');
      const calls = (verb: string, plural: string): number => client.calls.filter((c) => c.verb === verb && c.plural === plural).length;
      for (const plural of ['services', 'endpointslices']) {
        assert.equal(calls('list', plural), 1, `lists of ${plural}`);
        assert.equal(calls('watch', plural), 1, `watches of ${plural}`);
      }
      ac.abort();
      await agent.done;
      await proxyRun;
    } finally {
      ac.abort();
      await dns.close();
      await rm(dataDir, { recursive: true, force: true });
    }
    // the last consumer gone, nothing runs
    assert.equal(informers.running, 0);
    await informers.shutdown();
  });
});
