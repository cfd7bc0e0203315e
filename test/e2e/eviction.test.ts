/**
 * The node's eviction manager against real pods (runc, conmon, CNI, cgroups): a pod writing past
 * its emptyDir's sizeLimit is evicted with upstream's reason and message, its containers stopped
 * and sandbox freed, while a well-behaved pod runs on; and once a node has DiskPressure (its imagefs
 * shadowed by a full tmpfs), a new pod is refused at admission, the lowest-priority running pod
 * goes first and a critical one never.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { edgeNodeSkipReason, type HedgeNode } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';
import { startLink, type Link } from './cloud-link.ts';
import { run } from './harness.ts';
import { parseQuantity } from '../../src/api/meta/quantity.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED);

describe('node-pressure eviction and local storage limits', { skip, timeout: 300_000 }, () => {
  let stack: EdgeStack | undefined;
  let link: Link | undefined;
  const nodeA = `evict-a-${process.pid}`;
  const nodeB = `evict-b-${process.pid}`;

  before(async () => {
    // reservations: the Node's allocatable and its pods cgroup's limits (kubepods) come from them
    stack = await startEdgeStack({ nodes: [{ name: nodeA, runtimes: ['runc'], extraArgs: ['--system-reserved', 'memory=1Gi,cpu=500m', '--kube-reserved', 'memory=256Mi'] }] });
  });
  after(async () => {
    link?.restore();
    await stack?.close();
    await link?.close();
  });

  const api = (method: string, path: string, body?: unknown) => stack!.server.api(method, path, body);
  const getPod = async (name: string): Promise<Pod | undefined> => {
    const r = await api('GET', `/api/v1/namespaces/default/pods/${name}`);
    return r.status === 200 ? (r.body as Pod) : undefined;
  };
  const createPod = async (p: Pod): Promise<void> => {
    const r = await api('POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', ...p });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  };
  const sleeper = (name: string, nodeName: string, script: string, extra: Partial<NonNullable<Pod['spec']>> = {}): Pod => ({
    metadata: { name },
    spec: {
      nodeName,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'c', image: stack!.busyboxImage, command: ['sh', '-c', script], volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }],
      volumes: [{ name: 'scratch', emptyDir: { sizeLimit: '1Mi' } }],
      ...extra,
    },
  });
  const waitPhase = (name: string, phase: string, timeoutMs: number): Promise<Pod> =>
    waitUntil(`${name} ${phase}`, timeoutMs, async () => {
      const p = await getPod(name);
      return p?.status?.phase === phase ? p : undefined;
    }, () => stack!.explain());
  const events = async (name: string): Promise<{ reason: string; type: string; message: string }[]> => {
    const r = await api('GET', `/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=${name}`);
    return ((r.body as { items?: { reason: string; type: string; message: string }[] }).items ?? []);
  };

  it('--system-reserved + --kube-reserved: the pods cgroup is limited to capacity − reserved (no eviction threshold off), allocatable takes the 100Mi threshold off too', async () => {
    const memTotal = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
    const reserved = 1280 * 2 ** 20;
    const cg = stack!.node.cgroupRoot;
    assert.equal(readFileSync(join('/sys/fs/cgroup/memory', cg, 'memory.limit_in_bytes'), 'utf8').trim(), String(memTotal - reserved));
    assert.equal(readFileSync(join('/sys/fs/cgroup/cpu', cg, 'cpu.shares'), 'utf8').trim(), String(Math.floor(((cpus().length * 1000 - 500) * 1024) / 1000)));
    const node = (await api('GET', `/api/v1/nodes/${nodeA}`)).body as { status: { allocatable: Record<string, string> } };
    assert.equal(parseQuantity(node.status.allocatable.memory!).value(), memTotal - reserved - 100 * 2 ** 20);
    await waitUntil('NodeAllocatableEnforced on the Node', 30_000, async () => (await events(nodeA)).find((e) => e.reason === 'NodeAllocatableEnforced' && e.type === 'Normal'));
  });

  it('a pod past its emptyDir sizeLimit is evicted (Evicted, upstream message), its sandbox freed; a well-behaved pod runs on', async () => {
    const node = stack!.node;
    await createPod(sleeper('hog', nodeA, 'sleep 3; dd if=/dev/zero of=/scratch/fill bs=1M count=4; sleep 3600'));
    await createPod(sleeper('calm', nodeA, 'dd if=/dev/zero of=/scratch/small bs=64k count=4; sleep 3600'));
    await waitPhase('calm', 'Running', 60_000);
    // written after 3 s, found within the manager's 10 s interval
    const hog = await waitPhase('hog', 'Failed', 60_000);
    assert.equal(hog.status?.reason, 'Evicted');
    assert.equal(hog.status?.message, 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". ');
    const cs = hog.status?.containerStatuses?.[0];
    assert.ok(cs?.state?.terminated, `container stopped: ${JSON.stringify(cs)}`);
    assert.equal(cs?.ready, false);
    const ev = await waitUntil('Evicted event', 15_000, async () => (await events('hog')).find((e) => e.reason === 'Evicted'));
    assert.deepEqual([ev.type, ev.message], ['Warning', 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". ']);
    // sandbox freed: only calm's network namespace and conmon are left on the host
    await waitUntil('hog sandbox freed', 15_000, async () => {
      const s = await node.hostState();
      return s.netns.length === 1 && s.conmonPids.length === 1 ? true : undefined;
    }, () => stack!.explain());
    // the well-behaved pod was not touched
    await new Promise((r) => setTimeout(r, 11_000));
    const calm = await getPod('calm');
    assert.equal(calm?.status?.phase, 'Running');
    assert.equal(calm?.status?.containerStatuses?.[0]?.ready, true);
    for (const n of ['hog', 'calm']) await api('DELETE', `/api/v1/namespaces/default/pods/${n}`);
  });

  it('under DiskPressure a new pod is refused (Failed, "Pod was rejected: …"), never started; the pods admitted before are evicted lowest priority first, a critical one never', async () => {
    // imagefs is statfs of <data dir>/images: the pressure starts when the test mounts a 1 MiB
    // tmpfs there (available 1Mi < 2Mi), after the pods were admitted and started on a node
    // without pressure; the running containers' layers are under snapshots/, not shadowed
    const node: HedgeNode = await stack!.addNode({
      name: nodeB,
      runtimes: ['runc'],
      extraArgs: ['--eviction-hard', 'memory.available<100Mi,imagefs.available<2Mi', '--eviction-max-pod-grace-period', '0'],
    });
    const r = await api('POST', '/apis/scheduling.k8s.io/v1/priorityclasses', { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'evict-e2e-high' }, value: 1000 });
    assert.ok(r.status === 201 || r.status === 409, JSON.stringify(r.body));
    const idle = 'sleep 3600';
    await createPod(sleeper('low', nodeB, idle));
    await createPod(sleeper('high', nodeB, idle, { priorityClassName: 'evict-e2e-high' }));
    await createPod(sleeper('critical', nodeB, idle, { priorityClassName: 'system-node-critical' }));
    for (const n of ['low', 'high', 'critical']) await waitPhase(n, 'Running', 40_000);
    const imagesDir = join(node.dataDir, 'images');
    const mounted = await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'hedge-e2e-imagefs', imagesDir]);
    assert.equal(mounted.code, 0, mounted.stderr);
    try {
      const diskPressure = await waitUntil('DiskPressure True', 30_000, async () => {
        const nb = (await api('GET', `/api/v1/nodes/${nodeB}`)).body as { status?: { conditions?: { type: string; status: string; reason: string }[] } };
        return nb.status?.conditions?.find((c) => c.type === 'DiskPressure' && c.status === 'True');
      });
      assert.equal(diskPressure.reason, 'KubeletHasDiskPressure');
      // the eviction manager's admit handler: a new pod is refused, whatever its QoS
      await createPod(sleeper('late', nodeB, idle, { containers: [{ name: 'c', image: stack!.busyboxImage, command: ['sh', '-c', idle], resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '10m', memory: '16Mi' } } }], volumes: [] }));
      const late = await waitPhase('late', 'Failed', 20_000);
      assert.deepEqual([late.status?.reason, late.status?.message], ['Evicted', 'Pod was rejected: The node had condition: [DiskPressure]. ']);
      assert.equal(late.status?.containerStatuses, undefined, 'never started');
      const lateEv = await waitUntil('late Evicted event', 15_000, async () => (await events('late')).find((e) => e.reason === 'Evicted'));
      assert.deepEqual([lateEv.type, lateEv.message], ['Warning', 'The node had condition: [DiskPressure]. ']);
      const low = await waitPhase('low', 'Failed', 40_000);
      const high = await waitPhase('high', 'Failed', 30_000);
      // each status write gets a new revision: low's Failed was written before high's
      assert.ok(Number(low.metadata?.resourceVersion) < Number(high.metadata?.resourceVersion), `low ${low.metadata?.resourceVersion} before high ${high.metadata?.resourceVersion}`);
      for (const p of [low, high]) {
        assert.equal(p.status?.reason, 'Evicted');
        assert.match(p.status?.message ?? '', /^The node was low on resource: ephemeral-storage\. Threshold quantity: 2Mi, available: \d+(Ki|Mi)?\. /);
        const dt = p.status?.conditions?.find((c) => c.type === 'DisruptionTarget');
        assert.deepEqual([dt?.status, dt?.reason, dt?.message], ['True', 'TerminationByKubelet', p.status?.message]);
      }
      const nodeEvents = await events(nodeB);
      assert.ok(nodeEvents.some((e) => e.reason === 'EvictionThresholdMet' && e.message === 'Attempting to reclaim ephemeral-storage'), JSON.stringify(nodeEvents));
      // the critical pod stays, pressure or not; the refused pod never got a container
      await new Promise((res) => setTimeout(res, 11_000));
      assert.equal((await getPod('critical'))?.status?.phase, 'Running');
      assert.equal((await getPod('late'))?.status?.phase, 'Failed');
      await waitUntil('evicted sandboxes freed, none made for the refused pod', 15_000, async () => ((await node.hostState()).conmonPids.length === 1 ? true : undefined));
    } finally {
      await run('umount', [imagesDir]);
    }
    for (const n of ['low', 'high', 'critical', 'late']) await api('DELETE', `/api/v1/namespaces/default/pods/${n}`);
    await api('DELETE', '/apis/scheduling.k8s.io/v1/priorityclasses/evict-e2e-high');
  });

  it('offline from the cloud, the node still evicts: containers stopped and sandbox freed locally, Failed/Evicted reaches the API on reconnect', async () => {
    const nodeC = `evict-c-${process.pid}`;
    link = await startLink(new URL(stack!.server.url));
    const node = await stack!.addNode({ name: nodeC, serverUrl: link.url, runtimes: ['runc'] });
    // fills its emptyDir only once the link is down (the marker file the test writes through the host)
    await createPod(sleeper('offline-hog', nodeC, 'while [ ! -e /scratch/go ]; do sleep 1; done; dd if=/dev/zero of=/scratch/fill bs=1M count=4; sleep 3600'));
    const running = await waitPhase('offline-hog', 'Running', 60_000);
    await waitUntil('offline-hog conmon', 10_000, async () => ((await node.hostState()).conmonPids.length === 1 ? true : undefined));
    link.cut();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(node.dataDir, 'pods', running.metadata!.uid!, 'volumes', 'empty-dir', 'scratch', 'go'), '');
    // no cloud: the node decides, stops the containers and frees the sandbox on its own
    await waitUntil('evicted while offline: sandbox freed', 40_000, async () => {
      const s = await node.hostState();
      return s.conmonPids.length === 0 && s.netns.length === 0 ? true : undefined;
    }, () => stack!.explain());
    assert.equal((await getPod('offline-hog'))?.status?.phase, 'Running', 'the cloud has not heard yet');
    link.restore();
    // the hub replays the journaled status write
    const p = await waitPhase('offline-hog', 'Failed', 60_000);
    assert.equal(p.status?.reason, 'Evicted');
    assert.equal(p.status?.message, 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". ');
    await api('DELETE', '/api/v1/namespaces/default/pods/offline-hog');
  });
});
