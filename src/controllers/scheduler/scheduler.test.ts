import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HedgeError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { FakeClock } from '../../client/clock.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import type { ResourceTarget, WriteOptions } from '../../client/types.ts';
import type { KubeObject } from '../../api/object.ts';
import type { NodeObject, PodObject } from '../common/types.ts';
import { makeNode, makePod, until, type NodeSpecInput, type PodSpecInput } from '../testing/objects.ts';
import { Scheduler } from './scheduler.ts';

async function start(nodes: [string, NodeSpecInput][], opts: { clock?: FakeClock } = {}) {
  const client = new FakeKubeClient();
  const clock = opts.clock ?? new FakeClock();
  for (const [name, o] of nodes) await client.create(Resources.nodes, makeNode(name, o));
  await client.create(Resources.runtimeclasses, { metadata: { name: 'gvisor' }, handler: 'gvisor' });
  const s = new Scheduler({ client, clock, logger: silentLogger() });
  const ac = new AbortController();
  const done = s.run(ac.signal);
  await Promise.all([s.pods.waitForSync(), s.nodeInformer.waitForSync(), s.runtimeClasses.waitForSync()]);
  return {
    client,
    clock,
    s,
    stop: async () => {
      ac.abort();
      await done;
    },
  };
}

/** let informer events and the scheduling loop run (for asserting that something did not happen) */
async function settle(): Promise<void> {
  for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
}

const nodeOf = async (c: FakeKubeClient, name: string): Promise<string | undefined> =>
  (await c.get<PodObject>(Resources.pods, name, { namespace: 'default' })).spec?.nodeName;

async function boundTo(c: FakeKubeClient, name: string): Promise<string> {
  let n: string | undefined;
  await until(async () => (n = await nodeOf(c, name)) !== undefined, `${name} bound`);
  return n as string;
}

const cases: { filter: string; nodes: [string, NodeSpecInput][]; pod: PodSpecInput; want: string }[] = [
  { filter: 'NodeReady', nodes: [['a', { ready: 'Unknown' }], ['b', {}]], pod: {}, want: 'b' },
  { filter: 'NodeUnschedulable', nodes: [['a', { unschedulable: true }], ['b', {}]], pod: {}, want: 'b' },
  { filter: 'NodeAffinity (nodeSelector)', nodes: [['a', {}], ['b', { labels: { zone: 'edge' } }]], pod: { nodeSelector: { zone: 'edge' } }, want: 'b' },
  {
    filter: 'NodeAffinity (required terms)',
    nodes: [['a', { labels: { gpu: '1' } }], ['b', {}]],
    pod: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }] } } } },
    want: 'b',
  },
  { filter: 'TaintToleration', nodes: [['a', { taints: [{ key: 'k', effect: 'NoSchedule' }] }], ['b', { cpu: '1' }]], pod: {}, want: 'b' },
  { filter: 'NodeResourcesFit', nodes: [['a', { cpu: '1' }], ['b', { cpu: '500m' }]], pod: { cpu: '600m' }, want: 'a' },
  { filter: 'NodeResourcesFit (overhead)', nodes: [['a', { cpu: '1' }], ['b', { cpu: '2' }]], pod: { cpu: '600m', overhead: { cpu: '500m' } }, want: 'b' },
  { filter: 'RuntimeHandler', nodes: [['a', {}], ['b', { cpu: '1', handlers: ['runc', 'gvisor'] }]], pod: { runtimeClassName: 'gvisor' }, want: 'b' },
];

for (const c of cases) {
  test(`filter ${c.filter}: the pod lands on the only fitting node`, async () => {
    const { client, stop } = await start(c.nodes);
    try {
      await client.create(Resources.pods, makePod('p', c.pod));
      assert.equal(await boundTo(client, 'p'), c.want);
    } finally {
      await stop();
    }
  });
}

