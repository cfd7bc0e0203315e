/**
 * Issue 12, pod networking between nodes: two hosts (network namespaces on one underlay,
 * two-hosts.ts), a `hedge node` in each taking the podCIDR the control plane assigns. The nodes
 * program the vxlan overlay from the Node objects: a pod on A reaches a pod on B by its IP under
 * runc and gVisor, and B sees A's pod address (no NAT); deleting B's Node removes A's route,
 * neighbour and FDB entry; nothing of the underlay, overlay or nodes is left afterwards.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { findKubectl, run } from './harness.ts';
import { edgeNodeSkipReason, pooledNetworks } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';
import { assertHostsGone, clusterOps, ECHO_IP, hostJson, httpLastLine, ncGet, pinnedPod, plainIPv4, startHostCluster, type HostCluster, type IpRoute } from './two-hosts.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/sbin/nft', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter', '/usr/sbin/bridge'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

describe('cross-node pod networking over the vxlan overlay', { skip, timeout: 600_000 }, () => {
  let c: HostCluster;
  let names: { netns: string[]; rootLinks: string[] };

  before(async () => {
    c = await startHostCluster({ hosts: ['a', 'b'], runtimes: ['runc', 'gvisor'] });
    names = c.underlay.names();
  });
  after(async () => {
    await c?.close();
  });

  const { kubectl, getNode, running } = clusterOps(() => c);

  it('assigns distinct podCIDRs and each node publishes its vtep', async () => {
    const [a, b] = await Promise.all(c.nodes.map((n) => getNode(n.nodeName)));
    assert.match(a.spec?.podCIDR ?? '', /^10\.244\.\d+\.0\/24$/);
    assert.match(b.spec?.podCIDR ?? '', /^10\.244\.\d+\.0\/24$/);
    assert.notEqual(a.spec?.podCIDR, b.spec?.podCIDR);
    await waitUntil('vtep annotations', 30_000, async () => {
      const nodes = await Promise.all(c.nodes.map((n) => getNode(n.nodeName)));
      return nodes.every((n) => n.metadata?.annotations?.['hedge.io/overlay-backend-type'] === 'vxlan') ? true : undefined;
    }, () => c.explain());
    const b2 = await getNode(c.node('b').nodeName);
    assert.equal(b2.metadata?.annotations?.['hedge.io/overlay-public-ip'], c.host('b').ip);
  });

  it('a runc pod and a gVisor pod on A reach a pod on B by IP, and B sees their own addresses', async () => {
    const [nodeA, nodeB] = [c.node('a').nodeName, c.node('b').nodeName];
    await kubectl(['apply', '-f', '-'], pinnedPod('echo-b', nodeB, ECHO_IP));
    await kubectl(['apply', '-f', '-'], pinnedPod('client-a', nodeA, 'exec sleep 3600'));
    await kubectl(['apply', '-f', '-'], pinnedPod('client-a-gvisor', nodeA, 'exec sleep 3600', 'gvisor'));
    const [echo, client, clientG] = await Promise.all([running('echo-b'), running('client-a'), running('client-a-gvisor')]);
    const bCIDR = (await getNode(nodeB)).spec?.podCIDR ?? '';

    // the kernel state on A: flannel's three entries for B
    const hostA = c.host('a');
    const vtepB = bCIDR.split('/')[0];
    await waitUntil('route to B on A', 30_000, async () => {
      const routes = await hostJson<IpRoute[]>(hostA, 'ip', ['-j', 'route', 'show', 'proto', '104']);
      return routes.some((r) => r.dst === bCIDR) ? true : undefined;
    }, () => c.explain());
    assert.deepEqual(await hostJson<IpRoute[]>(hostA, 'ip', ['-j', 'route', 'show', 'proto', '104']), [{ dst: bCIDR, gateway: vtepB, dev: 'hedge.1', flags: ['onlink'] }]);
    const fdb = await hostJson<{ mac: string; dst?: string }[]>(hostA, 'bridge', ['-j', 'fdb', 'show', 'dev', 'hedge.1']);
    assert.deepEqual(fdb.filter((f) => f.dst).map((f) => f.dst), [c.host('b').ip]);
    const neigh = await hostJson<{ dst: string; lladdr: string }[]>(hostA, 'ip', ['-j', 'neigh', 'show', 'dev', 'hedge.1', 'nud', 'permanent']);
    assert.deepEqual(neigh.map((n) => n.dst), [vtepB]);
    const link = await hostJson<{ mtu: number }[]>(hostA, 'ip', ['-j', 'link', 'show', 'dev', 'hedge.1']);
    assert.equal(link[0]?.mtu, 1450, 'underlay 1500 − 50');
    // the pods' MTU follows the overlay
    assert.equal((await kubectl(['exec', 'client-a', '--', 'cat', '/sys/class/net/eth0/mtu'])).trim(), '1450');

    const url = `http://${echo.status?.podIP}:8080/cgi-bin/ip`;
    const seen = await waitUntil(`runc pod on A reaches ${url}`, 30_000, async () => {
      const r = await c.server.kubectl(['exec', 'client-a', '--', 'wget', '-qO-', url], { timeoutMs: 20_000 });
      return r.code === 0 ? plainIPv4(r.stdout) : undefined;
    }, () => c.explain());
    assert.equal(seen, client.status?.podIP, 'source address preserved across nodes (no NAT)');
    // a gVisor exec under ptrace is slow: more attempts; nc, not wget (see ncGet)
    const attempts: string[] = [];
    const seenG = await waitUntil(`gVisor pod on A reaches ${url}`, 90_000, async () => {
      const t0 = Date.now();
      const r = await c.server.kubectl(['exec', 'client-a-gvisor', '--', ...ncGet(echo.status?.podIP ?? '', 8080, '/cgi-bin/ip')], { timeoutMs: 20_000 });
      const line = r.code === 0 ? httpLastLine(r.stdout) : undefined;
      attempts.push(`exit ${r.code} after ${Date.now() - t0} ms: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
      return line === undefined ? undefined : plainIPv4(line);
    }, () => `attempts:\n${attempts.join('\n')}\n${c.explain()}`);
    assert.equal(seenG, clientG.status?.podIP);
  });

  it('with the cloud unreachable, a restarted node A keeps its overlay and its pods still reach B', async () => {
    const hostA = c.host('a');
    const before = await hostJson<IpRoute[]>(hostA, 'ip', ['-j', 'route', 'show', 'proto', '104']);
    const echo = (await c.server.api('GET', '/api/v1/namespaces/default/pods/echo-b')).body as Pod;
    // the gateway's MAC, which A's pods hold in their neighbour tables
    const gatewayMac = async (): Promise<string | undefined> => (await hostJson<{ address: string }[]>(hostA, 'ip', ['-j', 'link', 'show', 'dev', c.node('a').bridge]))[0]?.address;
    const macBefore = await gatewayMac();
    const clientIP = ((await c.server.api('GET', '/api/v1/namespaces/default/pods/client-a')).body as Pod).status?.podIP;
    await c.underlay.cutCloud(hostA);
    try {
      await c.node('a').stop();
      await c.node('a').start();
      assert.deepEqual(await hostJson<IpRoute[]>(hostA, 'ip', ['-j', 'route', 'show', 'proto', '104']), before);
      // the pod on A, entered from its host (kubectl exec needs the cloud): busybox in the netns
      // holding client-a's address (not one of the networks the node keeps made for its next pods)
      let ns: string | undefined;
      for (const n of await readdir(c.node('a').netnsDir)) {
        const addrs = await run('nsenter', [`--net=${c.node('a').netnsDir}/${n}`, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
        if (addrs.stdout.includes(` ${clientIP}/`)) ns = n;
      }
      assert.ok(ns, `client-a's netns (${clientIP}) on A`);
      const r = await run('nsenter', [`--net=${c.node('a').netnsDir}/${ns}`, 'busybox', 'wget', '-qO-', `http://${echo.status?.podIP}:8080/cgi-bin/ip`], { timeoutMs: 20_000 });
      const neigh = async (): Promise<string> => (await run('nsenter', [`--net=${c.node('a').netnsDir}/${ns}`, 'ip', 'neigh'])).stdout;
      assert.equal(r.code, 0, `${r.stderr}\nclient-a's neighbours:\n${r.code === 0 ? '' : await neigh()}gateway MAC ${await gatewayMac()} (before the restart ${macBefore})`);
      assert.match(plainIPv4(r.stdout), /^10\.244\.\d+\.\d+$/);
      assert.deepEqual(await hostJson<IpRoute[]>(hostA, 'ip', ['-j', 'route', 'show', 'proto', '104']), before, 'nothing removed while offline');
      // the pooled networks freed at the stop and made at the start came and went as bridge ports:
      // the bridge keeps its MAC (it used to follow its lowest port's, and the pods' gateway entry went stale)
      await waitUntil('a full pool on A', 30_000, async () => ((await pooledNetworks(c.node('a').dataDir)).filter((p) => !p.making).length >= 2 ? true : undefined), () => c.explain());
      assert.equal(await gatewayMac(), macBefore);
    } finally {
      await c.underlay.healCloud(hostA);
    }
  });

  it("deleting B's Node removes A's route, neighbour and FDB entry for it", async () => {
    const hostA = c.host('a');
    const nodeB = c.node('b').nodeName;
    const bCIDR = (await getNode(nodeB)).spec?.podCIDR ?? '';
    await c.node('b').stop();
    await kubectl(['delete', 'pod', 'echo-b', '--force', '--grace-period=0', '--wait=false']);
    await kubectl(['delete', 'node', nodeB]);
    await waitUntil("B's entries gone from A", 30_000, async () => {
      const routes = await hostJson<IpRoute[]>(hostA, 'ip', ['-j', 'route', 'show', 'proto', '104']);
      const fdb = await hostJson<{ dst?: string }[]>(hostA, 'bridge', ['-j', 'fdb', 'show', 'dev', 'hedge.1']);
      const neigh = await hostJson<unknown[]>(hostA, 'ip', ['-j', 'neigh', 'show', 'dev', 'hedge.1', 'nud', 'permanent']);
      return !routes.some((r) => r.dst === bCIDR) && !fdb.some((f) => f.dst) && neigh.length === 0 ? true : undefined;
    }, () => c.explain());
  });

  it('tear-down leaves no namespaces, links, routes or FDB entries', async () => {
    await c.close();
    await assertHostsGone(c, names);
  });
});
