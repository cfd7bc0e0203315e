import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeCondition } from 'kubernetes-types/core/v1.js';
import { silentLogger } from '../../lib/log.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { FakeClock } from '../../client/clock.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { formatMicroTime } from '../../client/micro-time.ts';
import { Resources } from '../../client/resources.ts';
import type { NodeObject, PodObject } from '../common/types.ts';
import { makeNode, makePod, until } from '../testing/objects.ts';
import { NodeLifecycleController } from './controller.ts';

const GRACE = 40_000;
const PERIOD = 5_000;

async function setup() {
  const client = new FakeKubeClient();
  const clock = new FakeClock();
  await client.create(Resources.nodes, makeNode('edge-a'));
  await client.create(Resources.nodes, makeNode('edge-b', { annotations: { 'hedge.io/autonomy': 'true' } }));
  for (const n of ['edge-a', 'edge-b']) {
    await client.create(Resources.leases, {
      metadata: { name: n, namespace: 'kube-node-lease' },
      spec: { holderIdentity: n, leaseDurationSeconds: 40, renewTime: formatMicroTime(clock.now()) },
    });
  }
  const tolerateForever = [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists' as const, effect: 'NoExecute' as const }];
  const created: Record<string, PodObject> = {};
  for (const [name, o] of [
    ['a1', { nodeName: 'edge-a' }],
    ['a2', { nodeName: 'edge-a', tolerations: tolerateForever }],
    ['b1', { nodeName: 'edge-b' }],
    ['b2', { nodeName: 'edge-b' }],
  ] as const) {
    const status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
    const c = await client.create(Resources.pods, makePod(name, o));
    created[name] = await client.updateStatus(Resources.pods, { ...c, status });
  }
  // b2 was being deleted when the link dropped: it must stay terminating, not be force-deleted.
  await client.delete(Resources.pods, 'b2', { namespace: 'default' });
  const ctl = new NodeLifecycleController({
    client,
    clock,
    logger: silentLogger(),
    nodeMonitorGracePeriodMs: GRACE,
    nodeMonitorPeriodMs: PERIOD,
    defaultTolerationSeconds: 30,
  });
  const ac = new AbortController();
  const done = ctl.run(ac.signal);
  await Promise.all([ctl.nodes.waitForSync(), ctl.leases.waitForSync(), ctl.pods.waitForSync()]);

  /** the controller loop is parked on the clock and stays parked: everything triggered so far is done */
  const settle = async (): Promise<void> => {
    let stable = 0;
    await until(() => {
      stable = clock.pending === 1 ? stable + 1 : 0;
      return stable > 30;
    }, 'controller idle');
  };
  const renew = async (name: string): Promise<void> => {
    const l = await client.get(Resources.leases, name, { namespace: 'kube-node-lease' });
    await client.update(Resources.leases, { ...l, spec: { ...(l.spec as object), renewTime: formatMicroTime(clock.now()) } });
  };
  const advance = async (ms: number, renewing: string[] = []): Promise<void> => {
    for (let left = ms; left > 0; left -= PERIOD) {
      clock.advance(Math.min(PERIOD, left));
      for (const n of renewing) await renew(n);
      await settle();
    }
  };
  const node = (name: string) => client.get<NodeObject>(Resources.nodes, name);
  const pod = async (name: string) => {
    try {
      return await client.get<PodObject>(Resources.pods, name, { namespace: 'default' });
    } catch (err) {
      if (isHedgeError(err, 'NotFound')) return undefined;
      throw err;
    }
  };
  const cond = (n: NodeObject, type: string): NodeCondition | undefined => n.status?.conditions?.find((c) => c.type === type);
  return {
    client, clock, ctl, created, settle, renew, advance, node, pod, cond,
    stop: async () => {
      ac.abort();
      await done;
    },
  };
}

test('partition: ordinary node tainted and its pods evicted; autonomous node keeps its pods; reconnect changes nothing', async () => {
  const h = await setup();
  try {
    await h.settle();
    await h.advance(20_000, ['edge-a', 'edge-b']);
    assert.equal(h.ctl.tracker('edge-a')?.health.kind, 'Healthy');
    assert.equal((await h.node('edge-a')).spec?.taints, undefined);

    // the link drops: no more renewals
    await h.advance(GRACE + PERIOD);
    for (const n of ['edge-a', 'edge-b']) {
      const node = await h.node(n);
      assert.deepEqual(node.spec?.taints?.map((t) => `${t.key}:${t.effect}`), ['node.kubernetes.io/unreachable:NoExecute'], n);
      const ready = h.cond(node, 'Ready');
      assert.equal(ready?.status, 'Unknown');
      assert.equal(ready?.reason, 'NodeStatusUnknown');
      assert.equal(ready?.message, 'Kubelet stopped posting node status.');
    }
    const edge = h.cond(await h.node('edge-b'), 'EdgeAutonomy');
    assert.equal(edge?.status, 'True');
    assert.equal(edge?.reason, 'EdgeUnreachable');
    assert.equal(h.cond(await h.node('edge-a'), 'EdgeAutonomy'), undefined);
    // ordinary node's pods stop being Ready (endpoints drop them); the autonomous node's do not
    assert.equal((await h.pod('a1'))?.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
    assert.equal((await h.pod('b1'))?.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    assert.equal((await h.pod('a1'))?.metadata.deletionTimestamp, undefined, 'not before tolerationSeconds');

    await h.advance(30_000);
    assert.ok((await h.pod('a1'))?.metadata.deletionTimestamp, 'a1 evicted after the default toleration');
    assert.equal((await h.pod('a2'))?.metadata.deletionTimestamp, undefined, 'a2 tolerates unreachable forever');
    assert.equal(h.ctl.stats.evicted, 1);

    // hours later: the autonomous node's pods are untouched, the terminating one still waits for its node
    await h.advance(3_600_000 - (3_600_000 % PERIOD));
    const b1 = await h.pod('b1');
    assert.equal(b1?.metadata.deletionTimestamp, undefined);
    assert.equal(b1?.metadata.uid, h.created.b1.metadata.uid);
    assert.ok((await h.pod('b2'))?.metadata.deletionTimestamp);
    assert.equal(h.ctl.stats.evicted, 1);

    // reconnect: leases resume, the edge agent posts status with its journaled heartbeats
    await h.renew('edge-b');
    const nb = await h.node('edge-b');
    await h.client.patch(Resources.nodes, 'edge-b', 'merge', { metadata: { annotations: { 'hedge.io/offline-heartbeats': JSON.stringify({ count: 360 }) } } });
    await h.client.patch(Resources.nodes, 'edge-b', 'strategic', {
      status: { conditions: [{ ...h.cond(nb, 'Ready'), status: 'True', reason: 'KubeletReady', message: '', lastHeartbeatTime: '2026-01-01T01:01:00Z' }] },
    }, { subresource: 'status' });
    await h.settle();
    const back = await h.node('edge-b');
    assert.equal(back.spec?.taints, undefined, 'taints removed');
    const verdict = h.cond(back, 'EdgeAutonomy');
    assert.equal(verdict?.status, 'False');
    assert.equal(verdict?.reason, 'EdgeWasPartitioned');
    assert.match(verdict?.message ?? '', /360 heartbeats/);
    const b1After = await h.pod('b1');
    assert.equal(b1After?.metadata.uid, h.created.b1.metadata.uid);
    assert.equal(b1After?.metadata.deletionTimestamp, undefined);
    assert.equal(h.ctl.tracker('edge-a')?.health.kind, 'Unreachable');
  } finally {
    await h.stop();
  }
});

test('an autonomous node that comes back without journaled heartbeats is recorded as NodeWasDown', async () => {
  const h = await setup();
  try {
    await h.settle();
    await h.advance(GRACE + PERIOD);
    assert.equal(h.cond(await h.node('edge-b'), 'EdgeAutonomy')?.status, 'True');
    await h.renew('edge-b');
    await h.settle();
    const n = await h.node('edge-b');
    assert.equal(h.cond(n, 'EdgeAutonomy')?.reason, 'NodeWasDown');
    assert.equal(n.spec?.taints, undefined);
  } finally {
    await h.stop();
  }
});

test('removing the autonomy annotation while unreachable starts ordinary eviction from then', async () => {
  const h = await setup();
  try {
    await h.settle();
    await h.advance(GRACE + PERIOD, ['edge-a']);
    await h.advance(60_000, ['edge-a']);
    assert.equal((await h.pod('b1'))?.metadata.deletionTimestamp, undefined);
    await h.client.patch(Resources.nodes, 'edge-b', 'merge', { metadata: { annotations: { 'hedge.io/autonomy': null } } });
    await h.settle();
    assert.equal(h.cond(await h.node('edge-b'), 'EdgeAutonomy')?.reason, 'AutonomyEnded');
    await h.advance(25_000, ['edge-a']);
    assert.equal((await h.pod('b1'))?.metadata.deletionTimestamp, undefined, 'the 30 s count starts at removal');
    await h.advance(10_000, ['edge-a']);
    assert.ok((await h.pod('b1'))?.metadata.deletionTimestamp);
    assert.equal((await h.pod('a1'))?.metadata.deletionTimestamp, undefined, 'edge-a kept renewing');
  } finally {
    await h.stop();
  }
});

test('pods on a deleted Node are garbage-collected', async () => {
  const h = await setup();
  try {
    await h.settle();
    await h.client.delete(Resources.nodes, 'edge-a');
    await h.settle();
    await until(async () => (await h.pod('a1')) === undefined && (await h.pod('a2')) === undefined, 'orphans deleted');
    assert.equal(h.ctl.stats.orphansDeleted, 2);
    assert.ok(await h.pod('b1'));
  } finally {
    await h.stop();
  }
});

test('a renewal arriving late (after Unreachable, before tolerationSeconds) untaints the node and cancels the eviction', async () => {
  const h = await setup();
  try {
    await h.settle();
    await h.advance(GRACE + PERIOD, ['edge-b']);
    assert.equal(h.ctl.tracker('edge-a')?.health.kind, 'Unreachable');
    assert.deepEqual((await h.node('edge-a')).spec?.taints?.map((t) => t.key), ['node.kubernetes.io/unreachable']);
    await h.advance(20_000, ['edge-b']);
    // the node's clock is an hour behind ours, and the renewal is late: it still counts
    const l = await h.client.get(Resources.leases, 'edge-a', { namespace: 'kube-node-lease' });
    await h.client.update(Resources.leases, { ...l, spec: { ...(l.spec as object), renewTime: formatMicroTime(h.clock.now() - 3_600_000) } });
    await h.settle();
    assert.equal(h.ctl.tracker('edge-a')?.health.kind, 'Healthy');
    assert.equal((await h.node('edge-a')).spec?.taints, undefined, 'taint removed at once');
    // past the point where a1 would have been evicted: nothing happens while renewals continue
    await h.advance(60_000, ['edge-a', 'edge-b']);
    assert.equal((await h.pod('a1'))?.metadata.deletionTimestamp, undefined);
    assert.equal(h.ctl.stats.evicted, 0);
    // Ready stays Unknown until the node itself posts status: we never claim Ready for it
    assert.equal(h.cond(await h.node('edge-a'), 'Ready')?.status, 'Unknown');
  } finally {
    await h.stop();
  }
});

test('a node clock far ahead cannot stretch its grace period: renewals stamped in the future still expire on our clock', async () => {
  const h = await setup();
  try {
    await h.settle();
    const l = await h.client.get(Resources.leases, 'edge-a', { namespace: 'kube-node-lease' });
    await h.client.update(Resources.leases, { ...l, spec: { ...(l.spec as object), renewTime: formatMicroTime(h.clock.now() + 86_400_000) } });
    await h.settle();
    await h.advance(GRACE + PERIOD, ['edge-b']);
    assert.equal(h.ctl.tracker('edge-a')?.health.kind, 'Unreachable');
    assert.equal(h.ctl.tracker('edge-b')?.health.kind, 'Healthy');
  } finally {
    await h.stop();
  }
});

test('a reachable node reporting Ready=False gets the not-ready taint; autonomy does not protect against that', async () => {
  const h = await setup();
  try {
    await h.settle();
    const nb = await h.node('edge-b');
    await h.client.patch(Resources.nodes, 'edge-b', 'strategic', {
      status: { conditions: [{ ...h.cond(nb, 'Ready'), status: 'False', reason: 'KubeletNotReady', lastHeartbeatTime: '2026-01-01T00:00:05Z' }] },
    }, { subresource: 'status' });
    await h.settle();
    assert.equal(h.ctl.tracker('edge-b')?.health.kind, 'NotReady');
    assert.deepEqual((await h.node('edge-b')).spec?.taints?.map((t) => `${t.key}:${t.effect}`), ['node.kubernetes.io/not-ready:NoExecute']);
    await h.advance(25_000, ['edge-a', 'edge-b']);
    assert.equal((await h.pod('b1'))?.metadata.deletionTimestamp, undefined);
    await h.advance(10_000, ['edge-a', 'edge-b']);
    assert.ok((await h.pod('b1'))?.metadata.deletionTimestamp, 'evicted by the default toleration of the not-ready taint');
    assert.equal(h.cond(await h.node('edge-b'), 'EdgeAutonomy'), undefined, 'no partition, no verdict');
  } finally {
    await h.stop();
  }
});

test('terminating pods on an unreachable node are never force-deleted; they wait for the node', async () => {
  const h = await setup();
  try {
    await h.settle();
    await h.advance(GRACE + PERIOD + 40_000);
    const a1 = await h.pod('a1');
    assert.ok(a1?.metadata.deletionTimestamp, 'a1 evicted (graceful)');
    await h.advance(3_600_000 - (3_600_000 % PERIOD));
    assert.ok(await h.pod('a1'), 'still terminating an hour later on the ordinary node');
    assert.ok(await h.pod('b2'), 'and on the autonomous node');
    assert.equal(h.ctl.stats.orphansDeleted, 0);
    assert.equal(h.ctl.stats.evicted, 1, 'one eviction, not one per pass');
  } finally {
    await h.stop();
  }
});

test('pods bound to a node never seen are deleted after the orphan grace period, not before', async () => {
  const h = await setup();
  try {
    await h.settle();
    await h.client.create(Resources.pods, makePod('ghost', { nodeName: 'no-such-node' }));
    await h.settle();
    await h.advance(35_000, ['edge-a', 'edge-b']);
    assert.ok(await h.pod('ghost'), 'quarantine: the Node may still be registering');
    await h.advance(10_000, ['edge-a', 'edge-b']);
    await until(async () => (await h.pod('ghost')) === undefined, 'ghost deleted');
    assert.equal(h.ctl.stats.orphansDeleted, 1);
    // a Node registering late saves its pods
    await h.client.create(Resources.pods, makePod('early', { nodeName: 'edge-late' }));
    await h.settle();
    await h.advance(10_000, ['edge-a', 'edge-b']);
    await h.client.create(Resources.nodes, makeNode('edge-late'));
    await h.advance(30_000, ['edge-a', 'edge-b']);
    const early = await h.pod('early');
    assert.ok(early);
    assert.equal(early.metadata.deletionTimestamp, undefined);
  } finally {
    await h.stop();
  }
});

test('deleting an autonomous Node garbage-collects its pods too, terminating ones included', async () => {
  const h = await setup();
  try {
    await h.settle();
    await h.advance(GRACE + PERIOD, ['edge-a']);
    assert.equal(h.ctl.tracker('edge-b')?.health.kind, 'Unreachable');
    await h.client.delete(Resources.nodes, 'edge-b');
    await h.settle();
    await until(async () => (await h.pod('b1')) === undefined && (await h.pod('b2')) === undefined, 'edge-b pods deleted');
    assert.ok(await h.pod('a1'));
  } finally {
    await h.stop();
  }
});

test('pressure conditions taint the node NoSchedule while True (TaintNodesByCondition); the taint goes with the pressure, others stay', async () => {
  const h = await setup();
  try {
    await h.settle();
    const setCond = async (type: string, status: string): Promise<void> => {
      await h.client.patch(Resources.nodes, 'edge-a', 'strategic', {
        status: { conditions: [{ type, status, reason: status === 'True' ? 'KubeletHasDiskPressure' : 'KubeletHasNoDiskPressure', lastHeartbeatTime: '2026-01-01T00:00:05Z' }] },
      }, { subresource: 'status' });
      await h.settle();
    };
    const na = await h.node('edge-a');
    await h.client.patch(Resources.nodes, 'edge-a', 'merge', { metadata: { resourceVersion: na.metadata.resourceVersion }, spec: { taints: [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }] } });
    await setCond('DiskPressure', 'True');
    await setCond('MemoryPressure', 'True');
    const keys = async (): Promise<string[]> => ((await h.node('edge-a')).spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).sort();
    assert.deepEqual(await keys(), ['dedicated:NoSchedule', 'node.kubernetes.io/disk-pressure:NoSchedule', 'node.kubernetes.io/memory-pressure:NoSchedule']);
    await setCond('DiskPressure', 'False');
    assert.deepEqual(await keys(), ['dedicated:NoSchedule', 'node.kubernetes.io/memory-pressure:NoSchedule']);
    await setCond('PIDPressure', 'True');
    assert.deepEqual(await keys(), ['dedicated:NoSchedule', 'node.kubernetes.io/memory-pressure:NoSchedule', 'node.kubernetes.io/pid-pressure:NoSchedule']);
  } finally {
    await h.stop();
  }
});