test('filter NodePorts: a second pod with the same host port goes elsewhere', async () => {
  const { client, stop } = await start([['a', { cpu: '8' }], ['b', { cpu: '1' }]]);
  try {
    await client.create(Resources.pods, makePod('p1', { hostPort: 80 }));
    assert.equal(await boundTo(client, 'p1'), 'a');
    await client.create(Resources.pods, makePod('p2', { hostPort: 80 }));
    assert.equal(await boundTo(client, 'p2'), 'b');
  } finally {
    await stop();
  }
});

test('no fit: FailedScheduling event and PodScheduled=False; a new node makes it schedulable', async () => {
  const { client, clock, s, stop } = await start([
    ['a', { cpu: '1' }],
    ['b', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }],
    ['c', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }],
  ]);
  try {
    await client.create(Resources.pods, makePod('big', { cpu: '2' }));
    // upstream's FitError, with DefaultPreemption's PostFilter message after it
    const want =
      '0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. ' +
      'preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.';
    await until(async () => (await client.list(Resources.events, { namespace: 'default' })).items.length === 1, 'event');
    const [ev] = (await client.list<KubeObject & Record<string, unknown>>(Resources.events, { namespace: 'default' })).items;
    assert.equal(ev.reason, 'FailedScheduling');
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.message, want);
    assert.equal((ev.involvedObject as { name: string }).name, 'big');
    await until(async () => {
      const p = await client.get<PodObject>(Resources.pods, 'big', { namespace: 'default' });
      const cond = p.status?.conditions?.find((x) => x.type === 'PodScheduled');
      return cond?.status === 'False' && cond.reason === 'Unschedulable' && cond.message === want;
    }, 'condition');
    // with no event that may help, back-off expiry alone does not retry it (upstream's unschedulable pods)
    clock.advance(10_000);
    await settle();
    assert.equal(s.stats.failedAttempts, 1);
    assert.equal(s.unschedulablePods, 1);
    // the periodic flush does, after 5 min: same message → the same event's count grows
    clock.advance(5 * 60_000);
    await until(async () => {
      const evs = (await client.list<KubeObject & { count?: number }>(Resources.events, { namespace: 'default' })).items;
      return evs.length === 1 && evs[0].count === 2;
    }, 'aggregated event');
    assert.equal(s.stats.failedAttempts, 2);
    assert.equal(s.queueStats.flushed, 1);
    await client.create(Resources.nodes, makeNode('d', { cpu: '4' }));
    clock.advance(2000);
    assert.equal(await boundTo(client, 'big'), 'd');
  } finally {
    await stop();
  }
});

test('unknown RuntimeClass is reported; pods for other schedulers are ignored', async () => {
  const { client, stop } = await start([['a', {}]]);
  try {
    await client.create(Resources.pods, makePod('other', { schedulerName: 'someone-else' }));
    await client.create(Resources.pods, makePod('p', { runtimeClassName: 'nope' }));
    await until(async () => (await client.list(Resources.events, { namespace: 'default' })).items.length === 1, 'event');
    const [ev] = (await client.list<KubeObject & { message?: string }>(Resources.events, { namespace: 'default' })).items;
    assert.equal(ev.message, '0/1 nodes are available: runtimeclass.node.k8s.io "nope" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.');
    assert.equal(await nodeOf(client, 'other'), undefined);
  } finally {
    await stop();
  }
});

test('a failed bind is retried after back-off', async () => {
  const { client, clock, s, stop } = await start([['a', {}]]);
  try {
    client.failNext('bind', new HedgeError('Unavailable', 'apiserver restarting'));
    await client.create(Resources.pods, makePod('p'));
    await until(() => s.stats.bindErrors === 1, 'bind error');
    assert.equal(await nodeOf(client, 'p'), undefined);
    clock.advance(1000);
    assert.equal(await boundTo(client, 'p'), 'a');
  } finally {
    await stop();
  }
});

