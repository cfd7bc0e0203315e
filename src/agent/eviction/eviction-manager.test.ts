import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { FakeClock } from '../../client/clock.ts';
import { MemoryEventSink } from '../../client/event-recorder.ts';
import { silentLogger } from '../../lib/log.ts';
import { Registry } from '../../lib/prom.ts';
import { EvictionManager } from './eviction-manager.ts';
import { parseThresholdConfig, thresholdQuantity, type EvictionSettings, type Signal } from './thresholds.ts';
import type { EvictRequest, ImageGarbageCollector, Observations, PodUsage } from './types.ts';

const Mi = 1024 * 1024;
const Gi = 1024 * Mi;

interface PodOpts {
  priority?: number;
  memRequest?: string;
  storageLimit?: string;
  emptyDir?: { name: string; sizeLimit: string };
  annotations?: Record<string, string>;
  priorityClassName?: string;
  grace?: number;
}

function pod(name: string, o: PodOpts = {}): Pod {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: {
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
      ...(o.priorityClassName ? { priorityClassName: o.priorityClassName } : {}),
      ...(o.grace !== undefined ? { terminationGracePeriodSeconds: o.grace } : {}),
      containers: [
        {
          name: 'c',
          resources: {
            ...(o.memRequest ? { requests: { memory: o.memRequest } } : {}),
            ...(o.storageLimit ? { limits: { 'ephemeral-storage': o.storageLimit } } : {}),
          },
        },
      ],
      ...(o.emptyDir ? { volumes: [{ name: o.emptyDir.name, emptyDir: { sizeLimit: o.emptyDir.sizeLimit } }] } : {}),
    },
    status: { phase: 'Running' },
  };
}

const usage = (memBytes: number, disk = 0, volumes: Record<string, number> = {}): PodUsage => ({
  containers: [{ name: 'c', memoryWorkingSetBytes: memBytes, rootfs: { bytes: disk, inodes: 1 }, logs: { bytes: 0, inodes: 1 } }],
  volumes: Object.fromEntries(Object.entries(volumes).map(([k, b]) => [k, { bytes: b, inodes: 1, ephemeral: true }])),
});

/** a node with fake signals and pods; `evict` records and finishes the pod like the pod worker */
function node(settings: EvictionSettings = {}, more: { maxPodGrace?: number; transitionMs?: number; imageGC?: ImageGarbageCollector } = {}) {
  const clock = new FakeClock();
  const events = new MemoryEventSink();
  const metrics = new Registry();
  const pods: Pod[] = [];
  const usages = new Map<string, PodUsage>();
  const evicted: { name: string; req: EvictRequest }[] = [];
  let obs: Record<string, { available: number; capacity: number }> = {
    'memory.available': { available: 4 * Gi, capacity: 8 * Gi },
    'nodefs.available': { available: 50 * Gi, capacity: 100 * Gi },
    'nodefs.inodesFree': { available: 900_000, capacity: 1_000_000 },
    'imagefs.available': { available: 50 * Gi, capacity: 100 * Gi },
    'imagefs.inodesFree': { available: 900_000, capacity: 1_000_000 },
    'pid.available': { available: 30_000, capacity: 32_768 },
  };
  let reads = 0;
  /** the pods each pass asked the usage of */
  const asked: string[][] = [];
  const mgr = new EvictionManager(
    { thresholds: parseThresholdConfig(settings), maxPodGracePeriodSeconds: more.maxPodGrace ?? 0, pressureTransitionPeriodMs: more.transitionMs ?? 300_000 },
    {
      nodeName: 'edge-a',
      clock,
      events,
      metrics,
      logger: silentLogger(),
      ...(more.imageGC ? { imageGC: more.imageGC } : {}),
      signals: {
        observe: async () => {
          reads++;
          const out: Observations = {};
          for (const [k, v] of Object.entries(obs)) out[k as Signal] = { ...v, time: reads };
          return out;
        },
      },
      usage: { usage: async (ps) => (asked.push(ps.map((p) => p.metadata?.name ?? '')), new Map(ps.flatMap((p) => (usages.has(p.metadata?.uid ?? '') ? [[p.metadata?.uid ?? '', usages.get(p.metadata?.uid ?? '')!] as const] : [])))) },
      pods: {
        activePods: () => pods.filter((p) => p.status?.phase !== 'Failed'),
        evict: async (uid, req) => {
          const p = pods.find((x) => x.metadata?.uid === uid);
          if (!p) return false;
          evicted.push({ name: p.metadata?.name ?? '', req });
          (p as { status?: Pod['status'] }).status = { phase: 'Failed', reason: 'Evicted', message: req.message };
          return true;
        },
      },
    },
  );
  const ac = new AbortController();
  return {
    clock,
    events,
    metrics,
    mgr,
    evicted,
    asked,
    add(p: Pod, u?: PodUsage) {
      pods.push(p);
      if (u) usages.set(p.metadata?.uid ?? '', u);
    },
    set(signal: Signal, available: number, capacity?: number) {
      obs = { ...obs, [signal]: { ...obs[signal], available, ...(capacity !== undefined ? { capacity } : {}) } };
    },
    sync: () => mgr.synchronize(ac.signal),
  };
}

