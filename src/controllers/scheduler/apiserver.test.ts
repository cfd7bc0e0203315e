/** Priority and preemption end to end in process: the real apiserver (Priority admission) and the scheduler over HTTP. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, testToken } from '../../apiserver/testing/test-server.ts';
import { HttpKubeClient } from '../../client/http-client.ts';
import { Resources } from '../../client/resources.ts';
import type { ResourceRef } from '../../client/types.ts';
import { silentLogger } from '../../lib/log.ts';
import type { PodObject } from '../common/types.ts';
import { makeNode, makePod, until } from '../testing/objects.ts';
import { Scheduler } from './scheduler.ts';

const priorityClasses: ResourceRef = { group: 'scheduling.k8s.io', version: 'v1', kind: 'PriorityClass', plural: 'priorityclasses', namespaced: false };

test('a pod of a high PriorityClass evicts a default-priority pod from a full node and takes its place', async () => {
  const srv = await startTestServer();
  const client = new HttpKubeClient({ server: srv.url, token: testToken });
  const ac = new AbortController();
  const s = new Scheduler({ client, logger: silentLogger(), initialBackoffMs: 50, maxBackoffMs: 200 });
  const running = s.run(ac.signal);
  const get = (name: string): Promise<PodObject> => client.get<PodObject>(Resources.pods, name, { namespace: 'default' });
  try {
    await client.create(priorityClasses, { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'high' }, value: 1000 });
    const node = makeNode('edge-1', { cpu: '1' });
    await client.create(Resources.nodes, node);
    await client.patch(Resources.nodes, 'edge-1', 'merge', { status: node.status }, { subresource: 'status' });
    await client.create(Resources.pods, makePod('low', { cpu: '1' }));
    await until(async () => (await get('low')).spec?.nodeName === 'edge-1', 'low bound', 20_000);
    assert.equal((await get('low')).spec?.priority, 0);

    const high = makePod('high', { cpu: '1' });
    await client.create(Resources.pods, { ...high, spec: { ...high.spec, containers: high.spec?.containers ?? [], priorityClassName: 'high' } });
    assert.equal((await get('high')).spec?.priority, 1000);
    await until(async () => (await get('low')).metadata.deletionTimestamp !== undefined, 'low preempted', 20_000);
    assert.equal((await get('high')).status?.nominatedNodeName, 'edge-1');
    assert.equal((await get('low')).status?.conditions?.find((c) => c.type === 'DisruptionTarget')?.reason, 'PreemptionByScheduler');
    // the node's agent would finish the graceful delete
    await client.delete(Resources.pods, 'low', { namespace: 'default', gracePeriodSeconds: 0 });
    await until(async () => (await get('high')).spec?.nodeName === 'edge-1', 'high bound', 20_000);
  } finally {
    ac.abort();
    await running;
    await client.close();
    await srv.close();
  }
});