test('end to end: 10 nodes, 100 pods, all bound within capacity and spread evenly', async () => {
  const nodes: [string, NodeSpecInput][] = Array.from({ length: 10 }, (_, i) => [`n${i}`, { cpu: '4', memory: '8Gi', pods: '20' }]);
  const { client, s, stop } = await start(nodes);
  try {
    for (let i = 0; i < 100; i++) {
      await client.create(Resources.pods, makePod(`p${i}`, { cpu: '200m', memory: '256Mi', ownerUid: 'rs' }));
    }
    await until(async () => (await client.list(Resources.pods, { fieldSelector: 'spec.nodeName=' })).items.length === 0, 'all bound', 20000);
    const pods = (await client.list<PodObject>(Resources.pods)).items;
    const perNode = new Map<string, number>();
    for (const p of pods) perNode.set(p.spec?.nodeName ?? '', (perNode.get(p.spec?.nodeName ?? '') ?? 0) + 1);
    assert.equal(perNode.size, 10);
    for (const [n, count] of perNode) assert.equal(count, 10, `node ${n}`);
    assert.equal(s.stats.bound, 100);
    assert.equal(s.stats.failedAttempts, 0);
    assert.ok(pods.every((p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'True')));
  } finally {
    await stop();
  }
});

test('a failed bind forgets its assumed pod: the node capacity it held is free again for others and for its retry', async () => {
  const { client, clock, s, stop } = await start([['a', { cpu: '1' }]]);
  try {
    client.failNext('bind', new HedgeError('Unavailable', 'apiserver restarting'));
    await client.create(Resources.pods, makePod('p1', { cpu: '500m' }));
    await until(() => s.stats.bindErrors === 1, 'bind error');
    // p1's 500m was assumed on a, then forgotten: p2 fits beside the retry
    await client.create(Resources.pods, makePod('p2', { cpu: '500m' }));
    assert.equal(await boundTo(client, 'p2'), 'a');
    clock.advance(1000);
    assert.equal(await boundTo(client, 'p1'), 'a');
    // both binds confirmed by the informer: a is full, a third pod does not fit
    await client.create(Resources.pods, makePod('p3', { cpu: '500m' }));
    await until(() => s.stats.failedAttempts >= 1, 'p3 unschedulable');
    assert.equal(await nodeOf(client, 'p3'), undefined);
    assert.equal(s.stats.bound, 2);
  } finally {
    await stop();
  }
});

test('a bind refused with Conflict is forgotten and not retried; the informer shows where the pod went', async () => {
  const { client, s, stop } = await start([['a', { cpu: '1' }], ['b', { cpu: '1' }]]);
  try {
    client.failNext('bind', new HedgeError('Conflict', 'pod p1 is already assigned to node "b"'));
    await client.create(Resources.pods, makePod('p1', { cpu: '600m' }));
    await until(() => s.stats.bindErrors === 1, 'bind error');
    // another scheduler bound it meanwhile: the API is the truth, the cache follows it
    await client.bind({ namespace: 'default', name: 'p1', nodeName: 'b' });
    assert.equal(await boundTo(client, 'p1'), 'b');
    // p2 (600m) only fits where p1 is not: a, whichever node p1's assumption had picked
    await client.create(Resources.pods, makePod('p2', { cpu: '600m' }));
    assert.equal(await boundTo(client, 'p2'), 'a');
    assert.equal(s.stats.bound, 1);
    assert.equal(s.stats.failedAttempts, 0);
  } finally {
    await stop();
  }
});

test('1,000 unschedulable pods on a slow apiserver do not hold the loop: their FailedScheduling reports run beside it', async () => {
  // every event write takes 20 ms: awaited in the loop, the schedulable pod behind them waited ~20 s
  class SlowEvents extends FakeKubeClient {
    override async create<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts?: WriteOptions): Promise<T> {
      if (res === Resources.events) await new Promise((r) => setTimeout(r, 20));
      return super.create(res, obj, opts);
    }
  }
  const client = new SlowEvents();
  client.recordCalls = false;
  await client.create(Resources.nodes, makeNode('a', { cpu: '1' }));
  for (let i = 0; i < 1000; i++) await client.create(Resources.pods, makePod(`big-${i}`, { cpu: '2' }));
  await client.create(Resources.pods, makePod('small', { cpu: '100m' }));
  const s = new Scheduler({ client, logger: silentLogger() });
  const ac = new AbortController();
  const done = s.run(ac.signal);
  try {
    const t0 = Date.now();
    while (s.stats.bound === 0 && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 5));
    assert.equal(await nodeOf(client, 'small'), 'a');
    // ≥ 20 s when each report is awaited in turn; ~0.3 s of report time with 64 at once
    assert.ok(Date.now() - t0 < 10_000, `small bound after ${Date.now() - t0} ms`);
    assert.ok(s.stats.failedAttempts >= 1000);
  } finally {
    ac.abort();
    await done;
  }
});

