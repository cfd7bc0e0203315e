import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../lib/log.ts';
import { FakeClock } from '../client/clock.ts';
import { FakeKubeClient } from '../client/fake-client.ts';
import { Resources } from '../client/resources.ts';
import type { PodObject } from './common/types.ts';
import { startControllers } from './start.ts';
import { makeNode, makePod, until } from './testing/objects.ts';

/** the controllers under leader election on a fake API with one Node, once they bound a pod to it */
async function startedAndBound(): Promise<{ client: FakeKubeClient; ac: AbortController; running: ReturnType<typeof startControllers> }> {
  const client = new FakeKubeClient();
  const clock = new FakeClock();
  await client.create(Resources.nodes, makeNode('n1'));
  const ac = new AbortController();
  const running = startControllers({ client, clock, logger: silentLogger(), signal: ac.signal, leaderElection: { identity: 'me' } });
  await client.create(Resources.pods, makePod('p'));
  await until(async () => (await client.get<PodObject>(Resources.pods, 'p', { namespace: 'default' })).spec?.nodeName === 'n1', 'bound');
  return { client, ac, running };
}

test('startControllers runs the controllers under leader election and stops on abort', async () => {
  const { client, ac, running } = await startedAndBound();
  const leases = await client.list(Resources.leases, { namespace: 'kube-system' });
  // kube-scheduler's and kube-controller-manager's two Leases, not one per controller
  assert.deepEqual(leases.items.map((l) => l.metadata.name).sort(), ['hedge-controller-manager', 'hedge-scheduler']);
  assert.ok(running.nodeLifecycle);
  ac.abort();
  await running.done;
  const released = await client.get<{ metadata: object; spec: { holderIdentity?: string } }>(Resources.leases, 'hedge-scheduler', { namespace: 'kube-system' });
  assert.equal(released.spec.holderIdentity, '');
});

test('the controllers share one watch per resource, and hold none once stopped', async () => {
  const { client, ac, running } = await startedAndBound();
  // every controller has synced: the scheduler, node lifecycle, resource quota, workload, HPA,
  // disruption, EndpointSlice and volume controllers all read pods, all but a few nodes
  await until(async () => running.workloads !== undefined && running.hpa !== undefined && running.disruption !== undefined && running.volumes !== undefined, 'all leading');
  const watches = (plural: string): number => client.calls.filter((c) => c.verb === 'watch' && c.plural === plural).length;
  assert.equal(watches('pods'), 1);
  assert.equal(watches('nodes'), 1);
  assert.equal(watches('persistentvolumeclaims'), 1);
  ac.abort();
  await running.done;
  assert.equal(client.openWatches, 0);
});

test("one controller's failed term leaves the others of its Lease leading", async () => {
  const client = new FakeKubeClient();
  const clock = new FakeClock();
  await client.create(Resources.nodes, makeNode('n1'));
  const ac = new AbortController();
  // the IPAM controller refuses its cluster CIDR when its term starts; node lifecycle shares its Lease
  const running = startControllers({ client, clock, logger: silentLogger(), signal: ac.signal, leaderElection: { identity: 'me' }, nodeIpam: { clusterCidr: 'not-a-cidr', nodeCidrMaskSize: 24 } });
  await until(async () => running.nodeLifecycle !== undefined && running.workloads !== undefined, 'the rest of the controller manager leading');
  assert.equal(running.nodeIpam, undefined, 'the IPAM term failed');
  const lease = await client.get<{ metadata: object; spec: { holderIdentity?: string } }>(Resources.leases, 'hedge-controller-manager', { namespace: 'kube-system' });
  assert.equal(lease.spec.holderIdentity, 'me');
  ac.abort();
  await running.done;
});
