/**
 * Issue 4's end-to-end check: edge autonomy with real processes. One `hedge server` (short grace
 * period and toleration), two `hedge node`s on this host, one of them annotated
 * `hedge.io/autonomy: "true"`, each running an httpd pod under runc. Each agent reaches the
 * apiserver through its own TCP proxy in this test, so "the cloud link drops" is real: every
 * proxied socket is destroyed and new ones are refused, while the agents, conmon and the
 * containers keep running.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl, type HedgeServer } from './harness.ts';
import { edgeNodeSkipReason, type HedgeNode } from './node-harness.ts';
import { startLink, type Link } from './cloud-link.ts';
import { fetchText as fetchPodText, waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

/** seconds without a lease renewal before the server calls a node Unknown */
const GRACE_S = 5;
/** seconds a pod without a toleration stays on an unreachable ordinary node */
const TOLERATION_S = 3;
/** node Lease duration; the agents renew every quarter of it (1 s), well inside the grace period */
const LEASE_S = 4;

const fetchText = (ip: string): Promise<string> => fetchPodText(ip, { timeoutMs: 3_000 });

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('edge autonomy: two nodes lose the cloud; only the ordinary one loses its pods', { skip, timeout: 120_000 }, () => {
  let server: HedgeServer;
  let stack: EdgeStack | undefined;
  let httpdImage = '';
  const suffix = process.pid.toString(36);
  const names = { plain: `plain-${suffix}`, auto: `auto-${suffix}` };
  const nodes: Record<'plain' | 'auto', HedgeNode | undefined> = { plain: undefined, auto: undefined };
  const links: Record<'plain' | 'auto', Link | undefined> = { plain: undefined, auto: undefined };

  const getPod = async (name: string): Promise<Pod | undefined> => {
    const r = await server.api('GET', `/api/v1/namespaces/default/pods/${name}`);
    return r.status === 200 ? (r.body as Pod) : undefined;
  };
  const getNode = async (name: string): Promise<Node> => {
    const r = await server.api('GET', `/api/v1/nodes/${name}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as Node;
  };
  const cond = (n: Node, type: string) => n.status?.conditions?.find((c) => c.type === type);
  const taints = (n: Node): string[] => (n.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`);
  const explain = (): string =>
    `server:\n${server.output().slice(-2000)}\nplain node:\n${nodes.plain?.output().slice(-1500)}\nauto node:\n${nodes.auto?.output().slice(-1500)}`;
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await server.kubectl(args, { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const webPod = (name: string, node: string): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: {
        runtimeClassName: 'runc',
        nodeSelector: { 'kubernetes.io/hostname': node },
        terminationGracePeriodSeconds: 2,
        containers: [{ name: 'web', image: httpdImage, command: ['sh', '-c', 'exec httpd -f -p 8080 -h /www'], ports: [{ containerPort: 8080 }],
          // Ready = listening (the process starts a moment before httpd binds its port)
          readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } }],
      },
    });
  const waitRunning = (name: string): Promise<Pod> =>
    waitUntil(`${name} Running with an IP`, 40_000, async () => {
      const p = await getPod(name);
      return p?.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.[0]?.ready ? p : undefined;
    }, explain);

  before(async () => {
    stack = await startEdgeStack({
      nodes: [],
      server: { extraArgs: ['--node-monitor-grace-period', String(GRACE_S), '--default-toleration-seconds', String(TOLERATION_S)] },
    });
    ({ server, httpdImage } = stack);
    const s = stack;
    // each node is in stack.nodes from the moment it is spawned (edge-stack registers it), so
    // after() removes it even when its own start or its sibling's fails; allSettled, not all, so
    // after() never runs while the other node is still being spawned
    const started = await Promise.allSettled(
      (['plain', 'auto'] as const).map(async (k) => {
        const link = await startLink(new URL(server.url));
        links[k] = link;
        nodes[k] = await s.addNode({ name: names[k], serverUrl: link.url, runtimes: ['runc'], extraArgs: ['--node-lease-duration-seconds', String(LEASE_S)] });
      }),
    );
    for (const r of started) if (r.status === 'rejected') throw r.reason;
  });

  after(async () => {
    for (const l of Object.values(links)) l?.restore();
    await stack?.deleteAllPods({ timeoutSeconds: 20 });
    await stack?.close();
    for (const l of Object.values(links)) await l?.close();
  });

  it('evicts the ordinary node\'s pod, keeps the autonomous node\'s running, and reconnect changes nothing', async () => {
    await kubectl(['annotate', 'node', names.auto, 'hedge.io/autonomy=true']);
    await kubectl(['apply', '-f', '-'], webPod('web-plain', names.plain));
    await kubectl(['apply', '-f', '-'], webPod('web-auto', names.auto));
    const plainPod = await waitRunning('web-plain');
    const autoPod = await waitRunning('web-auto');
    assert.equal(plainPod.spec?.nodeName, names.plain);
    assert.equal(autoPod.spec?.nodeName, names.auto);
    const autoIP = autoPod.status!.podIP!;
    assert.match(await fetchText(autoIP), /hello from hedge/);
    const conmons = (await nodes.auto!.hostState()).conmonPids;
    assert.equal(conmons.length, 1, `conmon processes of the autonomous node: ${conmons.join(',')}`);

    // the cloud link drops for both nodes; the autonomous pod is probed all along
    const probeErrors: string[] = [];
    let probes = 0;
    let probing = true;
    const prober = (async () => {
      while (probing) {
        try {
          assert.match(await fetchText(autoIP), /hello from hedge/);
          if (!alive(conmons[0])) probeErrors.push(`conmon ${conmons[0]} gone`);
          probes++;
        } catch (err) {
          probeErrors.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    /** the cloud link is down for both: evictions on the ordinary node only */
    const partitioned = async (): Promise<void> => {
      const cutAt = Date.now();
      links.plain!.cut();
      links.auto!.cut();
      try {
        // ordinary node: Unknown, unreachable taint, its pod evicted after the toleration
        const evicted = await waitUntil('the ordinary node\'s pod evicted', (GRACE_S + TOLERATION_S) * 1000 + 15_000, async () => {
          const p = await getPod('web-plain');
          return p === undefined || p.metadata?.deletionTimestamp ? (p ?? ({} as Pod)) : undefined;
        }, explain);
        const evictedAfter = Date.now() - cutAt;
        // not before grace + toleration, counted from the last renewal the server saw (≤ one renew interval before the cut)
        assert.ok(evictedAfter >= (GRACE_S + TOLERATION_S - LEASE_S / 4) * 1000 - 500, `evicted ${evictedAfter} ms after the cut`);
        assert.equal(evicted.metadata?.uid ?? plainPod.metadata?.uid, plainPod.metadata?.uid);
        const plain = await getNode(names.plain);
        assert.equal(cond(plain, 'Ready')?.status, 'Unknown');
        assert.equal(cond(plain, 'Ready')?.reason, 'NodeStatusUnknown');
        assert.deepEqual(taints(plain), ['node.kubernetes.io/unreachable:NoExecute']);
        assert.equal(cond(plain, 'EdgeAutonomy'), undefined, 'ordinary nodes get no autonomy verdict');

        // autonomous node: the same taint and Unknown, but its pod untouched, past the same deadline plus two controller periods
        await new Promise((r) => setTimeout(r, 1_500));
        const auto = await getNode(names.auto);
        assert.equal(cond(auto, 'Ready')?.status, 'Unknown');
        assert.deepEqual(taints(auto), ['node.kubernetes.io/unreachable:NoExecute']);
        assert.equal(cond(auto, 'EdgeAutonomy')?.status, 'True');
        assert.equal(cond(auto, 'EdgeAutonomy')?.reason, 'EdgeUnreachable');
        const during = await getPod('web-auto');
        assert.equal(during?.metadata?.uid, autoPod.metadata?.uid);
        assert.equal(during?.metadata?.deletionTimestamp, undefined);
        assert.equal(during?.spec?.nodeName, names.auto);
        assert.equal(during?.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True', 'autonomous pods are not marked NotReady');
        const events = await server.api('GET', '/api/v1/namespaces/default/events');
        const evictions = ((events.body as { items: { reason?: string; involvedObject?: { name?: string } }[] }).items ?? [])
          .filter((e) => e.reason === 'TaintManagerEviction')
          .map((e) => e.involvedObject?.name);
        assert.deepEqual(evictions, ['web-plain']);
      } finally {
        links.plain!.restore();
        links.auto!.restore();
      }
    };

    let back: Node;
    try {
      await partitioned();
      // reconnect: the autonomous node is Ready again, untainted, with a verdict from its journaled heartbeats
      back = await waitUntil('autonomous node back with a verdict', 20_000, async () => {
        const n = await getNode(names.auto);
        return cond(n, 'Ready')?.status === 'True' && taints(n).length === 0 && cond(n, 'EdgeAutonomy')?.reason === 'EdgeWasPartitioned' ? n : undefined;
      }, explain);
    } finally {
      // a failed step must not leave the prober running (the test process would never exit)
      probing = false;
      await prober;
    }
    const verdict = cond(back, 'EdgeAutonomy')!;
    assert.equal(verdict.status, 'False');
    assert.match(verdict.message ?? '', /kept running: it journaled \d+ heartbeats offline/);
    const journaled = JSON.parse(back.metadata?.annotations?.['hedge.io/offline-heartbeats'] ?? '{}') as { count?: number };
    assert.ok((journaled.count ?? 0) >= GRACE_S, `journaled heartbeats: ${JSON.stringify(journaled)}`);

    assert.deepEqual(probeErrors, [], 'the autonomous pod served HTTP and its conmon lived throughout');
    assert.ok(probes >= 10, `only ${probes} probes`);

    const later = await getPod('web-auto');
    assert.equal(later?.metadata?.uid, autoPod.metadata?.uid);
    assert.equal(later?.metadata?.deletionTimestamp, undefined);
    const [b, a] = [autoPod.status?.containerStatuses?.[0], later?.status?.containerStatuses?.[0]];
    assert.equal(a?.restartCount, b?.restartCount);
    assert.equal(a?.containerID, b?.containerID);
    assert.equal(a?.state?.running?.startedAt, b?.state?.running?.startedAt);
    assert.deepEqual((await nodes.auto!.hostState()).conmonPids, conmons);

    // the ordinary node comes back too and finishes the eviction: the pod is gone from the API and the host
    await waitUntil('evicted pod removed by its returning node', 30_000, async () => ((await getPod('web-plain')) === undefined ? true : undefined), explain);
    await waitUntil('ordinary node Ready and untainted', 20_000, async () => {
      const n = await getNode(names.plain);
      return cond(n, 'Ready')?.status === 'True' && taints(n).length === 0 ? true : undefined;
    }, explain);
    await waitUntil('no containers left on the ordinary node', 15_000, async () => ((await nodes.plain!.hostState()).conmonPids.length === 0 ? true : undefined));
  });
});