test('pod anti-affinity and topology spread through the scheduler: replicas spread, the one too many waits with upstream\'s reason', async () => {
  const { client, s, stop } = await start([
    ['a', { labels: { zone: 'z1' } }],
    ['b', { labels: { zone: 'z1' } }],
    ['c', { labels: { zone: 'z2' } }],
  ]);
  try {
    const anti = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname' }] } };
    for (const n of ['db-0', 'db-1', 'db-2', 'db-3']) await client.create(Resources.pods, makePod(n, { labels: { app: 'db' }, affinity: anti }));
    await until(() => s.stats.bound === 3 && s.stats.failedAttempts >= 1, 'three bound, one unschedulable');
    const nodes = new Set<string | undefined>();
    for (const n of ['db-0', 'db-1', 'db-2', 'db-3']) nodes.add(await nodeOf(client, n));
    assert.deepEqual([...nodes].sort(), ['a', 'b', 'c', undefined]);
    await until(async () => (await client.list(Resources.events, { namespace: 'default' })).items.length === 1, 'event');
    const [ev] = (await client.list<KubeObject & { message?: string }>(Resources.events, { namespace: 'default' })).items;
    assert.equal(ev.message, "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.");

    // zone spread, maxSkew 1: 4 pods over z1 (2 nodes) and z2 (1 node) end 2/2
    for (const n of ['w-0', 'w-1', 'w-2', 'w-3']) {
      const p = makePod(n, { labels: { app: 'web' } });
      p.spec!.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } }];
      await client.create(Resources.pods, p);
    }
    const zones = { a: 'z1', b: 'z1', c: 'z2' } as Record<string, string>;
    const perZone = new Map<string, number>();
    for (const n of ['w-0', 'w-1', 'w-2', 'w-3']) {
      const z = zones[await boundTo(client, n)];
      perZone.set(z, (perZone.get(z) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(perZone), { z1: 2, z2: 2 });
  } finally {
    await stop();
  }
});

test('a pod with required pod affinity waits for its peer and is placed beside it as soon as the peer is bound', async () => {
  const { client, clock, s, stop } = await start([['a', { labels: { zone: 'z1' } }], ['b', { labels: { zone: 'z2' } }]]);
  try {
    const web = makePod('web', { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'cache' } }, topologyKey: 'zone' }] } } });
    await client.create(Resources.pods, web);
    await until(() => s.stats.failedAttempts === 1, 'first attempt');
    // a placed pod its term does not select is no reason to try it again (InterPodAffinity's hint)
    await client.create(Resources.pods, makePod('db', { labels: { app: 'db' }, nodeSelector: { zone: 'z2' } }));
    assert.equal(await boundTo(client, 'db'), 'b');
    await until(() => s.assumedPods === 0, 'db seen bound');
    clock.advance(10_000);
    await settle();
    assert.equal(s.stats.failedAttempts, 1);
    await client.create(Resources.pods, makePod('cache', { labels: { app: 'cache' }, nodeSelector: { zone: 'z2' } }));
    assert.equal(await boundTo(client, 'cache'), 'b');
    // the placed peer moves it at once (its last attempt was more than the initial back-off ago)
    assert.equal(await boundTo(client, 'web'), 'b');
    assert.equal(s.stats.failedAttempts, 1);
  } finally {
    await stop();
  }
});

const podNamed = (c: FakeKubeClient, name: string): Promise<PodObject> => c.get<PodObject>(Resources.pods, name, { namespace: 'default' });
const eventsFor = async (c: FakeKubeClient, reason: string) =>
  (await c.list<KubeObject & { reason?: string; message?: string; involvedObject?: { name?: string }; related?: { name?: string } }>(Resources.events, { namespace: 'default' })).items.filter(
    (e) => e.reason === reason,
  );