describe('eviction thresholds (config)', () => {
  it('defaults are the kubelet\'s; quantities and percentages parse as upstream; 0% and 100% disable', () => {
    const d = parseThresholdConfig({}).map((t) => `${t.signal}<${t.value.kind === 'quantity' ? t.value.quantity.toString() : t.value.fraction}`);
    const f32 = (n: number): number => Math.fround(Math.fround(n) / 100);
    // enforceNodeAllocatable's default (pods) twins the hard memory threshold on the pods' cgroup
    assert.deepEqual(d, ['memory.available<100Mi', `nodefs.available<${f32(10)}`, `nodefs.inodesFree<${f32(5)}`, `imagefs.available<${f32(15)}`, `imagefs.inodesFree<${f32(5)}`, 'allocatableMemory.available<100Mi']);
    const t = parseThresholdConfig({ evictionHard: { 'memory.available': '1Gi', 'nodefs.available': '0%', 'pid.available': '2.5%' } });
    assert.deepEqual(t.map((x) => x.signal), ['memory.available', 'pid.available', 'allocatableMemory.available']);
    assert.equal(t[1].value.kind === 'percentage' && t[1].value.fraction, Math.fround(Math.fround(2.5) / 100));
    // float32 as upstream: 10% of 100Gi is 10737418400 bytes, not 10737418240
    assert.equal(thresholdQuantity(parseThresholdConfig({ evictionHard: { 'nodefs.available': '10%' } })[0].value, 100 * Gi).toString(), '10737418400');
  });

  it('bad settings name the key and the reason (upstream\'s words)', () => {
    const bad = (s: EvictionSettings, re: RegExp): void => assert.throws(() => parseThresholdConfig(s), re);
    bad({ evictionHard: { 'memory.free': '1Gi' } }, /^EvictionConfigError: evictionHard: unsupported eviction signal memory.free$/);
    bad({ evictionHard: { 'memory.available': '-1Gi' } }, /evictionHard: eviction threshold memory.available must be positive: -1Gi/);
    bad({ evictionHard: { 'nodefs.available': '120%' } }, /evictionHard: eviction percentage threshold nodefs.available must be <= 100%: 120%/);
    bad({ evictionHard: { 'nodefs.available': 'lots' } }, /evictionHard: nodefs.available: quantities must match/);
    bad({ evictionSoft: { 'memory.available': '1Gi' } }, /evictionSoftGracePeriod: grace period must be specified for the soft eviction threshold memory.available/);
    bad({ evictionSoft: { 'memory.available': '1Gi' }, evictionSoftGracePeriod: { 'memory.available': 'soon' } }, /evictionSoftGracePeriod: memory.available: invalid duration "soon"/);
    bad({ evictionMinimumReclaim: { 'nodefs.available': '-1Gi' } }, /evictionMinimumReclaim: negative eviction minimum reclaim specified for nodefs.available/);
    bad({ evictionMinimumReclaim: { 'nodefs.available': '0%' } }, /evictionMinimumReclaim: eviction percentage minimum reclaim nodefs.available must be positive: 0%/);
    const soft = parseThresholdConfig({ evictionSoft: { 'memory.available': '1Gi' }, evictionSoftGracePeriod: { 'memory.available': '1m30s' } }).find((x) => !x.hard);
    assert.equal(soft?.gracePeriodMs, 90_000);
  });
});

