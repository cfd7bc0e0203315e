import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Event } from 'kubernetes-types/core/v1.js';
import { silentLogger } from '../../lib/log.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import type { NodeObject } from '../common/types.ts';
import { makeNode, until } from '../testing/objects.ts';
import { NodeIpamController } from './controller.ts';

async function start(client: FakeKubeClient, clusterCidr = '10.244.0.0/16', nodeCidrMaskSize = 24, nodeCidrMaskSizeIpv6?: number) {
  const ctl = new NodeIpamController({ client, logger: silentLogger(), clusterCidr, nodeCidrMaskSize, nodeCidrMaskSizeIpv6 });
  const ac = new AbortController();
  const done = ctl.run(ac.signal);
  await ctl.nodes.waitForSync();
  return { ctl, stop: async () => { ac.abort(); await done; } };
}

async function podCidrs(client: FakeKubeClient): Promise<Map<string, string | undefined>> {
  const nodes = await client.list<NodeObject>(Resources.nodes);
  return new Map(nodes.items.map((n) => [n.metadata.name!, n.spec?.podCIDR]));
}

const withCidr = (name: string, cidr: string): NodeObject => {
  const n = makeNode(name);
  return { ...n, spec: { ...n.spec, podCIDR: cidr, podCIDRs: [cidr] } };
};

test('each node without a podCIDR gets a distinct range, podCIDR and podCIDRs both set', async () => {
  const client = new FakeKubeClient();
  await client.create(Resources.nodes, makeNode('a'));
  await client.create(Resources.nodes, makeNode('b'));
  const { stop } = await start(client);
  await client.create(Resources.nodes, makeNode('c'));
  await until(async () => [...(await podCidrs(client)).values()].every((c) => c !== undefined), 'all nodes assigned');
  const got = await podCidrs(client);
  assert.equal(new Set(got.values()).size, 3);
  for (const c of got.values()) assert.match(c!, /^10\.244\.[0-2]\.0\/24$/);
  const c = await client.get<NodeObject>(Resources.nodes, 'c');
  assert.deepEqual(c.spec?.podCIDRs, [c.spec?.podCIDR]);
  await stop();
});

test('a restart rebuilds from existing nodes and never reassigns a held range', async () => {
  const client = new FakeKubeClient();
  await client.create(Resources.nodes, withCidr('old-a', '10.244.0.0/24'));
  await client.create(Resources.nodes, withCidr('old-b', '10.244.2.0/24'));
  // a hand-set range that overlaps the pool's first two /24s
  await client.create(Resources.nodes, withCidr('wide', '10.244.4.0/23'));
  await client.create(Resources.nodes, makeNode('new-1'));
  await client.create(Resources.nodes, makeNode('new-2'));
  await client.create(Resources.nodes, makeNode('new-3'));
  const { ctl, stop } = await start(client);
  await until(async () => [...(await podCidrs(client)).values()].every((c) => c !== undefined), 'all nodes assigned');
  const got = await podCidrs(client);
  assert.deepEqual([got.get('new-1'), got.get('new-2'), got.get('new-3')].sort(), ['10.244.1.0/24', '10.244.3.0/24', '10.244.6.0/24']);
  assert.equal(ctl.allocators[0]!.used, 7);
  await stop();
});

test('a deleted node frees its range; an exhausted pool emits CIDRNotAvailable until then', async () => {
  const client = new FakeKubeClient();
  const { stop } = await start(client, '10.244.0.0/23', 24);
  await client.create(Resources.nodes, makeNode('a'));
  await client.create(Resources.nodes, makeNode('b'));
  await until(async () => [...(await podCidrs(client)).values()].filter((c) => c !== undefined).length === 2, 'a and b assigned');
  await client.create(Resources.nodes, makeNode('late'));
  await until(async () => (await client.list<Event & NodeObject>(Resources.events, { namespace: 'default' })).items.some((e) => e.reason === 'CIDRNotAvailable' && e.involvedObject.name === 'late'), 'CIDRNotAvailable event');
  const ev = (await client.list<Event & NodeObject>(Resources.events, { namespace: 'default' })).items.find((e) => e.reason === 'CIDRNotAvailable')!;
  assert.equal(ev.type, 'Warning');
  assert.equal((await podCidrs(client)).get('late'), undefined);
  const freed = (await podCidrs(client)).get('a');
  await client.delete(Resources.nodes, 'a');
  await until(async () => (await podCidrs(client)).get('late') !== undefined, 'late assigned after a is deleted');
  assert.equal((await podCidrs(client)).get('late'), freed);
  await stop();
});