test('preemption: a high-priority pod evicts a lower one on a full node, waits for it, then binds there', async () => {
  const { client, clock, s, stop } = await start([['n', { cpu: '2' }]]);
  try {
    await client.create(Resources.pods, { ...makePod('low', { cpu: '2', priority: 1, nodeName: 'n' }), status: { phase: 'Running' } });
    await client.create(Resources.pods, makePod('same', { cpu: '2', priority: 1 }));
    await until(() => s.stats.failedAttempts >= 1, 'same tried');
    // equal priority never preempts
    assert.equal(s.stats.preemptions, 0);
    await client.create(Resources.pods, makePod('high', { cpu: '1', priority: 100 }));
    await until(async () => (await podNamed(client, 'high')).status?.nominatedNodeName === 'n', 'nominated');
    const low = await podNamed(client, 'low');
    assert.ok(low.metadata.deletionTimestamp, 'the victim is deleted with its grace period');
    const cond = low.status?.conditions?.find((c) => c.type === 'DisruptionTarget');
    assert.equal(cond?.reason, 'PreemptionByScheduler');
    assert.equal(cond?.message, 'default-scheduler: preempting to accommodate a higher priority pod');
    const high = await podNamed(client, 'high');
    await until(async () => (await eventsFor(client, 'Preempted')).length === 1, 'Preempted event');
    const [ev] = await eventsFor(client, 'Preempted');
    assert.equal(ev?.message, `Preempted by pod ${high.metadata.uid} on node n`);
    assert.equal(ev?.involvedObject?.name, 'low');
    assert.equal(ev?.related?.name, 'high');
    assert.equal(s.stats.victims, 1);

    // while the victim terminates the preemptor waits: its termination frees nothing yet, so no
    // event moves it; tried anyway (the periodic flush), it does not preempt a second time
    clock.advance(1000);
    await settle();
    assert.equal(s.stats.failedAttempts, 2);
    clock.advance(5 * 60_000);
    await until(() => s.stats.failedAttempts >= 3, 'high retried');
    assert.equal(s.stats.preemptions, 1);
    const failed = (await eventsFor(client, 'FailedScheduling')).map((e) => e.message);
    assert.ok(failed.some((m) => m?.endsWith('preemption: not eligible due to a terminating pod on the nominated node.')), failed.join('\n'));

    // the kubelet finishes the delete: the room is the nominated pod's, not the lower-priority pod's
    await client.delete(Resources.pods, 'low', { namespace: 'default', gracePeriodSeconds: 0 });
    await client.create(Resources.pods, makePod('mid', { cpu: '1500m', priority: 50 }));
    const before = s.stats.failedAttempts;
    await until(() => s.stats.failedAttempts > before, 'mid tried');
    assert.equal(await nodeOf(client, 'mid'), undefined);
    clock.advance(2000);
    assert.equal(await boundTo(client, 'high'), 'n');
    assert.equal(await nodeOf(client, 'mid'), undefined);
    assert.equal(s.stats.preemptions, 1);
  } finally {
    await stop();
  }
});

