/**
 * Dual-stack with `--overlay host-gw` (dual-stack.test.ts covers vxlan): two hosts whose underlay
 * has IPv6 addresses too (two-hosts.ts, `underlayIPv6`). Each node publishes its IPv6 underlay
 * address (`hedge.io/overlay-public-ipv6`) and routes the other's IPv6 podCIDR via it, so a pod
 * on A reaches a pod on B by its IPv6 address with no encapsulation, and B sees A's pod's own
 * address. Tear-down leaves no namespace, link or route of either family.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { findKubectl, run } from './harness.ts';
import { edgeNodeSkipReason } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';
import { assertHostsGone, clusterOps, ECHO_IP, hostJson, httpLastLine, ncGet, pinnedPod, startHostCluster, type HostCluster, type IpRoute } from './two-hosts.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/sbin/nft', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');
const CLUSTER_CIDR = '10.244.0.0/16,fd00:10:244::/56';

const v6Of = (p: Pod): string | undefined => p.status?.podIPs?.find((x) => x.ip?.includes(':'))?.ip;

describe('dual-stack pod networking with --overlay host-gw', { skip, timeout: 300_000 }, () => {
  let c: HostCluster;
  let names: { netns: string[]; rootLinks: string[] };
  before(async () => {
    c = await startHostCluster({ hosts: ['a', 'b'], runtimes: ['runc'], underlayIPv6: true, serverArgs: ['--cluster-cidr', CLUSTER_CIDR], nodeArgs: ['--cluster-cidr', CLUSTER_CIDR, '--overlay', 'host-gw'] });
    names = c.underlay.names();
  });
  after(async () => {
    await c?.close();
  });
  const { kubectl, getNode, running } = clusterOps(() => c);

  it("each node routes the other's IPv6 podCIDR via its IPv6 underlay address; a pod on A reaches a pod on B by IPv6, unmasqueraded", async () => {
    const [nodeA, nodeB] = [c.node('a').nodeName, c.node('b').nodeName];
    const nB = await getNode(nodeB);
    assert.equal(nB.metadata?.annotations?.['hedge.io/overlay-public-ipv6'], c.host('b').ip6);
    const b6 = nB.spec?.podCIDRs?.[1] ?? '';
    await waitUntil("A's IPv6 route to B's pods", 30_000, async () => {
      const routes = await hostJson<IpRoute[]>(c.host('a'), 'ip', ['-6', '-j', 'route', 'show', 'proto', '104']);
      return routes.some((r) => r.dst === b6 && r.gateway === c.host('b').ip6 && r.dev === 'eth0') ? true : undefined;
    }, () => c.explain());

    await kubectl(['apply', '-f', '-'], pinnedPod('echo-b', nodeB, ECHO_IP));
    await kubectl(['apply', '-f', '-'], pinnedPod('client-a', nodeA, 'exec sleep 3600'));
    const [echo, client] = await Promise.all([running('echo-b'), running('client-a')]);
    const attempts: string[] = [];
    const seen = await waitUntil('client-a reaches echo-b over IPv6', 60_000, async () => {
      const r = await c.server.kubectl(['exec', 'client-a', '--', ...ncGet(v6Of(echo) ?? '', 8080, '/cgi-bin/ip')], { timeoutMs: 20_000 });
      attempts.push(`exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
      return r.code === 0 ? httpLastLine(r.stdout) : undefined;
    }, () => `attempts:\n${attempts.join('\n')}\n${c.explain()}`);
    assert.equal(seen?.replace(/^\[|\]$/g, ''), v6Of(client), "B sees A's pod's own IPv6 address");
    // no vxlan device: the packets took the underlay's IPv6 route
    assert.notEqual((await c.host('a').exec('ip', ['link', 'show', 'dev', 'hedge.1'])).code, 0);
  });

  it('tear-down leaves no namespaces, links or routes of either family', async () => {
    await c.close();
    await assertHostsGone(c, names);
    const r6 = await run('ip', ['-6', '-j', 'route', 'show', 'proto', '104']);
    assert.equal(r6.stdout.trim() === '' || r6.stdout.trim() === '[]', true, `IPv6 overlay routes in the root namespace: ${r6.stdout}`);
  });
});