test('an exhausted pool: one Event per waiting node, none for its later updates; a freed range goes to one of them', async () => {
  const client = new FakeKubeClient();
  const { stop } = await start(client, '10.244.0.0/23', 24);
  for (const n of ['a', 'b']) await client.create(Resources.nodes, makeNode(n));
  await until(async () => [...(await podCidrs(client)).values()].every((c) => c !== undefined), 'a and b assigned');
  for (const n of ['w1', 'w2', 'w3']) await client.create(Resources.nodes, makeNode(n));
  const events = async () => (await client.list<Event & NodeObject>(Resources.events, { namespace: 'default' })).items.filter((e) => e.reason === 'CIDRNotAvailable');
  await until(async () => (await events()).length === 3, 'one CIDRNotAvailable per waiting node');
  // status updates of waiting nodes (every few seconds in a real cluster) are not news for the pool
  for (let i = 0; i < 10; i++) {
    for (const n of ['w1', 'w2', 'w3']) {
      await client.patch(Resources.nodes, n, 'merge', { metadata: { labels: { beat: String(i) } } });
    }
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual((await events()).map((e) => [e.involvedObject.name, e.count ?? 1]).sort(), [['w1', 1], ['w2', 1], ['w3', 1]]);
  await client.delete(Resources.nodes, 'a');
  await until(async () => [...(await podCidrs(client)).entries()].filter(([n, c]) => n.startsWith('w') && c !== undefined).length === 1, 'one waiting node takes the freed range');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await events()).length, 3, 'the nodes still waiting are not told again');
  assert.ok((await events()).every((e) => (e.count ?? 1) === 1));
  await stop();
});

test('a failover: a second controller over the same nodes assigns without collisions', async () => {
  const client = new FakeKubeClient();
  const first = await start(client);
  for (const n of ['x', 'y']) await client.create(Resources.nodes, makeNode(n));
  await until(async () => [...(await podCidrs(client)).values()].every((c) => c !== undefined), 'x, y assigned');
  await first.stop();
  const second = await start(client);
  await client.create(Resources.nodes, makeNode('z'));
  await until(async () => (await podCidrs(client)).get('z') !== undefined, 'z assigned');
  assert.equal(new Set((await podCidrs(client)).values()).size, 3);
  await second.stop();
});

test('dual-stack: each node gets [IPv4, IPv6] podCIDRs, podCIDR the IPv4 one; held pairs survive a restart', async () => {
  const client = new FakeKubeClient();
  const old = withCidr('old', '10.244.0.0/24');
  await client.create(Resources.nodes, { ...old, spec: { ...old.spec, podCIDRs: ['10.244.0.0/24', 'fd00:10:244::/64'] } });
  await client.create(Resources.nodes, makeNode('a'));
  const { ctl, stop } = await start(client, '10.244.0.0/16,fd00:10:244::/56', 24);
  await client.create(Resources.nodes, makeNode('b'));
  const spec = async (n: string) => (await client.get<NodeObject>(Resources.nodes, n)).spec;
  await until(async () => (await spec('a'))?.podCIDRs !== undefined && (await spec('b'))?.podCIDRs !== undefined, 'a and b assigned');
  const got = [await spec('a'), await spec('b')].map((s) => [s?.podCIDR, ...(s?.podCIDRs ?? [])]);
  assert.deepEqual(got.sort(), [
    ['10.244.1.0/24', '10.244.1.0/24', 'fd00:10:244:1::/64'],
    ['10.244.2.0/24', '10.244.2.0/24', 'fd00:10:244:2::/64'],
  ]);
  assert.deepEqual(ctl.allocators.map((a) => [a.toString(), a.nodeMaskSize, a.used]), [['10.244.0.0/16', 24, 3], ['fd00:10:244::/56', 64, 3]]);
  await client.delete(Resources.nodes, 'a');
  await until(async () => ctl.allocators.every((a) => a.used === 2), 'both of a\'s ranges freed');
  await stop();
});

test('dual-stack: one family exhausted assigns neither and emits CIDRNotAvailable naming that pool', async () => {
  const client = new FakeKubeClient();
  const { ctl, stop } = await start(client, '10.244.0.0/16,fd00:10:244::/63', 24, 64);
  for (const n of ['a', 'b']) await client.create(Resources.nodes, makeNode(n));
  await until(async () => [...(await podCidrs(client)).values()].every((c) => c !== undefined), 'a, b assigned');
  await client.create(Resources.nodes, makeNode('c'));
  await until(async () => (await client.list<Event & NodeObject>(Resources.events, { namespace: 'default' })).items.some((e) => e.reason === 'CIDRNotAvailable' && e.involvedObject.name === 'c'), 'CIDRNotAvailable event');
  const ev = (await client.list<Event & NodeObject>(Resources.events, { namespace: 'default' })).items.find((e) => e.reason === 'CIDRNotAvailable')!;
  assert.match(ev.message ?? '', /no \/64 left in fd00:10:244::\/63/);
  assert.equal((await podCidrs(client)).get('c'), undefined);
  assert.equal(ctl.allocators[0]!.used, 2, 'the IPv4 range taken for c was given back');
  await stop();
});

test('a bad cluster CIDR list is refused when the controller is built', () => {
  for (const bad of ['fd00::/56', '10.1.0.0/16,10.2.0.0/16', '10.1.0.0/16,nonsense']) {
    assert.throws(() => new NodeIpamController({ client: new FakeKubeClient(), logger: silentLogger(), clusterCidr: bad, nodeCidrMaskSize: 24 }), /Invalid|IPv4|CIDR/);
  }
});