test('preemption: preemptionPolicy Never waits; PDB-protected pods are spared where another node has unprotected ones', async () => {
  const { client, s, stop } = await start([
    ['a', { cpu: '1' }],
    ['b', { cpu: '1' }],
  ]);
  try {
    await client.create(Resources.poddisruptionbudgets, {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'db', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'db' } }, minAvailable: 1 },
      status: { disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 1, expectedPods: 1, observedGeneration: 1 },
    });
    await until(() => s.disruptionBudgets.size === 1, 'pdb informer');
    await client.create(Resources.pods, { ...makePod('db', { cpu: '1', priority: 1, nodeName: 'a', labels: { app: 'db' } }), status: { phase: 'Running' } });
    await client.create(Resources.pods, { ...makePod('batch', { cpu: '1', priority: 5, nodeName: 'b' }), status: { phase: 'Running' } });
    await client.create(Resources.pods, makePod('polite', { cpu: '1', priority: 100, preemptionPolicy: 'Never' }));
    await until(async () => (await eventsFor(client, 'FailedScheduling')).some((e) => e.involvedObject?.name === 'polite'), 'polite failed');
    const [ev] = (await eventsFor(client, 'FailedScheduling')).filter((e) => e.involvedObject?.name === 'polite');
    assert.equal(ev?.message, '0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.');
    assert.equal(s.stats.preemptions, 0);

    // db has the lower priority but its budget allows no disruption: batch goes instead
    await client.create(Resources.pods, makePod('urgent', { cpu: '1', priority: 100 }));
    await until(async () => (await podNamed(client, 'urgent')).status?.nominatedNodeName !== undefined, 'nominated');
    assert.equal((await podNamed(client, 'urgent')).status?.nominatedNodeName, 'b');
    assert.ok((await podNamed(client, 'batch')).metadata.deletionTimestamp);
    assert.equal((await podNamed(client, 'db')).metadata.deletionTimestamp, undefined);
  } finally {
    await stop();
  }
});