describe('allocatableMemory.available thresholds (enforceNodeAllocatable)', () => {
  const show = (ts: ReturnType<typeof parseThresholdConfig>): string[] =>
    ts.map((t) => `${t.signal}<${t.value.kind === 'quantity' ? t.value.quantity.toString() : t.value.fraction}${t.minReclaim?.kind === 'quantity' ? ` +${t.minReclaim.quantity.toString()}` : ''}${t.hard ? '' : ' soft'}`);

  it('pods (the default): every memory.available threshold without a grace period gets a hard twin, minimum reclaim included (upstream addAllocatableThresholds)', () => {
    const t = parseThresholdConfig({
      evictionHard: { 'memory.available': '1Gi' },
      evictionMinimumReclaim: { 'memory.available': '200Mi' },
      evictionSoft: { 'memory.available': '2Gi' },
      evictionSoftGracePeriod: { 'memory.available': '1m' },
    });
    assert.deepEqual(show(t), ['memory.available<1Gi +200Mi', 'memory.available<2Gi +200Mi soft', 'allocatableMemory.available<1Gi +200Mi']);
    // a soft threshold of 0s is "hard" to upstream's isHardEvictionThreshold
    const zero = parseThresholdConfig({ evictionHard: {}, evictionSoft: { 'memory.available': '2Gi' }, evictionSoftGracePeriod: { 'memory.available': '0s' } });
    assert.deepEqual(show(zero), ['memory.available<2Gi soft', 'allocatableMemory.available<2Gi']);
    // named directly, as upstream accepts it
    assert.deepEqual(show(parseThresholdConfig({ evictionHard: { 'allocatableMemory.available': '500Mi' }, enforceNodeAllocatable: [] })), ['allocatableMemory.available<500Mi']);
  });

  it('none (or an empty list): no twins; other options are refused, naming the key', () => {
    assert.deepEqual(show(parseThresholdConfig({ enforceNodeAllocatable: ['none'] })).filter((x) => x.startsWith('allocatable')), []);
    assert.deepEqual(show(parseThresholdConfig({ enforceNodeAllocatable: [] })).filter((x) => x.startsWith('allocatable')), []);
    assert.throws(() => parseThresholdConfig({ enforceNodeAllocatable: ['pods', 'none'] }), /^EvictionConfigError: enforceNodeAllocatable: may not contain additional enforcements when "none" is specified$/);
    assert.throws(() => parseThresholdConfig({ enforceNodeAllocatable: ['pods', 'system-reserved'] }), /enforceNodeAllocatable: option "system-reserved" needs a systemReservedCgroup, which this node does not have/);
    assert.throws(() => parseThresholdConfig({ enforceNodeAllocatable: ['pod'] }), /enforceNodeAllocatable: invalid option "pod"; valid options are "pods" or "none"/);
  });

  it('the pods over allocatable: MemoryPressure and a memory eviction while the node as a whole has memory to spare', async () => {
    const n = node();
    n.add(pod('small', { memRequest: '500Mi' }), usage(100 * Mi));
    n.add(pod('big'), usage(3 * Gi));
    // allocatable 6Gi (2Gi reserved), the pods' cgroup at 5.95Gi; the node still has 4Gi free
    n.set('allocatableMemory.available', 50 * Mi, 6 * Gi);
    const r = await n.sync();
    assert.ok(n.mgr.isUnderMemoryPressure());
    assert.deepEqual(r.evicted.map((e) => [e.pod.metadata?.name, e.signal]), [['big', 'allocatableMemory.available']]);
    assert.equal(r.evicted[0].message, 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. Container c was using 3Gi, request is 0, has larger consumption of memory. ');
    assert.deepEqual(n.events.events[0], { kind: 'Node', name: 'edge-a', type: 'Warning', reason: 'EvictionThresholdMet', message: 'Attempting to reclaim memory' });
    assert.match(await n.metrics.metrics(), /kubelet_evictions\{eviction_signal="allocatableMemory.available"\} 1/);
    assert.deepEqual(n.mgr.admit(pod('best-effort')), { admit: false, reason: 'Evicted', message: 'The node had condition: [MemoryPressure]. ' });
    // with enforceNodeAllocatable none, the same reading is no threshold
    const m = node({ enforceNodeAllocatable: ['none'] });
    m.add(pod('big'), usage(3 * Gi));
    m.set('allocatableMemory.available', 50 * Mi, 6 * Gi);
    assert.deepEqual((await m.sync()).evicted, []);
    assert.equal(m.mgr.isUnderMemoryPressure(), false);
  });
});

describe('eviction manager', () => {
  it('walks the usage only of the pods a pass needs: those with a local-storage limit, every pod once a threshold is acted on', async () => {
    const n = node();
    n.add(pod('plain'), usage(10 * Mi));
    n.add(pod('capped', { emptyDir: { name: 'scratch', sizeLimit: '1Gi' } }), usage(10 * Mi));
    n.add(pod('limited', { storageLimit: '2Gi' }), usage(10 * Mi));
    await n.sync();
    assert.deepEqual(n.asked, [['capped', 'limited']]);
    n.set('memory.available', 50 * Mi);
    await n.sync();
    assert.deepEqual(n.asked[1], ['plain', 'capped', 'limited']);
  });

  it('memory: evicts the pod over its request first, with upstream\'s message, condition, events and metric; one pod per pass', async () => {
    const n = node();
    n.add(pod('low-under', { priority: 0, memRequest: '500Mi' }), usage(100 * Mi));
    n.add(pod('high-over', { priority: 1000 }), usage(200 * Mi));
    n.add(pod('high-over-more', { priority: 1000 }), usage(300 * Mi));
    assert.deepEqual((await n.sync()).evicted, []);
    n.set('memory.available', 50 * Mi);
    const r = await n.sync();
    assert.deepEqual(r.evicted.map((e) => e.pod.metadata?.name), ['high-over-more']);
    const msg = 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. Container c was using 300Mi, request is 0, has larger consumption of memory. ';
    assert.deepEqual(n.evicted[0], {
      name: 'high-over-more',
      req: { gracePeriodSeconds: 0, message: msg, condition: { type: 'DisruptionTarget', status: 'True', reason: 'TerminationByKubelet', message: msg, lastTransitionTime: '2026-01-01T00:00:00Z' } },
    });
    assert.ok(n.mgr.isUnderMemoryPressure());
    assert.deepEqual(n.events.events, [
      { kind: 'Node', name: 'edge-a', type: 'Warning', reason: 'EvictionThresholdMet', message: 'Attempting to reclaim memory' },
      { kind: 'Pod', name: 'high-over-more', type: 'Warning', reason: 'Evicted', message: msg },
    ]);
    assert.match(await n.metrics.metrics(), /kubelet_evictions\{eviction_signal="memory.available"\} 1/);
    await n.sync();
    await n.sync();
    // over its request before under it, whatever the priority
    assert.deepEqual(n.evicted.map((e) => e.name), ['high-over-more', 'high-over', 'low-under']);
  });

  it('memory: among pods over their requests, lower priority goes first; then more usage above request', async () => {
    const n = node();
    n.add(pod('p100', { priority: 100 }), usage(900 * Mi));
    n.add(pod('p0-small', { priority: 0 }), usage(10 * Mi));
    n.add(pod('p0-big', { priority: 0, memRequest: '100Mi' }), usage(400 * Mi));
    n.set('memory.available', 10 * Mi);
    for (let i = 0; i < 3; i++) await n.sync();
    assert.deepEqual(n.evicted.map((e) => e.name), ['p0-big', 'p0-small', 'p100']);
    assert.match(n.evicted[0].req.message, /Container c was using 400Mi, request is 100Mi, has larger consumption of memory\. $/);
  });

  it('critical, static and mirror pods are never evicted (upstream), even when nothing else is left', async () => {
    const n = node();
    n.add(pod('critical', { priority: 2_000_001_000 }), usage(900 * Mi));
    n.add(pod('by-class', { priorityClassName: 'system-cluster-critical' }), usage(900 * Mi));
    n.add(pod('static', { annotations: { 'kubernetes.io/config.source': 'file' } }), usage(900 * Mi));
    n.add(pod('mirror', { annotations: { 'kubernetes.io/config.mirror': 'abc' } }), usage(900 * Mi));
    n.add(pod('ordinary', { priority: 1_000_000 }), usage(1 * Mi));
    n.set('memory.available', 10 * Mi);
    await n.sync();
    const r = await n.sync();
    assert.deepEqual(n.evicted.map((e) => e.name), ['ordinary']);
    assert.deepEqual(r.evicted, []);
  });

  it('disk: percentage thresholds against capacity; image GC first, and no eviction when it relieved the pressure', async () => {
    let freedCalls: number[] = [];
    const n = node({}, { imageGC: { freeSpace: async (b) => { freedCalls.push(b); n.set('nodefs.available', 30 * Gi); return b; } } });
    n.add(pod('a', { priority: 0 }), usage(0, 5 * Gi));
    n.set('nodefs.available', 9 * Gi); // < 10% of 100Gi
    const r = await n.sync();
    assert.equal(r.reclaimedByNode, true);
    assert.deepEqual(freedCalls, [10737418400 - 9 * Gi]);
    assert.equal(n.evicted.length, 0);
    assert.ok(n.mgr.isUnderDiskPressure(), 'the condition holds for the transition period');
    freedCalls = [];
  });

  it('disk: lowest priority first, then by ephemeral-storage usage, message with the threshold quantity', async () => {
    const n = node({ evictionHard: { 'nodefs.available': '20Gi' } }, { imageGC: { freeSpace: async () => 0 } });
    n.add(pod('high', { priority: 10 }), usage(0, 8 * Gi));
    n.add(pod('low-small', { priority: 0 }), usage(0, 1 * Gi));
    n.add(pod('low-big', { priority: 0 }), usage(0, 3 * Gi));
    n.set('nodefs.available', 10 * Gi);
    for (let i = 0; i < 3; i++) await n.sync();
    assert.deepEqual(n.evicted.map((e) => e.name), ['low-big', 'low-small', 'high']);
    assert.equal(n.evicted[0].req.message, 'The node was low on resource: ephemeral-storage. Threshold quantity: 20Gi, available: 10Gi. Container c was using 3Gi, request is 0, has larger consumption of ephemeral-storage. ');
    assert.match(await n.metrics.metrics(), /kubelet_evictions\{eviction_signal="nodefs.available"\} 3/);
  });

  it('soft thresholds: conditions at once, evictions only after the grace period, with min(evictionMaxPodGracePeriod, the pod\'s own)', async () => {
    const n = node({ evictionHard: {}, evictionSoft: { 'memory.available': '1Gi' }, evictionSoftGracePeriod: { 'memory.available': '1m' } }, { maxPodGrace: 60 });
    n.add(pod('a', { grace: 20 }), usage(500 * Mi));
    n.add(pod('b'), usage(100 * Mi));
    n.set('memory.available', 512 * Mi);
    await n.sync();
    assert.ok(n.mgr.isUnderMemoryPressure());
    n.clock.advance(50_000);
    await n.sync();
    assert.equal(n.evicted.length, 0);
    n.clock.advance(10_000);
    await n.sync();
    assert.deepEqual(n.evicted.map((e) => [e.name, e.req.gracePeriodSeconds]), [['a', 20]]);
    await n.sync();
    assert.deepEqual(n.evicted.map((e) => [e.name, e.req.gracePeriodSeconds]), [['a', 20], ['b', 60]]);
    // recovered before the grace period: the clock starts over
    const m = node({ evictionHard: {}, evictionSoft: { 'memory.available': '1Gi' }, evictionSoftGracePeriod: { 'memory.available': '1m' } });
    m.add(pod('c'), usage(500 * Mi));
    m.set('memory.available', 512 * Mi);
    await m.sync();
    m.clock.advance(50_000);
    m.set('memory.available', 2 * Gi);
    await m.sync();
    m.set('memory.available', 512 * Mi);
    m.clock.advance(20_000);
    await m.sync();
    assert.equal(m.evicted.length, 0);
  });

  it('the pressure condition stays True for the transition period after the threshold was last met', async () => {
    const n = node({ evictionHard: { 'pid.available': '10%' } }, { transitionMs: 300_000 });
    n.set('pid.available', 1000);
    await n.sync();
    assert.ok(n.mgr.isUnderPIDPressure());
    n.set('pid.available', 30_000);
    n.clock.advance(299_000);
    await n.sync();
    assert.ok(n.mgr.isUnderPIDPressure(), 'within the transition period');
    n.clock.advance(1_000);
    await n.sync();
    assert.equal(n.mgr.isUnderPIDPressure(), false);
  });

  it('minimum reclaim: a met threshold stays met until threshold + minimum reclaim is available', async () => {
    const n = node({ evictionHard: { 'nodefs.available': '10Gi' }, evictionMinimumReclaim: { 'nodefs.available': '5Gi' } });
    n.add(pod('a'), usage(0, Gi));
    n.add(pod('b'), usage(0, 2 * Gi));
    n.set('nodefs.available', 9 * Gi);
    await n.sync();
    n.set('nodefs.available', 12 * Gi); // above 10Gi, below 15Gi
    const r = await n.sync();
    assert.deepEqual(n.evicted.map((e) => e.name), ['b', 'a']);
    assert.equal(r.thresholds.length, 1);
  });

  it('local storage: emptyDir over its sizeLimit, pod over its containers\' limits, container over its own, with upstream\'s messages', async () => {
    const n = node();
    n.add(pod('ok', { emptyDir: { name: 'scratch', sizeLimit: '1Mi' }, storageLimit: '10Mi' }), usage(0, Mi, { scratch: 512 * 1024 }));
    n.add(pod('empty', { emptyDir: { name: 'scratch', sizeLimit: '1Mi' } }), usage(0, 0, { scratch: 2 * Mi }));
    n.add(pod('podlimit', { emptyDir: { name: 'v', sizeLimit: '100Mi' }, storageLimit: '2Mi' }), usage(0, Mi, { v: 3 * Mi }));
    const r = await n.sync();
    assert.deepEqual(r.evicted.map((e) => [e.pod.metadata?.name, e.signal, e.message]), [
      ['empty', 'emptydirfs.limit', 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". '],
      ['podlimit', 'ephemeralpodfs.limit', 'Pod ephemeral local storage usage exceeds the total limit of containers 2Mi. '],
    ]);
    assert.deepEqual(n.evicted.map((e) => [e.name, e.req.gracePeriodSeconds, e.req.condition]), [['empty', 0, undefined], ['podlimit', 0, undefined]]);
    const m = node();
    const two = pod('two', { storageLimit: '1Mi' });
    two.spec!.containers.push({ name: 'd', resources: { limits: { 'ephemeral-storage': '10Mi' } } });
    m.add(two, { containers: [{ name: 'c', rootfs: { bytes: 1.5 * Mi, inodes: 1 }, logs: { bytes: 0, inodes: 1 } }, { name: 'd' }], volumes: {} });
    const r2 = await m.sync();
    assert.deepEqual(r2.evicted.map((e) => e.message), ['Container c exceeded its local ephemeral storage limit "1Mi". ']);
    assert.match(await m.metrics.metrics(), /kubelet_evictions\{eviction_signal="ephemeralcontainerfs.limit"\} 1/);
  });

  it('local storage: the pod\'s sum is the summary\'s ephemeral-storage (configMap and hosts file in, secret/projected/memory emptyDir out); ranking leaves the hosts file out', async () => {
    const vols = (o: Record<string, [number, boolean]>): PodUsage['volumes'] => Object.fromEntries(Object.entries(o).map(([k, [b, e]]) => [k, { bytes: b, inodes: 1, ephemeral: e }]));
    const base = { containers: [{ name: 'c', rootfs: { bytes: Mi, inodes: 1 }, logs: { bytes: 0, inodes: 1 } }] };
    const n = node();
    // 1Mi layer + 1Mi configMap: over 1.5Mi; the same in secret/projected/memory emptyDir: not
    n.add(pod('conf', { storageLimit: '1536Ki' }), { ...base, volumes: vols({ conf: [Mi, true] }) });
    n.add(pod('tmpfs', { storageLimit: '1536Ki' }), { ...base, volumes: vols({ creds: [Mi, false], token: [Mi, false], ram: [Mi, false] }) });
    // 1Mi layer + 4Ki hosts file: over a 1Mi limit
    n.add(pod('hosts', { storageLimit: '1Mi' }), { ...base, volumes: {}, etcHosts: { bytes: 4096, inodes: 1 } });
    const r = await n.sync();
    assert.deepEqual(r.evicted.map((e) => [e.pod.metadata?.name, e.signal]), [['conf', 'ephemeralpodfs.limit'], ['hosts', 'ephemeralpodfs.limit']]);

    // disk pressure: a configMap counts in the ranking; secret volumes and the hosts file do not
    const m = node({ evictionHard: { 'nodefs.available': '20Gi' } });
    m.add(pod('secrets'), { ...base, volumes: vols({ creds: [3 * Gi, false] }), etcHosts: { bytes: Gi, inodes: 1 } });
    m.add(pod('configmap'), { ...base, volumes: vols({ conf: [2 * Gi, true] }) });
    m.set('nodefs.available', 10 * Gi);
    await m.sync();
    assert.deepEqual(m.evicted.map((e) => e.name), ['configmap']);
  });

  it('run(): synchronizes every 10 s on the clock', async () => {
    const n = node();
    n.add(pod('a'), usage(500 * Mi));
    const ac = new AbortController();
    const done = n.mgr.run(ac.signal);
    const tick = async (): Promise<void> => {
      for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    };
    await tick();
    n.set('memory.available', 10 * Mi);
    n.clock.advance(9_000);
    await tick();
    assert.equal(n.evicted.length, 0);
    n.clock.advance(1_000);
    await tick();
    assert.deepEqual(n.evicted.map((e) => e.name), ['a']);
    ac.abort();
    await done;
  });
});

describe('eviction admit handler', () => {
  it('refuses new pods while DiskPressure is reported (from the first reading, grace period or not) and admits again once the transition period is over', async () => {
    const n = node({ evictionHard: { 'memory.available': '100Mi' }, evictionSoft: { 'nodefs.available': '10Gi' }, evictionSoftGracePeriod: { 'nodefs.available': '1m' } }, { transitionMs: 30_000 });
    const fresh = pod('fresh');
    assert.deepEqual(n.mgr.admit(fresh), { admit: true });
    n.set('nodefs.available', 5 * Gi);
    await n.sync();
    assert.equal(n.evicted.length, 0, 'grace period not over: nobody evicted');
    assert.deepEqual(n.mgr.admit(fresh), { admit: false, reason: 'Evicted', message: 'The node had condition: [DiskPressure]. ' });
    assert.deepEqual(n.mgr.admit(pod('crit', { priorityClassName: 'system-node-critical' })), { admit: true });
    n.set('nodefs.available', 50 * Gi);
    n.clock.advance(10_000);
    await n.sync();
    assert.equal(n.mgr.admit(fresh).admit, false, 'held for the transition period');
    n.clock.advance(30_000);
    await n.sync();
    assert.deepEqual(n.mgr.admit(fresh), { admit: true });
  });
});