test('volume binding: a pod waits for its claim; a WaitForFirstConsumer claim gets the chosen node before the pod is bound', async () => {
  const { client, clock, stop } = await start([['a', { labels: { zone: 'z1' } }], ['b', { labels: { zone: 'z2' } }]]);
  try {
    await client.create(Resources.storageclasses, { metadata: { name: 'local-path' }, provisioner: 'hedge.io/local-path', volumeBindingMode: 'WaitForFirstConsumer' });
    const p = makePod('db', { nodeSelector: { zone: 'z2' } });
    p.spec!.volumes = [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }];
    await client.create(Resources.pods, p);
    await until(async () => (await client.list(Resources.events, { namespace: 'default' })).items.length === 1, 'unschedulable without its claim');
    const [ev] = (await client.list<KubeObject & { message?: string }>(Resources.events, { namespace: 'default' })).items;
    assert.match(ev.message ?? '', /^0\/2 nodes are available: persistentvolumeclaim "data" not found\./);
    await client.create(Resources.persistentvolumeclaims, { metadata: { name: 'data', namespace: 'default' }, spec: { storageClassName: 'local-path', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    clock.advance(1000);
    assert.equal(await boundTo(client, 'db'), 'b');
    const claim = await client.get<KubeObject>(Resources.persistentvolumeclaims, 'data', { namespace: 'default' });
    assert.equal(claim.metadata.annotations?.['volume.kubernetes.io/selected-node'], 'b');
  } finally {
    await stop();
  }
});

test('volume binding: a claim of a no-provisioner class is given a matching static PV on the chosen node (its claimRef) before the pod is bound; one PV serves one pod', async () => {
  const { client, clock, stop } = await start([['a', {}], ['b', {}]]);
  try {
    await client.create(Resources.storageclasses, { metadata: { name: 'local-storage' }, provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'WaitForFirstConsumer' });
    const onB = { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['b'] }] }] } };
    await client.create(Resources.persistentvolumes, {
      metadata: { name: 'disk-b' },
      spec: { capacity: { storage: '5Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: 'local-storage', local: { path: '/mnt/disk-b' }, nodeAffinity: onB },
      status: { phase: 'Available' },
    });
    for (const name of ['one', 'two']) {
      await client.create(Resources.persistentvolumeclaims, { metadata: { name, namespace: 'default' }, spec: { storageClassName: 'local-storage', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
      const p = makePod(name);
      p.spec!.volumes = [{ name: 'data', persistentVolumeClaim: { claimName: name } }];
      await client.create(Resources.pods, p);
      clock.advance(1000);
    }
    assert.equal(await boundTo(client, 'one'), 'b');
    const pv = await client.get<KubeObject & { spec?: { claimRef?: { name?: string; namespace?: string; uid?: string } } }>(Resources.persistentvolumes, 'disk-b');
    const claim = await client.get<KubeObject>(Resources.persistentvolumeclaims, 'one', { namespace: 'default' });
    assert.deepEqual([pv.spec?.claimRef?.namespace, pv.spec?.claimRef?.name, pv.spec?.claimRef?.uid], ['default', 'one', claim.metadata.uid]);
    assert.equal(pv.metadata.annotations?.['pv.kubernetes.io/bound-by-controller'], 'yes');
    assert.equal(claim.metadata.annotations?.['volume.kubernetes.io/selected-node'], undefined, 'a static binding selects no node for a provisioner');
    // the only PV is taken: the second pod fits nowhere
    await until(async () => (await eventsFor(client, 'FailedScheduling')).some((e) => e.involvedObject?.name === 'two'), 'two unschedulable');
    const [ev] = (await eventsFor(client, 'FailedScheduling')).filter((e) => e.involvedObject?.name === 'two');
    assert.match(ev?.message ?? '', /^0\/2 nodes are available: 2 node\(s\) didn't find available persistent volumes to bind\./);
    assert.equal((await podNamed(client, 'two')).spec?.nodeName, undefined);
  } finally {
    await stop();
  }
});

test('queueing hints: a node heartbeat does not retry a pod NodeAffinity rejected; a label change that matches places it', async () => {
  const { client, clock, s, stop } = await start([['a', {}], ['b', {}]]);
  try {
    await client.create(Resources.pods, makePod('p', { nodeSelector: { disk: 'ssd' } }));
    await until(() => s.stats.failedAttempts === 1 && s.unschedulablePods === 1, 'p unschedulable');
    const events0 = s.queueStats.events;
    for (let i = 0; i < 5; i++) {
      const node = await client.get<NodeObject>(Resources.nodes, 'a');
      const conditions = node.status?.conditions?.map((c) => ({ ...c, lastHeartbeatTime: `2026-01-01T00:00:0${i}Z` }));
      await client.updateStatus(Resources.nodes, { ...node, status: { ...node.status, conditions } });
    }
    // a label no pod asks for: an event, but NodeAffinity's hint skips it
    const b = await client.get<NodeObject>(Resources.nodes, 'b');
    await client.update(Resources.nodes, { ...b, metadata: { ...b.metadata, labels: { ...b.metadata.labels, rack: 'r1' } } });
    await until(() => s.nodeInformer.get('b')?.metadata.labels?.rack === 'r1', 'label seen');
    clock.advance(10_000);
    await settle();
    assert.equal(s.queueStats.events, events0 + 1, 'heartbeats are no event');
    assert.equal(s.queueStats.movedByEvent, 0);
    assert.equal(s.stats.failedAttempts, 1);
    const a = await client.get<NodeObject>(Resources.nodes, 'a');
    await client.update(Resources.nodes, { ...a, metadata: { ...a.metadata, labels: { ...a.metadata.labels, disk: 'ssd' } } });
    assert.equal(await boundTo(client, 'p'), 'a');
    assert.equal(s.queueStats.movedByEvent, 1);
    assert.equal(s.stats.failedAttempts, 1);
  } finally {
    await stop();
  }
});

test('queueing hints: a PV status update does not retry a pod VolumeBinding rejected; a new PV that fits places it', async () => {
  const { client, clock, s, stop } = await start([['a', {}]]);
  try {
    await client.create(Resources.storageclasses, { metadata: { name: 'local-storage' }, provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'WaitForFirstConsumer' });
    const pv = (name: string, storage: string) => ({
      metadata: { name },
      spec: { capacity: { storage }, accessModes: ['ReadWriteOnce'], storageClassName: 'local-storage', local: { path: `/mnt/${name}` } },
      status: { phase: 'Available' },
    });
    await client.create(Resources.persistentvolumes, pv('small', '1Gi'));
    await client.create(Resources.persistentvolumeclaims, { metadata: { name: 'data', namespace: 'default' }, spec: { storageClassName: 'local-storage', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } } } });
    const p = makePod('db');
    p.spec!.volumes = [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }];
    await client.create(Resources.pods, p);
    await until(() => s.stats.failedAttempts === 1 && s.unschedulablePods === 1, 'db unschedulable');
    for (const message of ['checked', 'checked again']) {
      const cur = await client.get<KubeObject & { status?: Record<string, unknown> }>(Resources.persistentvolumes, 'small');
      await client.updateStatus(Resources.persistentvolumes, { ...cur, status: { ...cur.status, message } });
    }
    // the claim's status too: the filter does not read it
    const claim = await client.get<KubeObject & { status?: Record<string, unknown> }>(Resources.persistentvolumeclaims, 'data', { namespace: 'default' });
    await client.updateStatus(Resources.persistentvolumeclaims, { ...claim, status: { phase: 'Pending', conditions: [{ type: 'Resizing', status: 'False' }] } });
    await until(() => (s.volumes.get('small')?.status as { message?: string } | undefined)?.message === 'checked again' && s.claims.get('data', 'default')?.status?.conditions !== undefined, 'updates seen');
    clock.advance(10_000);
    await settle();
    assert.equal(s.stats.failedAttempts, 1);
    assert.equal(s.queueStats.movedByEvent, 0);
    await client.create(Resources.persistentvolumes, pv('big', '10Gi'));
    assert.equal(await boundTo(client, 'db'), 'a');
    const big = await client.get<KubeObject & { spec?: { claimRef?: { name?: string } } }>(Resources.persistentvolumes, 'big');
    assert.equal(big.spec?.claimRef?.name, 'data');
  } finally {
    await stop();
  }
});

test('queueing hints: a placed pod leaving retries the pod NodeResourcesFit rejected; the cache stays consistent', async () => {
  const { client, clock, s, stop } = await start([['a', { cpu: '2' }]]);
  try {
    await client.create(Resources.pods, { ...makePod('old', { cpu: '2', nodeName: 'a' }), status: { phase: 'Running' } });
    await client.create(Resources.pods, makePod('new', { cpu: '2' }));
    await until(() => s.stats.failedAttempts === 1 && s.unschedulablePods === 1, 'new unschedulable');
    await client.delete(Resources.pods, 'old', { namespace: 'default', gracePeriodSeconds: 0 });
    clock.advance(1000);
    assert.equal(await boundTo(client, 'new'), 'a');
    await until(() => s.assumedPods === 0, 'confirmed');
    assert.deepEqual([...s.placements()], [['default/new', 'a']]);
    assert.equal(s.pending, 0);
  } finally {
    await stop();
  }
});

test('a lone bind is flushed as the loop goes idle; binds with others in flight are left to the client\'s batch', async () => {
  const client = new FakeKubeClient();
  for (const n of ['a', 'b']) await client.create(Resources.nodes, makeNode(n, { cpu: '8' }));
  let flushes = 0;
  /** binds held until released, so several are in flight at once */
  let hold: Promise<void> | undefined;
  const bind = client.bind.bind(client);
  const batching = Object.assign(client, {
    flushBinds: (): void => void flushes++,
    bind: async (o: Parameters<FakeKubeClient['bind']>[0]): Promise<void> => {
      await hold;
      return bind(o);
    },
  });
  const s = new Scheduler({ client: batching, clock: new FakeClock(), logger: silentLogger() });
  const ac = new AbortController();
  const done = s.run(ac.signal);
  let release: (() => void) | undefined;
  try {
    await Promise.all([s.pods.waitForSync(), s.nodeInformer.waitForSync()]);
    await client.create(Resources.pods, makePod('p1', {}));
    await boundTo(client, 'p1');
    await until(() => flushes === 1, 'p1 flushed');
    hold = new Promise<void>((r) => (release = r));
    await client.create(Resources.pods, makePod('p2', {}));
    await until(() => flushes === 2, 'p2, alone in flight, flushed');
    await client.create(Resources.pods, makePod('p3', {}));
    await until(() => s.assumedPods === 2, 'p3 assumed');
    await settle();
    assert.equal(flushes, 2, 'p3 placed while p2 is in flight: not flushed');
    release?.();
    await boundTo(client, 'p3');
  } finally {
    release?.();
    ac.abort();
    await done;
  }
});
